//! Scenario `persistence`: what a crash leaves of acknowledged writes under each persistence
//! mode. A write Redis acknowledged lives in memory; it survives a crash only if it reached the
//! data directory first. An RDB snapshot holds the data as it was when the snapshot was taken;
//! the append-only file (AOF) logs every write, and `appendfsync` decides when the log is
//! forced to disk: `always` before each reply, `everysec` once a second.
//!
//! Each mode runs on a private server of its own (see `private`) with a fresh data directory:
//! `writes` acknowledged SETs (under RDB, a snapshot is taken halfway and waited for, as a
//! `save` rule would take one), then the server is killed with SIGKILL, as a crash would, and
//! started again on the same directory; the keys that came back are counted. SIGKILL ends the
//! process, not the machine: what the server had handed to the operating system stays in its
//! page cache even without an fsync, so this step shows what a process crash loses, not what a
//! power cut would.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::private::{Private, args};
use super::{Scenario, ScenarioContext, ScenarioReport};

/// The modes, in the order they run.
const MODES: &[(&str, &str)] = &[
    ("rdb", "RDB snapshot (taken halfway)"),
    ("aof_everysec", "AOF, appendfsync everysec"),
    ("aof_always", "AOF, appendfsync always"),
];
/// How long a snapshot may take.
const SNAPSHOT_BOUND: Duration = Duration::from_secs(30);
/// Keys per EXISTS.
const BATCH: usize = 1000;

pub struct Persistence;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub writes: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { writes: 1000 }
    }
}

impl Scenario for Persistence {
    const NAME: &'static str = "persistence";
    const SUMMARY: &'static str = "acknowledged writes, kill -9 of the server, restart on the same data: what survives under RDB, AOF everysec and AOF always";
    const PARAMS: &'static [Param] = &[int(
        "writes",
        10,
        20_000,
        "acknowledged SETs before the crash, under each mode",
    )];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let mut found = Vec::new();
        let mut program = String::new();
        ctx.ticker
            .start(p.writes * MODES.len() as u64, "writes, a crash, a restart");
        for (mode, _) in MODES {
            let dir = tempfile::tempdir().context("could not make a data directory")?;
            let path = dir
                .path()
                .to_str()
                .context("the data directory's path is not UTF-8")?
                .to_string();
            let (appendonly, fsync) = match *mode {
                "rdb" => ("no", "everysec"),
                "aof_everysec" => ("yes", "everysec"),
                _ => ("yes", "always"),
            };
            let settings = [
                "--dir",
                path.as_str(),
                "--save",
                "",
                "--appendonly",
                appendonly,
                "--appendfsync",
                fsync,
            ];
            let mut s = match Private::start_with(ctx, &settings).await? {
                Ok(s) => s,
                Err(why) => {
                    return Ok(ScenarioReport {
                        skipped: Some(why),
                        ..Default::default()
                    });
                }
            };
            ctx.ticker.message(&format!("{mode}: writes, then kill -9"));
            let (survived, delayed) = crash(&mut s, ctx, &p, *mode == "rdb").await?;
            program = s.program.clone();
            // The server stops before its data directory goes.
            drop(s);
            drop(dir);
            found.push((*mode, survived, delayed));
        }
        Ok(report(&p, &found, &program))
    }
}

/// Writes, (a snapshot halfway), SIGKILL, restart, count. Also gives the server's own count of
/// writes it held back because a background fsync was slow (`aof_delayed_fsync`, read just
/// before the kill; 0 without AOF).
async fn crash(
    s: &mut Private,
    ctx: &ScenarioContext<'_>,
    p: &Params,
    snapshot_halfway: bool,
) -> Result<(u64, u64)> {
    let keys: Vec<String> = (0..p.writes)
        .map(|i| ctx.key(&format!("ops:durable:{i}")))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        if snapshot_halfway && i as u64 == p.writes / 2 {
            snapshot(s).await?;
        }
        let set = vec![b"SET".to_vec(), key.clone().into_bytes(), b"x".to_vec()];
        match s.send(&set).await? {
            Value::Okay => {}
            Value::SimpleString(ok) if ok == "OK" => {}
            other => bail!("SET on the private server replied {other:?}"),
        }
        ctx.ticker.tick(1);
    }
    // INFO lists the AOF fields only where AOF is on; the RDB mode runs without it.
    let delayed = match snapshot_halfway {
        true => 0,
        false => s.info("persistence", "aof_delayed_fsync").await?,
    };
    s.crash_and_restart().await?;
    let mut survived = 0;
    for chunk in keys.chunks(BATCH) {
        let mut cmd = vec![b"EXISTS".to_vec()];
        cmd.extend(chunk.iter().map(|k| k.clone().into_bytes()));
        match s.send(&cmd).await? {
            Value::Int(n) => survived += n.max(0) as u64,
            other => bail!("EXISTS replied {other:?}"),
        }
    }
    Ok((survived, delayed))
}

/// BGSAVE, then waits until the snapshot is on disk.
async fn snapshot(s: &mut Private) -> Result<()> {
    let before = s.info("persistence", "rdb_last_save_time").await?;
    s.send(&args(&[b"BGSAVE"])).await?;
    let began = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let busy = s.info("persistence", "rdb_bgsave_in_progress").await?;
        let saved = s.info("persistence", "rdb_last_save_time").await?;
        if busy == 0 && (saved > before || began.elapsed() > Duration::from_secs(1)) {
            let text = s.info_text("persistence").await?;
            if !text.contains("rdb_last_bgsave_status:ok") {
                bail!("the private server's snapshot failed");
            }
            return Ok(());
        }
        if began.elapsed() > SNAPSHOT_BOUND {
            bail!("the private server's snapshot took more than {SNAPSHOT_BOUND:?}");
        }
    }
}

fn report(p: &Params, found: &[(&str, u64, u64)], program: &str) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "persistence".into(),
            "writes acknowledged".into(),
            "back after kill -9".into(),
            "lost".into(),
        ],
        ..Default::default()
    };
    for (mode, survived, delayed) in found {
        let label = MODES
            .iter()
            .find(|(m, _)| m == mode)
            .map(|(_, l)| *l)
            .unwrap_or(mode);
        let lost = p.writes.saturating_sub(*survived);
        report.rows.push(vec![
            label.to_string(),
            p.writes.to_string(),
            survived.to_string(),
            lost.to_string(),
        ]);
        report
            .metrics
            .insert(format!("{mode}_survived"), *survived as f64);
        report.metrics.insert(format!("{mode}_lost"), lost as f64);
        report
            .metrics
            .insert(format!("{mode}_delayed_fsync"), *delayed as f64);
        if *mode == "aof_everysec" {
            report.notes.push(format!(
                "Before the kill, INFO persistence on the everysec server said aof_delayed_fsync:{delayed}: the times it held writes back in memory because a background fsync was still running."
            ));
        }
    }
    report.metrics.insert("writes".into(), p.writes as f64);
    report.notes.push(format!(
        "Each mode ran on a private {program} with a data directory of its own, killed with SIGKILL and started again on that directory; your server was never touched."
    ));
    let said: Vec<String> = found
        .iter()
        .map(|(mode, n, _)| format!("{mode} {n} of {}", p.writes))
        .collect();
    report.notes.push(format!(
        "Back after the crash: {}. A process crash only loses what never left the server's memory; a power cut can also lose what the operating system had not yet written to the disk, which is what appendfsync decides.",
        said.join(", ")
    ));
    report
}
