//! A bound on what one reply may cost. The redis crate reads a reply until it is complete, so
//! a server that announces a 2 GB string (or a billion-element array) makes the client buffer
//! whatever arrives. Every single-server connection redislab opens reads through `Bounded`,
//! which follows the RESP stream as it arrives and closes the connection the moment one reply
//! announces or grows past the limits below, before the bytes are buffered. The refusal is
//! remembered, so the one line that ends the run says what happened.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest reply redislab accepts, in bytes on the wire.
pub const MAX_REPLY_BYTES: u64 = 64 * 1024 * 1024;
/// Most elements (at any depth) one reply may hold.
pub const MAX_REPLY_ELEMENTS: u64 = 1 << 20;
/// Longest header or simple-string line.
const MAX_LINE: usize = 1024 * 1024;
/// Deepest nesting of arrays and maps.
const MAX_DEPTH: usize = 64;

static REFUSED: Mutex<Option<String>> = Mutex::new(None);

/// Why a connection was closed by the bound, if one was.
pub fn refused() -> Option<String> {
    REFUSED.lock().ok().and_then(|r| r.clone())
}

fn refuse(why: String) -> io::Error {
    if let Ok(mut r) = REFUSED.lock() {
        r.get_or_insert_with(|| why.clone());
    }
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Where the scanner is in the reply stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the type byte of the next element.
    Type,
    /// Reading the header line of an element of this type.
    Line(u8),
    /// Reading a string's bytes and its closing CRLF.
    Body(u64),
}

/// Follows RESP2/RESP3 replies byte by byte, counting the size of the reply in progress.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    line: Vec<u8>,
    /// Children still to come, per open aggregate.
    open: Vec<u64>,
    bytes: u64,
    elements: u64,
    /// Top-level replies completed so far.
    replies: u64,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Type,
            line: Vec::new(),
            open: Vec::new(),
            bytes: 0,
            elements: 0,
            replies: 0,
        }
    }
}

impl Scanner {
    /// Takes in bytes read from the server; an error means the reply in progress is over a limit
    /// (or not RESP) and the connection must close.
    pub fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        self.feed_ends(data).map(|_| ())
    }

    /// As `feed`, and says where in `data` each top-level reply ended (the offset just after
    /// it), so a caller can cut the stream into replies.
    pub fn feed_ends(&mut self, data: &[u8]) -> io::Result<Vec<usize>> {
        let total = data.len();
        let mut data = data;
        let mut ends = Vec::new();
        while !data.is_empty() {
            let replies = self.replies;
            match self.state {
                State::Type => {
                    self.count(1)?;
                    self.state = State::Line(data[0]);
                    self.line.clear();
                    data = &data[1..];
                }
                State::Line(kind) => match data.iter().position(|b| *b == b'\n') {
                    Some(end) => {
                        self.count(end + 1)?;
                        self.line.extend_from_slice(&data[..end]);
                        data = &data[end + 1..];
                        self.header(kind)?;
                    }
                    None => {
                        self.count(data.len())?;
                        self.line.extend_from_slice(data);
                        data = &[];
                        if self.line.len() > MAX_LINE {
                            return Err(refuse("a reply line longer than 1 MiB".into()));
                        }
                    }
                },
                State::Body(left) => {
                    let take = left.min(data.len() as u64);
                    self.count(take as usize)?;
                    data = &data[take as usize..];
                    if take == left {
                        self.element_done();
                    } else {
                        self.state = State::Body(left - take);
                    }
                }
            }
            if self.replies > replies {
                ends.push(total - data.len());
            }
        }
        Ok(ends)
    }

    /// Adds bytes to the reply in progress.
    fn count(&mut self, n: usize) -> io::Result<()> {
        self.bytes += n as u64;
        if self.bytes > MAX_REPLY_BYTES {
            return Err(refuse(format!(
                "a reply larger than {} MiB",
                MAX_REPLY_BYTES >> 20
            )));
        }
        Ok(())
    }

    /// A header line is complete: decide what follows it.
    fn header(&mut self, kind: u8) -> io::Result<()> {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end_matches('\r');
        let number = || {
            text.parse::<i64>()
                .map_err(|_| refuse(format!("a reply header that is not a length: {kind:?}")))
        };
        match kind {
            b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => self.element_done(),
            b'$' | b'=' | b'!' => {
                let n = number()?;
                if n < 0 {
                    self.element_done();
                } else if n as u64 > MAX_REPLY_BYTES {
                    return Err(refuse(format!("a reply announcing {n} bytes")));
                } else {
                    self.state = State::Body(n as u64 + 2);
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = number()?;
                let children = match kind {
                    b'%' => n.saturating_mul(2),
                    b'|' => n.saturating_mul(2).saturating_add(1),
                    _ => n,
                };
                if children <= 0 {
                    self.element_done();
                    return Ok(());
                }
                self.elements = self.elements.saturating_add(children as u64);
                if self.elements > MAX_REPLY_ELEMENTS {
                    return Err(refuse(format!(
                        "a reply of more than {MAX_REPLY_ELEMENTS} elements"
                    )));
                }
                if self.open.len() >= MAX_DEPTH {
                    return Err(refuse("a reply nested deeper than 64 levels".into()));
                }
                self.open.push(children as u64);
                self.state = State::Type;
            }
            other => {
                return Err(refuse(format!(
                    "bytes that are not the Redis protocol (type byte {other:#04x})"
                )));
            }
        }
        Ok(())
    }

    /// One element is complete; so is every aggregate it was the last child of. A complete
    /// top-level reply starts the count again.
    fn element_done(&mut self) {
        self.state = State::Type;
        while let Some(left) = self.open.last_mut() {
            *left -= 1;
            if *left > 0 {
                return;
            }
            self.open.pop();
        }
        self.bytes = 0;
        self.elements = 0;
        self.replies += 1;
    }
}

/// What crossed one connection's socket, counted where the bytes are read and written: the
/// tape (`redis::tape`) takes the difference around one command, so its figures are the bytes
/// on the wire, the same the server counts (`tot-net-in`, `tot-net-out` in `CLIENT LIST`).
#[derive(Debug, Default)]
pub struct Wire {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Wire {
    /// Bytes written to the server and read from it so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Acquire),
            self.received.load(Ordering::Acquire),
        )
    }
}

/// A stream whose incoming bytes pass the scanner first. Writes go straight through; both
/// directions are counted.
pub struct Bounded<S> {
    inner: S,
    scanner: Arc<Mutex<Scanner>>,
    wire: Arc<Wire>,
}

impl<S> Bounded<S> {
    pub fn new(inner: S) -> Self {
        Bounded {
            inner,
            scanner: Arc::default(),
            wire: Arc::default(),
        }
    }

    /// The byte counts of this stream, shared with whoever holds them.
    pub fn wire(&self) -> Arc<Wire> {
        self.wire.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                this.wire
                    .received
                    .fetch_add(fresh.len() as u64, Ordering::AcqRel);
                let mut scanner = this
                    .scanner
                    .lock()
                    .map_err(|_| io::Error::other("reply scanner poisoned"))?;
                Poll::Ready(scanner.feed(fresh))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &written {
            this.wire.sent.fetch_add(*n as u64, Ordering::AcqRel);
        }
        written
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]]) -> io::Result<Scanner> {
        let mut s = Scanner::default();
        for c in chunks {
            s.feed(c)?;
        }
        Ok(s)
    }

    #[test]
    fn ordinary_replies_pass_and_the_count_starts_again_after_each() {
        let s = feed(&[
            b"+OK\r\n:12\r\n$5\r\nhel",
            b"lo\r\n*2\r\n$1\r\na\r\n*1\r\n",
            b":1\r\n%1\r\n+k\r\n$-1\r\n*-1\r\n*0\r\n_\r\n",
        ])
        .expect("ordinary replies pass");
        assert_eq!(s.state, State::Type);
        assert!(s.open.is_empty());
        assert_eq!(s.bytes, 0, "every reply was complete");
    }

    #[test]
    fn reply_ends_are_found_across_chunks() {
        let mut s = Scanner::default();
        assert_eq!(s.feed_ends(b"+OK\r\n*2\r\n$1\r\na").expect("ok"), vec![5]);
        assert_eq!(s.feed_ends(b"\r\n:1\r\n:7\r\n").expect("ok"), vec![6, 10]);
    }

    #[test]
    fn a_huge_string_is_refused_at_its_header() {
        let e = feed(&[b"$2000000000\r\n"]).expect_err("refused");
        assert!(e.to_string().contains("2000000000 bytes"), "{e}");
    }

    #[test]
    fn a_huge_array_is_refused_at_its_header() {
        let e = feed(&[b"*2000000000\r\n"]).expect_err("refused");
        assert!(e.to_string().contains("elements"), "{e}");
        let e = feed(&[b"*3\r\n", &b"*600000\r\n"[..]]).map(|_| ());
        assert!(e.is_ok(), "3 + 600,000 elements are allowed");
        let e = feed(&[
            b"*2\r\n*600000\r\n",
            &b":1\r\n".repeat(600_000),
            b"*600000\r\n",
        ]);
        assert!(
            e.is_err(),
            "two arrays of 600,000 in one reply are too many"
        );
    }

    #[test]
    fn a_reply_that_grows_past_the_limit_in_small_pieces_is_refused() {
        let mut s = Scanner::default();
        s.feed(b"*1000000\r\n").expect("header");
        let piece = b"$1000\r\n"
            .iter()
            .chain([b'x'; 1000].iter())
            .chain(b"\r\n")
            .copied();
        let piece: Vec<u8> = piece.collect();
        let mut sent = 0u64;
        let refused = loop {
            if let Err(e) = s.feed(&piece) {
                break e;
            }
            sent += piece.len() as u64;
            assert!(sent <= MAX_REPLY_BYTES, "never refused");
        };
        assert!(refused.to_string().contains("MiB"), "{refused}");
    }

    #[test]
    fn an_endless_line_and_deep_nesting_are_refused() {
        let mut s = Scanner::default();
        let e = (0..2000).find_map(|_| s.feed(&[b'a'; 1024]).err());
        assert!(e.is_some(), "a 2 MB line without CRLF");
        let deep = b"*1\r\n".repeat(100);
        assert!(feed(&[&deep]).is_err());
    }
}
