//! The fence for `bench --throughput`'s load generator, which writes packed commands on plain
//! sockets to reach the server's own speed: only this layer opens such a socket, and a socket
//! writes only a `Block` — copies of one command the fence admitted, or the connection's own
//! log-in (AUTH, SELECT) built here from the URL.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use redis::{Cmd, ConnectionAddr, ConnectionInfo};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::{Fenced, Refused};

/// Where a load socket connects, and how it logs in.
#[derive(Clone)]
pub struct LoadTarget {
    addr: ConnectionAddr,
    login: Vec<Block>,
}

/// `count` copies of one packed command; a socket writes the first `n` of them.
#[derive(Clone, Debug)]
pub struct Block {
    bytes: Vec<u8>,
    count: usize,
}

impl Block {
    /// The first `n` commands (at most all of them).
    pub fn first(&self, n: usize) -> &[u8] {
        let each = self.bytes.len() / self.count.max(1);
        &self.bytes[..n.min(self.count) * each]
    }

    pub fn count(&self) -> usize {
        self.count
    }

    fn of(cmd: &Cmd, count: usize) -> Block {
        Block {
            bytes: cmd.get_packed_command().repeat(count),
            count,
        }
    }
}

impl Fenced {
    /// `cmd`, admitted now, packed `count` times for a load socket.
    pub async fn admitted_block(&self, cmd: Cmd, count: usize) -> Result<Block, Refused> {
        self.fence.admit_cmds([&cmd]).await?;
        Ok(Block::of(&cmd, count.max(1)))
    }
}

impl LoadTarget {
    /// The node at `addr`, logged in as `info` says (AUTH, SELECT).
    pub(in crate::redis) fn new(info: &ConnectionInfo, addr: ConnectionAddr) -> LoadTarget {
        let s = info.redis_settings();
        let mut login = Vec::new();
        if let Some(pw) = s.password() {
            let mut c = redis::cmd("AUTH");
            if let Some(u) = s.username() {
                c.arg(u);
            }
            c.arg(pw);
            login.push(Block::of(&c, 1));
        }
        if s.db() != 0 {
            login.push(Block::of(redis::cmd("SELECT").arg(s.db()), 1));
        }
        LoadTarget { addr, login }
    }

    /// The log-in commands, each to be sent and answered before the load starts.
    pub fn login(&self) -> &[Block] {
        &self.login
    }

    /// Whether a plain socket can reach it (TCP or a Unix socket; TLS needs the client's
    /// connections instead).
    pub fn is_plain(&self) -> bool {
        matches!(self.addr, ConnectionAddr::Tcp(..) | ConnectionAddr::Unix(_))
    }

    /// An async socket, Nagle off.
    pub async fn open(&self) -> io::Result<LoadStream> {
        let stream: Box<dyn Plain> = match &self.addr {
            ConnectionAddr::Tcp(host, port) => {
                let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                s.set_nodelay(true)?;
                Box::new(s)
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            _ => return Err(io::Error::other("unsupported address")),
        };
        Ok(LoadStream { stream })
    }

    /// A blocking socket (one client needs no event loop), with a 10 s read timeout.
    pub fn open_blocking(&self) -> io::Result<BlockingLoadStream> {
        let timeout = Some(Duration::from_secs(10));
        let (read, write): (Box<dyn io::Read + Send>, Box<dyn io::Write + Send>) = match &self.addr
        {
            ConnectionAddr::Tcp(host, port) => {
                let s = std::net::TcpStream::connect((host.as_str(), *port))?;
                s.set_nodelay(true)?;
                s.set_read_timeout(timeout)?;
                let w = s.try_clone()?;
                (Box::new(s), Box::new(w))
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => {
                let s = std::os::unix::net::UnixStream::connect(path)?;
                s.set_read_timeout(timeout)?;
                let w = s.try_clone()?;
                (Box::new(s), Box::new(w))
            }
            _ => return Err(io::Error::other("unsupported address")),
        };
        Ok(BlockingLoadStream { read, write })
    }
}

trait Plain: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Plain for T {}

/// A load generator's async socket: it reads anything, and writes only blocks.
pub struct LoadStream {
    stream: Box<dyn Plain>,
}

impl LoadStream {
    /// Writes the first `n` commands of `block`.
    pub async fn write(&mut self, block: &Block, n: usize) -> io::Result<()> {
        self.stream.write_all(block.first(n)).await
    }
}

impl AsyncRead for LoadStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

/// A load generator's blocking socket: it reads anything, and writes only blocks.
pub struct BlockingLoadStream {
    read: Box<dyn io::Read + Send>,
    write: Box<dyn io::Write + Send>,
}

impl BlockingLoadStream {
    /// Writes the first `n` commands of `block`.
    pub fn write(&mut self, block: &Block, n: usize) -> io::Result<()> {
        self.write.write_all(block.first(n))
    }
}

impl io::Read for BlockingLoadStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read.read(buf)
    }
}
