//! Scenario `client-tracking`: client-side caching with server-assisted invalidation (Redis 6
//! and later, Valkey). An application connection speaking RESP3 turns on `CLIENT TRACKING` and
//! reads a key, keeping the value in its own memory. Another client then writes a key the
//! application never read, and then the key it did read. The server pushes one `invalidate`
//! message to the application, naming only the key it read: it tracks what each connection read,
//! and pushes arrive in order, so the first push naming the read key and not the other is the
//! proof. The application drops its copy and reads the new value. Both keys share a hash tag, so
//! on a cluster one master serves them and tracks the reader.

use anyhow::{Context, Result};
use redis::{PushKind, Value};

use super::blocking_pop::{exchange, on_owner, words};
use super::params::{Param, WAIT_ONLY, WaitOnly};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::connect::Rights;
use crate::redis::render::printable;

pub struct ClientTracking;

impl Scenario for ClientTracking {
    const NAME: &'static str = "client-tracking";
    const SUMMARY: &'static str = "CLIENT TRACKING on a RESP3 connection: the server pushes an invalidation for a key the connection read, when another client writes it, and for no other key";
    const PARAMS: &'static [Param] = WAIT_ONLY;
    type Params = WaitOnly;

    async fn run(ctx: &ScenarioContext<'_>, p: WaitOnly) -> Result<ScenarioReport> {
        let wait = p.wait();
        let read = ctx.key("shop:{tracked}:product:1");
        let unread = ctx.key("shop:{tracked}:product:2");
        ctx.ticker
            .message("an application caches a key it read, with CLIENT TRACKING on");
        // The writer lands on the node that owns the keys (a cluster's MOVED is followed).
        let (mut writer, node, _) =
            on_owner(ctx.server, &words(&["SET", &read, "price=10"]), wait).await?;
        exchange(&mut writer, &words(&["SET", &unread, "price=20"]), wait).await?;
        let mut app = ctx
            .server
            .raw_connection(Rights::Learner, node.as_ref(), wait, true)
            .await
            .context("could not open the application's RESP3 connection")?;
        let mut rows = Vec::new();
        let mut step = |who: &str, line: &str, reply: String| {
            rows.push(vec![who.to_string(), line.to_string(), reply]);
        };
        let on = exchange(&mut app, &words(&["CLIENT", "TRACKING", "ON"]), wait).await?;
        step("application", "CLIENT TRACKING ON", shown(&on));
        let first = exchange(&mut app, &words(&["GET", &read]), wait).await?;
        step("application", &format!("GET {read}"), shown(&first));
        let other = exchange(&mut writer, &words(&["SET", &unread, "price=21"]), wait).await?;
        step(
            "other client",
            &format!("SET {unread} price=21"),
            shown(&other),
        );
        let write = exchange(&mut writer, &words(&["SET", &read, "price=11"]), wait).await?;
        step(
            "other client",
            &format!("SET {read} price=11"),
            shown(&write),
        );
        // The next thing the application receives: the server's push.
        let push = app
            .next(wait)
            .await
            .context("no invalidation message reached the application")?;
        let named = invalidated(&push);
        step(
            "application",
            "(receives)",
            format!(
                "invalidate [{}]",
                named
                    .iter()
                    .map(|k| printable(k).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let again = exchange(&mut app, &words(&["GET", &read]), wait).await?;
        step("application", &format!("GET {read}"), shown(&again));
        exchange(&mut writer, &words(&["DEL", &read, &unread]), wait).await?;

        let tracking_on =
            matches!(&on, Value::Okay) || matches!(&on, Value::SimpleString(s) if s == "OK");
        let names_read = named.iter().any(|k| k.as_slice() == read.as_bytes());
        let names_unread = named.iter().any(|k| k.as_slice() == unread.as_bytes());
        let refetched = matches!(&again, Value::BulkString(b) if b == b"price=11");
        let mut report = ScenarioReport {
            header: vec!["who".into(), "command".into(), "reply".into()],
            rows,
            ..Default::default()
        };
        let m = &mut report.metrics;
        m.insert("tracking_on".into(), f64::from(u8::from(tracking_on)));
        m.insert(
            "invalidated_read_key".into(),
            f64::from(u8::from(names_read)),
        );
        m.insert(
            "invalidated_unread_key".into(),
            f64::from(u8::from(names_unread)),
        );
        m.insert("refetched_new_value".into(), f64::from(u8::from(refetched)));
        report.notes.push(if names_read && !names_unread {
            format!(
                "The server pushed one invalidation, naming {read} only: the application had read it, and had never read {unread}, whose write came first."
            )
        } else {
            format!(
                "The first push named {}: not the one key the application read.",
                named
                    .iter()
                    .map(|k| printable(k).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        report.notes.push(
            "The application drops its copy when the push arrives and reads the new value: no TTL guess, no stale read after the write. A connection that drops loses its pushes, so the cache must be emptied on reconnect.".into(),
        );
        Ok(report)
    }
}

/// The keys an `invalidate` push names (none for anything else).
fn invalidated(v: &Value) -> Vec<Vec<u8>> {
    let Value::Push {
        kind: PushKind::Invalidate,
        data,
    } = v
    else {
        return Vec::new();
    };
    data.iter()
        .flat_map(|d| match d {
            Value::Array(keys) => keys.clone(),
            other => vec![other.clone()],
        })
        .filter_map(|k| match k {
            Value::BulkString(b) => Some(b),
            _ => None,
        })
        .collect()
}

/// A reply as redis-cli would show it, on one line.
fn shown(v: &Value) -> String {
    crate::redis::render::render(v)
        .trim_end()
        .replace('\n', " ")
}
