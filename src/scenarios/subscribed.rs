//! Scenario `subscribed-refuses`: once a RESP2 connection has sent SUBSCRIBE, it is a
//! subscriber and nothing else: the server refuses GET on it with an error, until the
//! connection unsubscribes from its last channel. That is why an application keeps one
//! connection for Pub/Sub and others for its commands.
//!
//! The scenario opens a dedicated plain connection (as the learner's ACL user on the managed
//! server) and sends, one at a time and each after the fence admitted it: SET of a namespace
//! key, SUBSCRIBE to a namespace channel, GET (refused), UNSUBSCRIBE, GET (answered), DEL. On
//! a cluster, the connection is opened on the node that owns the key (the SET's MOVED reply
//! names it), so the GET's answer is about the subscription, never a redirection. Then a
//! second connection, logged in with HELLO 3, subscribes and sends the same GET: under RESP3
//! a subscribed connection answers it, its messages arriving as pushes.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use redis::Value;

use super::params::{Param, WAIT_ONLY, WaitOnly};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::cluster::Node;
use crate::redis::connect::{Rights, Server};
use crate::redis::fence::RawConn;
use crate::redis::render::{printable, render};

pub struct SubscribedRefuses;

impl Scenario for SubscribedRefuses {
    const NAME: &'static str = "subscribed-refuses";
    const SUMMARY: &'static str = "a subscribed connection refuses GET until it unsubscribes: Pub/Sub needs its own connection";
    const PARAMS: &'static [Param] = WAIT_ONLY;
    type Params = WaitOnly;

    async fn run(ctx: &ScenarioContext<'_>, p: WaitOnly) -> Result<ScenarioReport> {
        let key = ctx.key("subscribed:greeting");
        let channel = ctx.key("subscribed:news");
        let script: Vec<Vec<Vec<u8>>> = vec![
            words(&["SET", &key, "hello"]),
            words(&["SUBSCRIBE", &channel]),
            words(&["GET", &key]),
            words(&["UNSUBSCRIBE", &channel]),
            words(&["GET", &key]),
        ];
        // The same subscription on a connection that logged in with HELLO 3.
        let resp3: Vec<Vec<Vec<u8>>> = vec![
            words(&["SUBSCRIBE", &channel]),
            words(&["GET", &key]),
            words(&["UNSUBSCRIBE", &channel]),
        ];
        let clean_up = words(&["DEL", &key]);
        ctx.ticker.message("subscribing on a connection of its own");
        let wait = p.wait();
        let (mut conn, node, replies) = converse(ctx.server, &script, wait).await?;
        let mut resp3_replies = Vec::new();
        let mut con3 = ctx
            .server
            .raw_connection(Rights::Learner, node.as_ref(), wait, true)
            .await
            .context("could not open a RESP3 connection")?;
        for args in &resp3 {
            resp3_replies.push(exchange(&mut con3, args, wait).await?);
        }
        exchange(&mut conn, &clean_up, wait).await?;
        let lines = |s: &[Vec<Vec<u8>>]| -> Vec<String> {
            s.iter()
                .map(|a| crate::redis::tokenize::display_args(a))
                .collect()
        };
        let mut report = report(&lines(&script), &replies);
        resp3_rows(&mut report, &lines(&resp3), &resp3_replies);
        Ok(report)
    }
}

fn words(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// One reply per command of `script`: every SUBSCRIBE and UNSUBSCRIBE confirmation is read
/// before the next command goes out. Also the connection, still open, and its node.
async fn converse(
    server: &Server,
    script: &[Vec<Vec<u8>>],
    wait: Duration,
) -> Result<(RawConn, Option<Node>, Vec<Value>)> {
    let (first, rest) = script.split_first().context("nothing to send")?;
    let (mut conn, node, first_reply) = on_owner(server, first, wait).await?;
    let mut replies = vec![first_reply];
    for args in rest {
        replies.push(exchange(&mut conn, args, wait).await?);
    }
    Ok((conn, node, replies))
}

/// Under RESP3 a subscribed connection runs any command: its messages come as pushes, apart
/// from replies, so GET is answered while the subscription holds.
fn resp3_rows(report: &mut ScenarioReport, lines: &[String], replies: &[Value]) {
    let answered = matches!(replies.get(1), Some(Value::BulkString(b)) if b == b"hello");
    let states = ["RESP3 → subscribed", "RESP3, subscribed", "RESP3 → normal"];
    for (i, state) in states.iter().enumerate() {
        report.rows.push(vec![
            lines.get(i).cloned().unwrap_or_default(),
            state.to_string(),
            replies.get(i).map(one_line).unwrap_or_default(),
        ]);
    }
    report
        .metrics
        .insert("resp3_get_answered".into(), f64::from(u8::from(answered)));
    report.notes.push(if answered {
        "On a connection that logged in with HELLO 3 (RESP3), the same GET was answered while subscribed: messages arrive as pushes, apart from replies.".into()
    } else {
        "On a RESP3 connection the GET was not answered while subscribed.".into()
    });
}

/// A learner's connection on the node that answers `first` itself (on a cluster, the one its
/// MOVED reply names; anywhere else, the server the URL names), that node, and the answer.
pub(super) async fn on_owner(
    server: &Server,
    first: &[Vec<u8>],
    wait: Duration,
) -> Result<(RawConn, Option<Node>, Value)> {
    let mut node: Option<Node> = None;
    for _ in 0..3 {
        let mut conn = server
            .raw_connection(Rights::Learner, node.as_ref(), wait, false)
            .await
            .context("could not open the subscriber's connection")?;
        let reply = exchange(&mut conn, first, wait).await?;
        let moved = match &reply {
            Value::ServerError(e) if e.code() == "MOVED" => e.details().map(str::to_string),
            _ => None,
        };
        let Some(to) = moved else {
            return Ok((conn, node, reply));
        };
        node = Some(redirected(&to)?);
    }
    bail!("the cluster kept redirecting the subscriber's connection")
}

/// `MOVED 1234 10.0.0.2:7001`'s details (`1234 10.0.0.2:7001`) as the node to use.
fn redirected(details: &str) -> Result<Node> {
    let target = details
        .split_whitespace()
        .nth(1)
        .context("a MOVED reply without an address")?;
    let (host, port) = target
        .rsplit_once(':')
        .context("a MOVED address without a port")?;
    let port: u16 = port.parse().context("a MOVED address with a bad port")?;
    Ok((host.to_string(), port))
}

/// Sends one command and reads its one reply.
async fn exchange(conn: &mut RawConn, args: &[Vec<u8>], wait: Duration) -> Result<Value> {
    let sent = conn.send(args).await;
    let reply = match sent {
        Ok(()) => conn.next(wait).await,
        Err(e) => Err(e),
    };
    reply.with_context(|| {
        format!(
            "no reply to {} within {} ms",
            printable(&args[0]),
            wait.as_millis()
        )
    })
}

fn error_of(v: &Value) -> Option<String> {
    match v {
        Value::ServerError(e) => Some(crate::redis::render::error_text(e.code(), e.details())),
        _ => None,
    }
}

/// A reply on one line: an array's items side by side.
fn one_line(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| format!("{}) {}", i + 1, render(item).trim_end()))
            .collect::<Vec<_>>()
            .join(" "),
        other => render(other).trim_end().to_string(),
    }
}

fn report(lines: &[String], replies: &[Value]) -> ScenarioReport {
    let refused_text = replies.get(2).and_then(error_of);
    let get_refused = refused_text.is_some();
    let get_after = matches!(replies.get(4), Some(Value::BulkString(b)) if b == b"hello");
    let states = [
        "normal",
        "normal → subscribed",
        "subscribed",
        "subscribed → normal",
        "normal",
    ];
    let rows = states
        .iter()
        .enumerate()
        .map(|(i, state)| {
            vec![
                lines.get(i).cloned().unwrap_or_default(),
                state.to_string(),
                replies.get(i).map(one_line).unwrap_or_default(),
            ]
        })
        .collect();
    let mut report = ScenarioReport {
        header: vec!["command".into(), "connection".into(), "reply".into()],
        rows,
        ..Default::default()
    };
    report
        .metrics
        .insert("get_refused".into(), f64::from(u8::from(get_refused)));
    report.metrics.insert(
        "get_after_unsubscribe".into(),
        f64::from(u8::from(get_after)),
    );
    report.notes.push(match &refused_text {
        Some(t) => format!(
            "While subscribed, the server refused GET: {}",
            printable(t.as_bytes())
        ),
        None => "While subscribed, the server answered GET: this server lets a subscribed connection run commands.".into(),
    });
    report.notes.push(if get_after {
        "After UNSUBSCRIBE from its last channel, the same connection answered GET again.".into()
    } else {
        "After UNSUBSCRIBE, GET still did not answer with the value.".into()
    });
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_reply_names_the_node() {
        assert_eq!(
            redirected("10049 127.0.0.1:7001").ok(),
            Some(("127.0.0.1".to_string(), 7001))
        );
        assert!(redirected("10049").is_err());
        assert!(redirected("10049 host-without-port").is_err());
    }
}
