//! Opens the byte stream to one server — TCP, TLS or a unix socket, as the URL says — and
//! hands it to the redis crate through `bounded::Bounded`, so no reply can make redislab buffer
//! more than the documented limit. The crate's own `get_multiplexed_async_connection` would open
//! the same streams without the bound.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::io;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, RedisError, RedisResult};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

use super::bounded::Bounded;

/// How long opening a connection (the socket and the log-in) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A multiplexed connection whose replies are bounded. `connect` limits opening the stream and
/// the handshake (AUTH, HELLO) together.
pub(in crate::redis) async fn open(
    client: &Client,
    config: AsyncConnectionConfig,
    connect: Duration,
) -> RedisResult<MultiplexedConnection> {
    Ok(open_counted(client, config, connect).await?.0)
}

/// `open`, and the count of bytes its socket carries (log-in included).
pub(in crate::redis) async fn open_counted(
    client: &Client,
    config: AsyncConnectionConfig,
    connect: Duration,
) -> RedisResult<(MultiplexedConnection, Arc<super::bounded::Wire>)> {
    let info = client.get_connection_info();
    within(connect, async {
        let stream = Bounded::new(raw(info).await?);
        let wire = stream.wire();
        let (conn, driver) =
            MultiplexedConnection::new_with_config(info.redis_settings(), stream, config).await?;
        tokio::spawn(driver);
        Ok((conn, wire))
    })
    .await
}

/// A subscriber connection (SUBSCRIBE and its kin), bounded the same way.
pub(in crate::redis) async fn pubsub(
    client: &Client,
    connect: Duration,
) -> RedisResult<redis::aio::PubSub> {
    let info = client.get_connection_info();
    within(connect, async {
        let stream = Bounded::new(raw(info).await?);
        redis::aio::PubSub::new(info.redis_settings(), stream).await
    })
    .await
}

async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(RedisError::from(io::Error::new(
            io::ErrorKind::TimedOut,
            "timed out while connecting",
        ))),
    }
}

/// Any byte stream to a server.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static> Stream for S {}

/// The stream the URL names: TCP, TLS over TCP, or a unix socket.
async fn raw(info: &redis::ConnectionInfo) -> RedisResult<Box<dyn Stream>> {
    Ok(match info.addr() {
        ConnectionAddr::Tcp(host, port) => Box::new(tcp(host, *port).await?),
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            ..
        } => Box::new(tls(host, *port, *insecure).await?),
        #[cfg(unix)]
        ConnectionAddr::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
        #[allow(unreachable_patterns)]
        _ => return Err(io::Error::other("this kind of address is not supported").into()),
    })
}

async fn tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn tls(
    host: &str,
    port: u16,
    insecure: bool,
) -> RedisResult<tokio_rustls::client::TlsStream<TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A system certificate rustls cannot read is skipped, as the crate itself does.
            let _ = roots.add(cert);
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tcp = tcp(host, port).await?;
    Ok(TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?)
}

/// `rediss://…/#insecure`: the certificate is not checked (a self-signed development server);
/// the handshake's signatures still are.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One plain conversation with one server, a reply at a time, for what the multiplexed
/// connection cannot carry: a connection in subscribe mode (SUBSCRIBE, SSUBSCRIBE) that the
/// caller reads message by message. Bounded like every other connection: the same scanner
/// that enforces the limit cuts the stream into replies. Unfenced: only `fence::RawConn`
/// holds one, and admits every command before it is written.
pub(in crate::redis) struct Socket {
    stream: Box<dyn Stream>,
    scanner: super::bounded::Scanner,
    /// Bytes of the reply in progress.
    partial: Vec<u8>,
    /// Complete replies not yet taken.
    ready: std::collections::VecDeque<Vec<u8>>,
}

impl Socket {
    /// Connects to the server `client` names and logs in as its user (AUTH, SELECT, or
    /// `HELLO 3` with AUTH when `resp3`, as a RESP3 client's log-in is).
    pub(in crate::redis) async fn open(
        client: &Client,
        connect: Duration,
        resp3: bool,
    ) -> RedisResult<Socket> {
        let info = client.get_connection_info();
        let mut conn = within(connect, async {
            Ok(Socket {
                stream: raw(info).await?,
                scanner: super::bounded::Scanner::default(),
                partial: Vec::new(),
                ready: Default::default(),
            })
        })
        .await?;
        let settings = info.redis_settings();
        let mut setup: Vec<Vec<Vec<u8>>> = Vec::new();
        if resp3 {
            let mut hello = vec![b"HELLO".to_vec(), b"3".to_vec()];
            if let Some(pw) = settings.password() {
                hello.push(b"AUTH".to_vec());
                hello.push(settings.username().unwrap_or("default").as_bytes().to_vec());
                hello.push(pw.as_bytes().to_vec());
            }
            setup.push(hello);
        } else if let Some(pw) = settings.password() {
            let mut auth = vec![b"AUTH".to_vec()];
            if let Some(user) = settings.username() {
                auth.push(user.as_bytes().to_vec());
            }
            auth.push(pw.as_bytes().to_vec());
            setup.push(auth);
        }
        if settings.db() != 0 {
            setup.push(vec![
                b"SELECT".to_vec(),
                settings.db().to_string().into_bytes(),
            ]);
        }
        for command in setup {
            conn.write(&command).await?;
            if let redis::Value::ServerError(e) = conn.next(connect).await? {
                return Err(RedisError::from(e));
            }
        }
        Ok(conn)
    }

    /// Writes a command as it is: the caller has admitted it.
    pub(in crate::redis) async fn write(&mut self, args: &[Vec<u8>]) -> RedisResult<()> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = redis::Cmd::new();
        for a in args {
            cmd.arg(a.as_slice());
        }
        self.stream.write_all(&cmd.get_packed_command()).await?;
        Ok(())
    }

    /// The next reply or pushed message, whole; a timeout error when it is not all here
    /// `within` from now (a server dripping a byte at a time does not stretch it).
    pub(in crate::redis) async fn next(&mut self, within_: Duration) -> RedisResult<redis::Value> {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 16 * 1024];
        let end = tokio::time::Instant::now() + within_;
        while self.ready.is_empty() {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            let n = within(left, async { Ok(self.stream.read(&mut buf).await?) }).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            let mut start = 0;
            for end in self.scanner.feed_ends(&buf[..n])? {
                self.partial.extend_from_slice(&buf[start..end]);
                self.ready.push_back(std::mem::take(&mut self.partial));
                start = end;
            }
            self.partial.extend_from_slice(&buf[start..n]);
        }
        let reply = self.ready.pop_front().unwrap_or_default();
        redis::parse_redis_value(&reply)
    }
}

/// A cluster node's connection, opened through the bound like every single-server one: the
/// cluster client asks for one per node (`Connect`) and sends through it (`ConnectionLike`).
#[derive(Clone)]
pub struct BoundedNode(MultiplexedConnection);

/// A request that failed because the bound closed the connection must not be retried: the
/// cluster client would reconnect and ask again, and the server would answer the same. As
/// `PermissionDenied`, the client gives up at once and the refusal reaches the user.
fn final_if_refused<T>(r: RedisResult<T>) -> RedisResult<T> {
    r.map_err(|e| match super::bounded::refused() {
        Some(why) => RedisError::from(io::Error::new(io::ErrorKind::PermissionDenied, why)),
        None => e,
    })
}

impl redis::aio::ConnectionLike for BoundedNode {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move { final_if_refused(self.0.req_packed_command(cmd).await) })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async move {
            final_if_refused(self.0.req_packed_commands(pipeline, offset, count).await)
        })
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

impl redis::cluster_async::Connect for BoundedNode {
    fn connect_with_config<'a, T>(
        info: T,
        config: AsyncConnectionConfig,
    ) -> redis::RedisFuture<'a, Self>
    where
        T: redis::IntoConnectionInfo + Send + 'a,
    {
        Box::pin(async move {
            let client = Client::open(info.into_connection_info()?)?;
            open(&client, config, CONNECT_TIMEOUT)
                .await
                .map(BoundedNode)
        })
    }
}
