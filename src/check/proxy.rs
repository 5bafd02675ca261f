//! The loopback proxy the learner's workers talk to instead of Redis. It speaks RESP2, and RESP3
//! to a client that asks with `HELLO 3` (its server connection then speaks RESP3 too, so a
//! reply keeps its kind); it answers a client library's handshake itself (nothing server-wide is ever forwarded), and sends every
//! other command through the fence as the learner's (`Fenced::run(.., Origin::Learner)`), on a
//! connection of its own per client connection, so MULTI and WATCH keep their meaning. Before a
//! command goes out the proxy asks the schedule whose turn it is; that is where interleavings,
//! pauses, early expiries, lost replies and failovers are made — by holding a reply, never by
//! sleeping. A connection opened before a failover closes at its next command, unsent.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use redis::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::schedule::Controller;
use super::upstream::Upstream;
use crate::redis::fence::{Origin, Outcome, typed};

/// One request may not be larger than this (a client sending more is cut off).
const MAX_ARG_BYTES: usize = 64 << 20;
const MAX_ARGS: usize = 1 << 20;

/// Listeners on 127.0.0.1, one per worker (the port tells the proxy which worker is talking),
/// and every connection they accepted. Dropping it closes them all.
pub struct Proxy {
    pub addrs: Vec<SocketAddr>,
    tasks: JoinSet<()>,
}

impl Proxy {
    /// Opens one listener per worker on an ephemeral loopback port.
    pub async fn start(
        upstream: Arc<Upstream>,
        control: Arc<Controller>,
        workers: usize,
    ) -> Result<Proxy> {
        let mut tasks = JoinSet::new();
        let mut addrs = Vec::new();
        for worker in 0..workers {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("could not open the check proxy's port on 127.0.0.1")?;
            addrs.push(listener.local_addr().context("the proxy's port")?);
            let (upstream, control) = (upstream.clone(), control.clone());
            tasks.spawn(accept(listener, upstream, control, worker));
        }
        Ok(Proxy { addrs, tasks })
    }

    /// Closes every listener and connection now.
    pub fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: Arc<Upstream>,
    control: Arc<Controller>,
    worker: usize,
) {
    let mut conns = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (upstream, control) = (upstream.clone(), control.clone());
        conns.spawn(async move {
            if let Err(e) = serve(stream, &upstream, &control, worker).await {
                control.note_connection_error(worker, &format!("{e:#}"));
            }
        });
    }
}

/// What the proxy answers itself, without a turn and without the server.
enum Local {
    Reply(Vec<u8>),
    /// Reply, then close (QUIT).
    Close(Vec<u8>),
    /// `HELLO 3`: switch this connection (and its server connection) to RESP3, then reply.
    Resp3(Vec<u8>),
}

/// What a client connection has told the proxy about itself.
#[derive(Default)]
struct Session {
    name: Option<Vec<u8>>,
    resp3: bool,
}

impl Session {
    fn encode(&self, v: &Value) -> Vec<u8> {
        if self.resp3 { encode3(v) } else { encode(v) }
    }
}

/// Client libraries introduce themselves on connect; a real server's answers, simplified.
/// Documented in the README (`redislab check`, "What the proxy answers itself").
fn local_answer(args: &[Vec<u8>], session: &mut Session) -> Option<Local> {
    let word = |i: usize| {
        args.get(i)
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
            .unwrap_or_default()
    };
    let ok = || Local::Reply(b"+OK\r\n".to_vec());
    match (word(0).as_str(), word(1).as_str()) {
        ("CLIENT", "SETINFO") => Some(ok()),
        ("CLIENT", "SETNAME") => {
            session.name = args.get(2).cloned();
            Some(ok())
        }
        ("CLIENT", "GETNAME") => Some(Local::Reply(match &session.name {
            Some(n) => session.encode(&Value::BulkString(n.clone())),
            None => session.encode(&Value::Nil),
        })),
        ("SELECT", db) => Some(if db == "0" {
            ok()
        } else {
            error("ERR redislab check: only database 0 is available through the proxy")
        }),
        ("AUTH", _) => Some(ok()),
        ("PING", _) => Some(Local::Reply(match args.get(1) {
            Some(m) => encode(&Value::BulkString(m.clone())),
            None => b"+PONG\r\n".to_vec(),
        })),
        ("ECHO", _) if args.len() == 2 => Some(Local::Reply(encode(&Value::BulkString(
            args[1].clone(),
        )))),
        ("INFO", _) => Some(Local::Reply(encode(&Value::BulkString(
            b"# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n# Persistence\r\nloading:0\r\n"
                .to_vec(),
        )))),
        ("HELLO", proto) => {
            let wanted = match proto {
                "" => Some(if session.resp3 { 3 } else { 2 }),
                "2" => Some(2),
                "3" => Some(3),
                _ => None,
            };
            let Some(wanted) = wanted else {
                return Some(error("NOPROTO unsupported protocol version"));
            };
            // `HELLO 3 AUTH user pass SETNAME name`: the name is kept, the log-in ignored.
            if let Some(i) = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"SETNAME"))
            {
                session.name = args.get(i + 1).cloned();
            }
            let s = |t: &str| Value::BulkString(t.as_bytes().to_vec());
            let pairs = vec![
                (s("server"), s("redis")),
                (s("version"), s("7.0.0")),
                (s("proto"), Value::Int(wanted)),
                (s("mode"), s("standalone")),
                (s("role"), s("master")),
                (s("modules"), Value::Array(vec![])),
            ];
            Some(if wanted == 3 {
                session.resp3 = true;
                Local::Resp3(encode3(&Value::Map(pairs)))
            } else if session.resp3 {
                error("ERR redislab check: a connection switched to RESP3 stays on it")
            } else {
                Local::Reply(encode(&Value::Map(pairs)))
            })
        }
        ("QUIT", _) => Some(Local::Close(b"+OK\r\n".to_vec())),
        _ => None,
    }
}

fn error(text: &str) -> Local {
    Local::Reply(error_bytes(text))
}

fn error_bytes(text: &str) -> Vec<u8> {
    let line: String = text
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    format!("-{line}\r\n").into_bytes()
}

async fn serve(
    stream: TcpStream,
    upstream: &Upstream,
    control: &Controller,
    worker: usize,
) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let (generation, server) = upstream.connect_to();
    let server = &*server;
    let mut fenced = server.learner_connection().await?;
    let mut session = Session::default();
    while let Some(args) = read_request(&mut read).await? {
        if args.is_empty() {
            continue;
        }
        match local_answer(&args, &mut session) {
            Some(Local::Reply(bytes)) => {
                write.write_all(&bytes).await?;
                continue;
            }
            Some(Local::Close(bytes)) => {
                write.write_all(&bytes).await?;
                return Ok(());
            }
            Some(Local::Resp3(bytes)) => {
                fenced = server.learner_connection_resp3().await?;
                write.write_all(&bytes).await?;
                continue;
            }
            None => {}
        }
        let Some(turn) = control.turn(worker).await else {
            return Ok(()); // the run is over
        };
        if upstream.generation() != generation {
            // A failover since this connection opened: it closes unsent, as Sentinel closes
            // the old primary's clients; a client that reconnects reaches the new primary.
            control.closed_by_failover(worker, turn.step, &args);
            control.done(worker);
            return Ok(());
        }
        if turn.expire_first {
            control.expire_volatile(server).await;
        }
        if turn.failover {
            if let Err(e) = upstream.promote().await {
                control.setup_failed(format!("the failover could not promote the replica: {e:#}"));
            }
        }
        let before = control.watch(server).await;
        let outcome = fenced.run(&typed(&args), Origin::Learner).await;
        let after = control.watch(server).await;
        if turn.failover {
            if let Err(e) = upstream.switch().await {
                control.setup_failed(format!(
                    "the failover could not move to the new primary: {e:#}"
                ));
            }
        }
        let (shown, bytes) = match outcome {
            Ok(Outcome::Reply(v)) => (summary(&v), session.encode(&v)),
            Ok(Outcome::Refused(why)) => {
                let text = format!("ERR refused by redislab's fence: {why}");
                (format!("(error) {text}"), error_bytes(&text))
            }
            Ok(Outcome::Subscribe) => {
                let text = "ERR redislab check: SUBSCRIBE is not available through the proxy";
                (format!("(error) {text}"), error_bytes(text))
            }
            Err(e) => {
                let text = format!("ERR redislab check lost the server: {e}");
                (format!("(error) {text}"), error_bytes(&text))
            }
        };
        let lost = turn.lose_reply || turn.crash;
        control.record(worker, turn.step, &args, shown, before, after, lost);
        if turn.crash {
            control.kill(worker);
        }
        control.done(worker);
        if lost {
            // The command ran on the server; the client never hears back.
            return Ok(());
        }
        write.write_all(&bytes).await?;
    }
    Ok(())
}

/// The next request: a RESP array of bulk strings, or an inline command (`PING\r\n`). `None`
/// when the client closed the connection.
pub async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
) -> Result<Option<Vec<Vec<u8>>>> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    let line = trim_crlf(&line);
    let Some(count) = line.strip_prefix(b"*") else {
        // Inline command, as redis-cli and telnet send.
        return Ok(Some(
            line.split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .map(<[u8]>::to_vec)
                .collect(),
        ));
    };
    let count = number(count)
        .filter(|n| *n <= MAX_ARGS)
        .context("bad RESP array length")?;
    let mut args = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let mut head = Vec::new();
        r.read_until(b'\n', &mut head).await?;
        let head = trim_crlf(&head);
        let len = head
            .strip_prefix(b"$")
            .and_then(number)
            .filter(|n| *n <= MAX_ARG_BYTES)
            .context("bad RESP bulk string header")?;
        let mut arg = vec![0; len + 2];
        r.read_exact(&mut arg).await?;
        arg.truncate(len);
        args.push(arg);
    }
    Ok(Some(args))
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn number(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// A reply in one short line, as redis-cli shows it (for the timeline; escaped when drawn).
pub fn summary(v: &Value) -> String {
    let text = match v {
        Value::Nil => "(nil)".to_string(),
        Value::Int(i) => format!("(integer) {i}"),
        Value::BulkString(b) => crate::redis::render::repr(b),
        Value::Okay => "OK".to_string(),
        Value::SimpleString(s) => s.clone(),
        Value::ServerError(e) => format!("(error) {} {}", e.code(), e.details().unwrap_or("")),
        Value::Array(items) if items.is_empty() => "(empty array)".to_string(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().take(4).map(summary).collect();
            let more = if items.len() > 4 { " ..." } else { "" };
            format!("[{}{more}]", inner.join(", "))
        }
        other => format!("{other:?}"),
    };
    text.chars().take(80).collect()
}

/// A reply as a RESP3 server writes it (a connection that asked for `HELLO 3`). A double is
/// written in Rust's shortest form, which a client reads as the same number; Redis 7.0 writes
/// some with 17 digits.
pub fn encode3(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode3_into(v, &mut out);
    out
}

fn aggregate(mark: u8, n: usize, out: &mut Vec<u8>) {
    out.push(mark);
    out.extend_from_slice(format!("{n}\r\n").as_bytes());
}

fn encode3_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Nil => out.extend_from_slice(b"_\r\n"),
        Value::Array(items) => {
            aggregate(b'*', items.len(), out);
            items.iter().for_each(|i| encode3_into(i, out));
        }
        Value::Set(items) => {
            aggregate(b'~', items.len(), out);
            items.iter().for_each(|i| encode3_into(i, out));
        }
        Value::Push { data, .. } => {
            aggregate(b'>', data.len(), out);
            data.iter().for_each(|i| encode3_into(i, out));
        }
        Value::Map(pairs) => {
            aggregate(b'%', pairs.len(), out);
            for (k, v) in pairs {
                encode3_into(k, out);
                encode3_into(v, out);
            }
        }
        Value::Attribute { data, attributes } => {
            aggregate(b'|', attributes.len(), out);
            for (k, v) in attributes {
                encode3_into(k, out);
                encode3_into(v, out);
            }
            encode3_into(data, out);
        }
        Value::Double(d) => {
            let text = if d.is_nan() {
                "nan".to_string()
            } else if d.is_infinite() {
                if *d > 0.0 { "inf" } else { "-inf" }.to_string()
            } else {
                d.to_string()
            };
            out.extend_from_slice(format!(",{text}\r\n").as_bytes());
        }
        Value::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Value::BigNumber(n) => out.extend_from_slice(format!("({n}\r\n").as_bytes()),
        Value::VerbatimString { format, text } => {
            let body = format!("{format}:{text}");
            out.extend_from_slice(format!("={}\r\n", body.len()).as_bytes());
            out.extend_from_slice(body.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        // The kinds RESP2 and RESP3 write alike.
        other => encode_into(other, out),
    }
}

/// A reply as a RESP2 server writes it. The proxy's own server connection speaks RESP2, so the
/// RESP3 kinds only appear if a module sends them; they are written as RESP2 flattens them.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}

fn bulk(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn encode_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::Int(i) => out.extend_from_slice(format!(":{i}\r\n").as_bytes()),
        Value::BulkString(b) => bulk(b, out),
        Value::Array(items) | Value::Set(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            items.iter().for_each(|i| encode_into(i, out));
        }
        Value::Push { data, .. } => {
            out.extend_from_slice(format!("*{}\r\n", data.len()).as_bytes());
            data.iter().for_each(|i| encode_into(i, out));
        }
        Value::Map(pairs) => {
            out.extend_from_slice(format!("*{}\r\n", pairs.len() * 2).as_bytes());
            for (k, v) in pairs {
                encode_into(k, out);
                encode_into(v, out);
            }
        }
        Value::Attribute { data, .. } => encode_into(data, out),
        Value::SimpleString(s) => {
            out.extend_from_slice(b"+");
            out.extend_from_slice(s.replace(['\r', '\n'], " ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Value::Okay => out.extend_from_slice(b"+OK\r\n"),
        Value::Double(d) => bulk(d.to_string().as_bytes(), out),
        Value::Boolean(b) => out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Value::VerbatimString { text, .. } => bulk(text.as_bytes(), out),
        Value::BigNumber(n) => bulk(n.to_string().as_bytes(), out),
        Value::ServerError(e) => {
            let text = match e.details() {
                Some(d) => format!("{} {d}", e.code()),
                None => e.code().to_string(),
            };
            out.extend_from_slice(&error_bytes(&text));
        }
        // Value is non-exhaustive: a kind this proxy does not know is written as nil.
        #[allow(unreachable_patterns)]
        _ => out.extend_from_slice(b"$-1\r\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_written_as_a_resp2_server_writes_them() {
        let v = Value::Array(vec![
            Value::Int(-3),
            Value::Nil,
            Value::BulkString(b"a\r\nb".to_vec()),
            Value::Okay,
        ]);
        assert_eq!(encode(&v), b"*4\r\n:-3\r\n$-1\r\n$4\r\na\r\nb\r\n+OK\r\n");
    }

    #[tokio::test]
    async fn requests_are_read_whole_in_both_forms() {
        let mut input: &[u8] = b"*2\r\n$3\r\nGET\r\n$4\r\nk\r\nx\r\nPING  hi\r\n";
        let mut r = tokio::io::BufReader::new(&mut input);
        assert_eq!(
            read_request(&mut r).await.unwrap(),
            Some(vec![b"GET".to_vec(), b"k\r\nx".to_vec()])
        );
        assert_eq!(
            read_request(&mut r).await.unwrap(),
            Some(vec![b"PING".to_vec(), b"hi".to_vec()])
        );
        assert_eq!(read_request(&mut r).await.unwrap(), None);
    }
}
