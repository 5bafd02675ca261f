//! Scenario `encoding-threshold`: a small hash is a listpack (one compact block, searched end to
//! end); past `hash-max-listpack-entries` fields Redis converts it to a hashtable, and never
//! back. The threshold is a server setting whose default differs from one build and config
//! file to the next (512 built in, 128 in the sample redis.conf), so it is read with CONFIG
//! GET, never assumed.
//!
//! On a private server (see `private`), so the learner's server and its settings do not
//! matter: a hash gets exactly the threshold's number of fields, then one more, then that one
//! is deleted again; OBJECT ENCODING and MEMORY USAGE are read at each point.

use anyhow::{Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::private::{Private, args};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::render::printable_str;

/// Fields per HSET.
const BATCH: u64 = 500;
/// The most fields this step writes (a server whose threshold is higher is reported as such).
const MAX_FIELDS: u64 = 100_000;

pub struct EncodingThreshold;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub value_bytes: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { value_bytes: 8 }
    }
}

impl Scenario for EncodingThreshold {
    const NAME: &'static str = "encoding-threshold";
    const SUMMARY: &'static str = "a hash is a listpack up to hash-max-listpack-entries fields (read with CONFIG GET), a hashtable past it, and stays one";
    const PARAMS: &'static [Param] = &[int(
        "value_bytes",
        1,
        64,
        "the size of each field's value (at most 64, the usual hash-max-listpack-value)",
    )];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let mut s = match Private::start(ctx).await? {
            Ok(s) => s,
            Err(why) => {
                return Ok(ScenarioReport {
                    skipped: Some(why),
                    ..Default::default()
                });
            }
        };
        let found = play(&mut s, ctx, &p).await?;
        let program = s.program.clone();
        drop(s);
        Ok(report(&found, &program))
    }
}

/// One look at the hash: its field count, encoding and memory.
struct Look {
    label: String,
    fields: u64,
    encoding: String,
    bytes: u64,
}

struct Found {
    threshold: u64,
    looks: Vec<Look>,
}

async fn play(s: &mut Private, ctx: &ScenarioContext<'_>, p: &Params) -> Result<Found> {
    let threshold = match s
        .send(&args(&[b"CONFIG", b"GET", b"hash-max-listpack-entries"]))
        .await?
    {
        Value::Array(v) => match v.as_slice() {
            [_, Value::BulkString(n)] => String::from_utf8_lossy(n).trim().parse::<u64>().ok(),
            _ => None,
        },
        Value::Map(v) => v.first().and_then(|(_, n)| match n {
            Value::BulkString(n) => String::from_utf8_lossy(n).trim().parse::<u64>().ok(),
            _ => None,
        }),
        _ => None,
    };
    let Some(threshold) = threshold else {
        bail!("the private server has no hash-max-listpack-entries setting");
    };
    if threshold == 0 || threshold >= MAX_FIELDS {
        bail!(
            "the private server's hash-max-listpack-entries is {threshold}: this step writes between 1 and {MAX_FIELDS} fields"
        );
    }
    let key = ctx.key("ops:encoding:prefs");
    let value = vec![b'v'; p.value_bytes as usize];
    ctx.ticker
        .start(threshold.div_ceil(BATCH) + 4, "writing the hash");
    s.send(&[b"DEL".to_vec(), key.clone().into_bytes()]).await?;
    let mut i = 0;
    while i < threshold {
        let end = (i + BATCH).min(threshold);
        let mut hset = vec![b"HSET".to_vec(), key.clone().into_bytes()];
        for f in i..end {
            hset.push(format!("f{}", f + 1).into_bytes());
            hset.push(value.clone());
        }
        s.send(&hset).await?;
        ctx.ticker.tick(1);
        i = end;
    }
    let mut looks = vec![look(s, &key, format!("{threshold} fields (the threshold)")).await?];
    let extra = format!("f{}", threshold + 1);
    s.send(&[
        b"HSET".to_vec(),
        key.clone().into_bytes(),
        extra.clone().into_bytes(),
        value.clone(),
    ])
    .await?;
    looks.push(look(s, &key, format!("{} fields (one more)", threshold + 1)).await?);
    s.send(&[
        b"HDEL".to_vec(),
        key.clone().into_bytes(),
        extra.into_bytes(),
    ])
    .await?;
    looks.push(look(s, &key, format!("{threshold} fields again (HDEL)")).await?);
    s.send(&[b"DEL".to_vec(), key.into_bytes()]).await?;
    Ok(Found { threshold, looks })
}

async fn look(s: &mut Private, key: &str, label: String) -> Result<Look> {
    let k = key.as_bytes();
    let fields = match s.send(&args(&[b"HLEN", k])).await? {
        Value::Int(n) => n.max(0) as u64,
        other => bail!("HLEN replied {other:?}"),
    };
    let encoding = match s.send(&args(&[b"OBJECT", b"ENCODING", k])).await? {
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::SimpleString(t) => t,
        other => bail!("OBJECT ENCODING replied {other:?}"),
    };
    let bytes = match s.send(&args(&[b"MEMORY", b"USAGE", k])).await? {
        Value::Int(n) => n.max(0) as u64,
        other => bail!("MEMORY USAGE replied {other:?}"),
    };
    Ok(Look {
        label,
        fields,
        encoding,
        bytes,
    })
}

fn report(f: &Found, program: &str) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "the hash".into(),
            "HLEN".into(),
            "OBJECT ENCODING".into(),
            "MEMORY USAGE".into(),
        ],
        ..Default::default()
    };
    for l in &f.looks {
        report.rows.push(vec![
            l.label.clone(),
            l.fields.to_string(),
            printable_str(&l.encoding).into_owned(),
            format!("{} bytes", l.bytes),
        ]);
    }
    let enc = |i: usize| f.looks.get(i).map(|l| l.encoding.as_str()).unwrap_or("");
    let bytes = |i: usize| f.looks.get(i).map(|l| l.bytes).unwrap_or(0) as f64;
    let m = &mut report.metrics;
    m.insert("threshold".into(), f.threshold as f64);
    m.insert(
        "at_threshold_listpack".into(),
        f64::from(u8::from(enc(0) == "listpack")),
    );
    m.insert(
        "past_threshold_hashtable".into(),
        f64::from(u8::from(enc(1) == "hashtable")),
    );
    m.insert(
        "hashtable_after_hdel".into(),
        f64::from(u8::from(enc(2) == "hashtable")),
    );
    m.insert("bytes_at_threshold".into(), bytes(0));
    m.insert("bytes_past_threshold".into(), bytes(1));
    m.insert(
        "hashtable_vs_listpack_bytes".into(),
        bytes(1) / bytes(0).max(1.0),
    );
    report.notes.push(format!(
        "On a private {program}, never on your server: CONFIG GET hash-max-listpack-entries said {}.",
        f.threshold
    ));
    report.notes.push(format!(
        "One field more took the hash from {} to {} and from {} to {} bytes; deleting that field again left it {}.",
        printable_str(enc(0)),
        printable_str(enc(1)),
        bytes(0),
        bytes(1),
        printable_str(enc(2))
    ));
    report
}
