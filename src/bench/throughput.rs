//! `bench --throughput`: GET requests per second from C connections, P commands per pipeline,
//! comparable with `redis-benchmark -t get -c C -P P -n N`.
//!
//! Lean on purpose, like redis-benchmark: one single-threaded event loop, one task per client,
//! the pipeline's bytes packed once, replies counted in place with no per-reply allocation.
//! TLS falls back to the redis crate's pipelines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redis::{ConnectionAddr, RedisError};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Cancel, interrupted};
use crate::error;
use crate::measure::stats::{Recorder, Stats};
use crate::redis::connect::{Server, command_error};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputOptions {
    pub clients: usize,
    pub pipeline: usize,
    pub requests: u64,
}

impl Default for ThroughputOptions {
    /// redis-benchmark's defaults: 50 clients, no pipelining, 100,000 requests.
    fn default() -> Self {
        ThroughputOptions {
            clients: 50,
            pipeline: 1,
            requests: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputReport {
    pub server: String,
    pub server_version: String,
    pub clients: usize,
    pub pipeline: usize,
    pub requests: u64,
    /// GET replies received per second, over the wall time of the whole run.
    pub ops_per_sec: f64,
    pub seconds: f64,
    /// Latency of one pipeline round trip (P commands), like redis-benchmark's latency figures.
    pub round_trip: Stats,
    /// "raw" (packed bytes over TCP or a Unix socket) or "redis-crate" (TLS).
    pub transport: String,
    /// The command, for comparison.
    pub compare_with: String,
}

/// Runs the load. Writes one key, `<namespace>:bench:tp`, and deletes it afterwards.
pub async fn run(
    server: &Server,
    namespace: &str,
    opts: ThroughputOptions,
    cancel: Cancel,
    progress: bool,
) -> Result<ThroughputReport> {
    let clients = opts.clients.max(1);
    let pipeline = opts.pipeline.max(1);
    let requests = opts.requests.max(1);
    let key = format!("{}tp", super::redis_side::prefix(namespace));
    let mut conn = server.conn.clone();
    let set: Result<(), RedisError> = redis::cmd("SET")
        .arg(&key)
        .arg("xxx")
        .query_async(&mut conn)
        .await;
    set.map_err(|e| command_error(e, &server.display))?;

    let bar = if progress {
        indicatif::ProgressBar::new(requests)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(crate::term::bench::cell_style());
    bar.set_message(format!("GET · {clients} clients · pipeline {pipeline}"));

    let info = server.client.get_connection_info().clone();
    let done = Arc::new(AtomicU64::new(0));
    let ticker = {
        let done = done.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(done.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let result = match info.addr().clone() {
        ConnectionAddr::Tcp(_, _) | ConnectionAddr::Unix(_) => {
            let setup = setup_commands(&info);
            let block = packed_gets(&key, pipeline);
            let display = server.display.clone();
            let done2 = done.clone();
            let cancel2 = cancel.clone();
            let addr = info.addr().clone();
            // A runtime of its own on one thread: redis-benchmark is one event loop too, and
            // on a small machine a second worker thread would steal the server's core.
            let joined = tokio::task::spawn_blocking(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("could not start the load generator's runtime")?;
                if clients == 1 {
                    // One connection needs no event loop: a blocking socket is two system
                    // calls per round trip and the kernel wakes the reader directly.
                    return blocking_load(
                        &addr, &setup, &block, pipeline, requests, &done2, &cancel2, &display,
                    );
                }
                rt.block_on(raw_load(
                    addr, setup, block, pipeline, clients, requests, done2, cancel2, display,
                ))
            })
            .await;
            match joined {
                Ok(r) => r.map(|(rec, wall)| (rec, wall, "raw")),
                Err(e) => Err(anyhow::anyhow!("the load generator failed: {e}")),
            }
        }
        _ => crate_load(server, &key, pipeline, clients, requests, &done, &cancel)
            .await
            .map(|(rec, wall)| (rec, wall, "redis-crate")),
    };
    ticker.abort();
    bar.finish_and_clear();
    let del: Result<(), RedisError> = redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
    let (rec, wall, transport) = result?;
    del.map_err(|e| command_error(e, &server.display))?;
    // Replies actually received (the last round of a client may be shorter than P).
    let replies = done.load(Ordering::Relaxed);
    let secs = wall.as_secs_f64();
    let mut round_trip = rec.summary_wall(wall);
    round_trip.ops = replies;
    round_trip.ops_per_sec = if secs > 0.0 {
        replies as f64 / secs
    } else {
        0.0
    };
    Ok(ThroughputReport {
        server: server.display.clone(),
        server_version: server.version.clone(),
        clients,
        pipeline,
        requests: replies,
        ops_per_sec: if secs > 0.0 {
            replies as f64 / secs
        } else {
            0.0
        },
        seconds: secs,
        round_trip,
        transport: transport.to_string(),
        compare_with: format!("redis-benchmark -t get -c {clients} -P {pipeline} -n {requests}"),
    })
}

/// AUTH and SELECT, packed, for raw connections.
fn setup_commands(info: &redis::ConnectionInfo) -> Vec<Vec<u8>> {
    let s = info.redis_settings();
    let mut out = Vec::new();
    if let Some(pw) = s.password() {
        let mut c = redis::cmd("AUTH");
        if let Some(u) = s.username() {
            c.arg(u);
        }
        c.arg(pw);
        out.push(c.get_packed_command());
    }
    if s.db() != 0 {
        out.push(redis::cmd("SELECT").arg(s.db()).get_packed_command());
    }
    out
}

fn packed_gets(key: &str, n: usize) -> Vec<u8> {
    let one = redis::cmd("GET").arg(key).get_packed_command();
    one.repeat(n)
}

/// Length of the first complete RESP reply in `buf`, or None if more bytes are needed.
/// Returns the reply's first byte too, so errors can be noticed.
fn reply_len(buf: &[u8]) -> Option<usize> {
    let first = *buf.first()?;
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let header = line_end + 2;
    let num = || -> Option<i64> { std::str::from_utf8(&buf[1..line_end]).ok()?.parse().ok() };
    match first {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(header),
        b'$' | b'!' | b'=' => {
            let n = num()?;
            if n < 0 {
                return Some(header);
            }
            let total = header + n as usize + 2;
            (buf.len() >= total).then_some(total)
        }
        b'*' | b'~' | b'%' | b'>' | b'|' => {
            let n = num()?;
            let items = if first == b'%' || first == b'|' {
                n * 2
            } else {
                n
            };
            let mut pos = header;
            for _ in 0..items.max(0) {
                pos += reply_len(&buf[pos..])?;
            }
            Some(pos)
        }
        // Not RESP: treat it as one line (the caller sees a bad first byte and stops).
        _ => Some(header),
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Stream for T {}

async fn open_raw(addr: &ConnectionAddr) -> std::io::Result<Box<dyn Stream + Send>> {
    match addr {
        ConnectionAddr::Tcp(host, port) => {
            let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            s.set_nodelay(true)?;
            Ok(Box::new(s))
        }
        #[cfg(unix)]
        ConnectionAddr::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        _ => Err(std::io::Error::other("unsupported address")),
    }
}

/// Reads until `want` complete replies are in; returns whether any was an error.
async fn read_replies(
    s: &mut (dyn Stream + Send),
    buf: &mut Vec<u8>,
    filled: &mut usize,
    want: usize,
) -> std::io::Result<Option<String>> {
    let mut pos = 0;
    let mut left = want;
    let mut err = None;
    loop {
        while left > 0 {
            match reply_len(&buf[pos..*filled]) {
                Some(n) => {
                    if buf[pos] == b'-' && err.is_none() {
                        err =
                            Some(String::from_utf8_lossy(&buf[pos + 1..pos + n - 2]).into_owned());
                    } else if !b"+-:$*_,#(!=~%>|".contains(&buf[pos]) {
                        return Err(std::io::Error::other(
                            "the server sent something that is not RESP",
                        ));
                    }
                    pos += n;
                    left -= 1;
                }
                None => break,
            }
        }
        if left == 0 {
            buf.copy_within(pos..*filled, 0);
            *filled -= pos;
            return Ok(err);
        }
        if pos > 0 {
            buf.copy_within(pos..*filled, 0);
            *filled -= pos;
            pos = 0;
        }
        if *filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = s.read(&mut buf[*filled..]).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        *filled += n;
    }
}

#[allow(clippy::too_many_arguments)]
async fn raw_load(
    addr: ConnectionAddr,
    setup: Vec<Vec<u8>>,
    block: Vec<u8>,
    pipeline: usize,
    clients: usize,
    requests: u64,
    done: Arc<AtomicU64>,
    cancel: Cancel,
    display: String,
) -> Result<(Recorder, Duration)> {
    let lost = |e: std::io::Error| {
        error::connection(format!("lost the connection to Redis at {display}: {e}"))
    };
    // Connect everyone first, like redis-benchmark, so the clock measures requests only.
    let mut streams = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut s = open_raw(&addr).await.map_err(|e| {
            error::connection(format!("could not connect to Redis at {display}: {e}"))
        })?;
        let mut buf = vec![0u8; 4096];
        let mut filled = 0;
        for c in &setup {
            s.write_all(c).await.map_err(lost)?;
            if let Some(e) = read_replies(&mut *s, &mut buf, &mut filled, 1)
                .await
                .map_err(lost)?
            {
                return Err(error::connection(format!(
                    "Redis at {display} refused: {e}"
                )));
            }
        }
        streams.push(s);
    }
    let block = Arc::new(block);
    let one = block.len() / pipeline;
    let per_client = requests / clients as u64;
    let extra = requests % clients as u64;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for (ci, mut s) in streams.into_iter().enumerate() {
        let block = block.clone();
        let done = done.clone();
        let cancel = cancel.clone();
        let share = per_client + u64::from((ci as u64) < extra);
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::new(pipeline as u32, 1)?;
            let mut buf = vec![0u8; 16 * 1024];
            let mut filled = 0usize;
            let mut left = share;
            while left > 0 {
                if cancel.is_cancelled() {
                    return Err(interrupted());
                }
                let n = (left as usize).min(pipeline);
                let t = Instant::now();
                s.write_all(&block[..n * one]).await?;
                if let Some(e) = read_replies(&mut *s, &mut buf, &mut filled, n).await? {
                    bail!("GET failed: {e}");
                }
                rec.record(t.elapsed());
                left -= n as u64;
                done.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(rec)
        }));
    }
    let mut total = Recorder::new(pipeline as u32, 1)?;
    let mut first_err: Option<anyhow::Error> = None;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => total.merge(&r),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(anyhow::anyhow!("a client task failed: {e}"));
            }
        }
    }
    let wall = start.elapsed();
    if let Some(e) = first_err {
        if e.downcast_ref::<error::Exit>().is_some() {
            return Err(e);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Err(lost(std::io::Error::new(io.kind(), io.to_string())));
        }
        return Err(e);
    }
    Ok((total, wall))
}

trait SyncStream: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> SyncStream for T {}

fn open_blocking(addr: &ConnectionAddr) -> std::io::Result<Box<dyn SyncStream>> {
    match addr {
        ConnectionAddr::Tcp(host, port) => {
            let s = std::net::TcpStream::connect((host.as_str(), *port))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            Ok(Box::new(s))
        }
        #[cfg(unix)]
        ConnectionAddr::Unix(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            Ok(Box::new(s))
        }
        _ => Err(std::io::Error::other("unsupported address")),
    }
}

/// The blocking twin of `read_replies`.
fn read_replies_blocking(
    s: &mut dyn SyncStream,
    buf: &mut Vec<u8>,
    filled: &mut usize,
    want: usize,
) -> std::io::Result<Option<String>> {
    let mut pos = 0;
    let mut left = want;
    let mut err = None;
    loop {
        while left > 0 {
            let Some(n) = reply_len(&buf[pos..*filled]) else {
                break;
            };
            if buf[pos] == b'-' && err.is_none() {
                err = Some(String::from_utf8_lossy(&buf[pos + 1..pos + n - 2]).into_owned());
            }
            pos += n;
            left -= 1;
        }
        if pos > 0 {
            buf.copy_within(pos..*filled, 0);
            *filled -= pos;
            pos = 0;
        }
        if left == 0 {
            return Ok(err);
        }
        if *filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = s.read(&mut buf[*filled..])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        *filled += n;
    }
}

#[allow(clippy::too_many_arguments)]
fn blocking_load(
    addr: &ConnectionAddr,
    setup: &[Vec<u8>],
    block: &[u8],
    pipeline: usize,
    requests: u64,
    done: &AtomicU64,
    cancel: &Cancel,
    display: &str,
) -> Result<(Recorder, Duration)> {
    let lost = |e: std::io::Error| {
        error::connection(format!("lost the connection to Redis at {display}: {e}"))
    };
    let mut s = open_blocking(addr)
        .map_err(|e| error::connection(format!("could not connect to Redis at {display}: {e}")))?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut filled = 0usize;
    for c in setup {
        s.write_all(c).map_err(lost)?;
        if let Some(e) = read_replies_blocking(&mut *s, &mut buf, &mut filled, 1).map_err(lost)? {
            return Err(error::connection(format!(
                "Redis at {display} refused: {e}"
            )));
        }
    }
    let one = block.len() / pipeline;
    let mut rec = Recorder::new(pipeline as u32, 1)?;
    let mut left = requests;
    let start = Instant::now();
    while left > 0 {
        if cancel.is_cancelled() {
            return Err(interrupted());
        }
        let n = (left as usize).min(pipeline);
        let t = Instant::now();
        s.write_all(&block[..n * one]).map_err(lost)?;
        if let Some(e) = read_replies_blocking(&mut *s, &mut buf, &mut filled, n).map_err(lost)? {
            bail!("GET failed: {e}");
        }
        rec.record(t.elapsed());
        left -= n as u64;
        done.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok((rec, start.elapsed()))
}

/// TLS: the same load through the redis crate's pipelines (slower; said in the output).
async fn crate_load(
    server: &Server,
    key: &str,
    pipeline: usize,
    clients: usize,
    requests: u64,
    done: &Arc<AtomicU64>,
    cancel: &Cancel,
) -> Result<(Recorder, Duration)> {
    let mut pipe = redis::pipe();
    for _ in 0..pipeline {
        pipe.cmd("GET").arg(key);
    }
    let pipe = Arc::new(pipe);
    let per_client = requests.div_ceil(clients as u64);
    let rounds = per_client.div_ceil(pipeline as u64);
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(server.connection().await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let pipe = pipe.clone();
        let done = done.clone();
        let cancel = cancel.clone();
        let display = server.display.clone();
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::new(pipeline as u32, 1)?;
            for _ in 0..rounds {
                if cancel.is_cancelled() {
                    return Err(interrupted());
                }
                let t = Instant::now();
                let r: Result<Vec<Option<Vec<u8>>>, RedisError> = pipe.query_async(&mut conn).await;
                r.map_err(|e| command_error(e, &display))?;
                rec.record(t.elapsed());
                done.fetch_add(pipeline as u64, Ordering::Relaxed);
            }
            anyhow::Ok(rec)
        }));
    }
    let mut total = Recorder::new(pipeline as u32, 1)?;
    for t in tasks {
        let r = t.await.context("a client task failed")??;
        total.merge(&r);
    }
    Ok((total, start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lengths() {
        assert_eq!(reply_len(b"+OK\r\n"), Some(5));
        assert_eq!(reply_len(b"$-1\r\n"), Some(5));
        assert_eq!(reply_len(b"$3\r\nxxx\r\n$3"), Some(9));
        assert_eq!(reply_len(b"$3\r\nxx"), None);
        assert_eq!(reply_len(b"*2\r\n:1\r\n$1\r\na\r\n"), Some(15));
        assert_eq!(reply_len(b"*2\r\n:1\r\n"), None);
        assert_eq!(reply_len(b"$3"), None);
    }

    #[test]
    fn packing() {
        let b = packed_gets("k", 3);
        assert_eq!(b, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".repeat(3));
    }
}
