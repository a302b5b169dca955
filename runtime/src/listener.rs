//! The front: where the proxy accepts connections ([`Listener`]) and serves them ([`serve`]).
//! HTTP/1.1 and HTTP/2 on one listener, over TCP or a Unix domain socket, in cleartext (HTTP/2
//! by prior knowledge, "h2c") or with TLS (ALPN `h2` and `http/1.1`; see [`super::tls`]);
//! graceful shutdown.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, UnixListener, UnixStream};

use super::transport::{BoxIo, SetupError};

/// Where the proxy accepts connections.
#[derive(Debug)]
pub enum Listener {
    /// A TCP address.
    Tcp(TcpListener),
    /// A Unix domain socket.
    Unix {
        /// The bound socket.
        listener: UnixListener,
        /// Its file, removed when the server stops.
        path: PathBuf,
    },
}

impl Listener {
    /// Binds `address`: `host:port`, or `unix:/path/to.sock` for a Unix domain socket. A socket
    /// file left behind by a server that is gone is replaced (one that still accepts connections
    /// is an error), and `socket_mode` (e.g. `0o660`) sets the new file's permissions.
    pub async fn bind(address: &str, socket_mode: Option<u32>) -> Result<Listener, SetupError> {
        let Some(path) = address.strip_prefix("unix:") else {
            if socket_mode.is_some() {
                return Err(SetupError::new(format!(
                    "socket permissions apply to a Unix socket (unix:/path), not to {address}"
                )));
            }
            let listener = TcpListener::bind(address)
                .await
                .map_err(|e| SetupError::new(format!("cannot listen on {address}: {e}")))?;
            return Ok(Listener::Tcp(listener));
        };
        let path = PathBuf::from(path);
        if path.as_os_str().is_empty() {
            return Err(SetupError::new(
                "unix: needs a socket path: unix:/path/to.sock",
            ));
        }
        let is_socket = std::fs::symlink_metadata(&path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt as _;
            m.file_type().is_socket()
        });
        if is_socket {
            if UnixStream::connect(&path).await.is_ok() {
                return Err(SetupError::new(format!(
                    "cannot listen on {address}: another server is accepting connections there"
                )));
            }
            // A stale socket file from a previous run would make bind fail.
            std::fs::remove_file(&path).map_err(|e| {
                SetupError::new(format!("cannot replace the stale socket {address}: {e}"))
            })?;
        }
        let listener = UnixListener::bind(&path)
            .map_err(|e| SetupError::new(format!("cannot listen on {address}: {e}")))?;
        if let Some(mode) = socket_mode {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(
                |e| SetupError::new(format!("cannot set the permissions of {address}: {e}")),
            )?;
        }
        Ok(Listener::Unix { listener, path })
    }

    /// The bound address (`127.0.0.1:8080`, `unix:/path`): with port 0, the port chosen.
    pub fn local_address(&self) -> String {
        match self {
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => addr.to_string(),
                Err(e) => format!("<unknown address: {e}>"),
            },
            Listener::Unix { path, .. } => format!("unix:{}", path.display()),
        }
    }

    /// The next connection and, over TCP, the peer's address. Errors that concern one
    /// connection are skipped; others (too many open files) are logged and retried after a
    /// pause, so the accept loop neither stops nor spins.
    async fn accept(&self) -> (BoxIo, Option<SocketAddr>) {
        loop {
            let accepted = match self {
                Listener::Tcp(listener) => listener.accept().await.map(|(stream, peer)| {
                    // Small replies go out at once; gRPC and HTTP/2 frame their own writes.
                    let _ = stream.set_nodelay(true);
                    (Box::new(stream) as BoxIo, Some(peer))
                }),
                Listener::Unix { listener, .. } => listener
                    .accept()
                    .await
                    .map(|(stream, _)| (Box::new(stream) as BoxIo, None)),
            };
            match accepted {
                Ok(connection) => return connection,
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    tracing::error!("cannot accept connections: {e}; retrying in 1s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.local_address())
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// How [`serve`] serves each connection.
#[derive(Debug, Clone)]
pub struct Front {
    /// TLS for every connection ([`super::tls::ServerTls`], or a fixed
    /// [`super::tls::server_config`] through `into()`); `None` for cleartext. Each connection
    /// takes the configuration current when it is accepted.
    #[cfg(feature = "tls")]
    pub tls: Option<super::tls::ServerTls>,
    /// The HTTP/1.1 and HTTP/2 settings (see [`Front::http_builder`] for the defaults).
    pub http: auto::Builder<TokioExecutor>,
    /// How long a client may take to complete the TLS handshake.
    #[cfg(feature = "tls")]
    pub tls_handshake_timeout: Duration,
    /// After shutdown begins, how long in-flight requests may take before their connections are
    /// closed; `None` waits for them.
    pub grace_period: Option<Duration>,
    /// Each connection's header-read and idle timeouts and request-head bound (see
    /// [`super::serve`]).
    pub limits: super::serve::ConnLimits,
}

impl Front {
    /// Both protocols on one listener, with HTTP/2 extended CONNECT (WebSocket over HTTP/2) and
    /// a timer for the timeouts that may be configured on it.
    pub fn http_builder() -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        builder
            .http2()
            .timer(TokioTimer::new())
            .enable_connect_protocol();
        builder
    }
}

impl Default for Front {
    fn default() -> Self {
        Front {
            #[cfg(feature = "tls")]
            tls: None,
            http: Front::http_builder(),
            #[cfg(feature = "tls")]
            tls_handshake_timeout: Duration::from_secs(10),
            grace_period: None,
            limits: super::serve::ConnLimits::default(),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets in-flight
/// requests finish (within `front.grace_period`), and removes a Unix socket file.
///
/// Over TCP, each request carries the peer's address as
/// `axum::extract::ConnectInfo<SocketAddr>` (for `X-Forwarded-For`).
pub fn serve(
    listener: Listener,
    app: axum::Router,
    front: Front,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Pin<Box<dyn Future<Output = io::Result<()>> + Send>> {
    serve_boxed(listener, app, front, Box::pin(shutdown))
}

/// The server's future, made here rather than in the generic [`serve`]: the server is then
/// compiled once in this library, not again in every program that calls it.
fn serve_boxed(
    listener: Listener,
    app: axum::Router,
    front: Front,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
) -> Pin<Box<dyn Future<Output = io::Result<()>> + Send>> {
    Box::pin(serve_until(listener, app, front, shutdown))
}

async fn serve_until(
    listener: Listener,
    app: axum::Router,
    front: Front,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
) -> io::Result<()> {
    let http = Arc::new(super::serve::ConnSettings::new(
        front.http.clone(),
        front.limits.clone(),
    ));
    let (signal, draining) = tokio::sync::watch::channel(());
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = shutdown;
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            io,
            peer,
            handshake(&front),
            app.clone(),
            http.clone(),
            draining.clone(),
        ));
    }
    if let Listener::Unix { path, .. } = &listener {
        let _ = std::fs::remove_file(path);
    }
    drop(listener);
    let _ = signal.send(());
    let finished = async { while connections.join_next().await.is_some() {} };
    match front.grace_period {
        None => finished.await,
        Some(grace) => {
            if tokio::time::timeout(grace, finished).await.is_err() {
                tracing::warn!(
                    connections = connections.len(),
                    "grace period over: closing connections with requests in flight"
                );
                connections.abort_all();
                while connections.join_next().await.is_some() {}
            }
        }
    }
    Ok(())
}

/// A connection's TLS handshake: the configuration current when it is accepted, and the time
/// the client has to complete it. Without the `tls` feature there is none.
#[cfg(feature = "tls")]
type Handshake = (tokio_rustls::TlsAcceptor, Duration);
#[cfg(not(feature = "tls"))]
type Handshake = std::convert::Infallible;

#[cfg(feature = "tls")]
fn handshake(front: &Front) -> Option<Handshake> {
    let tls = front.tls.as_ref()?;
    Some((
        tokio_rustls::TlsAcceptor::from(tls.current()),
        front.tls_handshake_timeout,
    ))
}

#[cfg(not(feature = "tls"))]
fn handshake(_: &Front) -> Option<Handshake> {
    None
}

/// Serves one connection: the TLS handshake if any, then HTTP/1.1 or HTTP/2 (with upgrades)
/// until the client closes it or shutdown drains it.
async fn connection(
    io: BoxIo,
    peer: Option<SocketAddr>,
    tls: Option<Handshake>,
    app: axum::Router,
    http: Arc<super::serve::ConnSettings>,
    mut draining: tokio::sync::watch::Receiver<()>,
) {
    let io: BoxIo = match tls {
        None => io,
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
        #[cfg(feature = "tls")]
        Some((acceptor, handshake_timeout)) => {
            let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(io));
            tokio::select! {
                result = handshake => match result {
                    Ok(Ok(stream)) => Box::new(stream),
                    Ok(Err(e)) => {
                        tracing::debug!(?peer, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(?peer, "TLS handshake timed out");
                        return;
                    }
                },
                _ = draining.changed() => return,
            }
        }
    };
    // HTTP with the connection's header-read and idle timeouts; `draining` shuts it down
    // gracefully.
    let stop = async move {
        let _ = draining.changed().await;
    };
    super::serve::serve_connection(io, peer, app, &http, stop).await;
}
