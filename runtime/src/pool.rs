//! The upstream ([`Pool`]): gRPC over HTTP/2 to one or more addresses (`http://` for h2c,
//! `https://` for TLS, `unix:/path`), each over a pool of multiplexed connections, balanced
//! round-robin over the addresses that are up. A connection is made on first use and remade
//! after it breaks; when the upstream closes one gracefully (GOAWAY, as it does on shutdown), new
//! calls go on a new connection at once while the old one finishes its calls. An address that
//! refuses a connection is down: requests skip it, and while every address is down they fail at
//! once with UNAVAILABLE (503). A background task retries a down address with exponential
//! backoff and brings it back when it accepts a connection, so service resumes by itself after
//! the upstream restarts; and while every address is down, a request dials one itself (one dial
//! at a time per address, at most one every [`ON_DEMAND_DIAL_INTERVAL`]), so that the first
//! request after the upstream is back is served whatever the backoff timer's phase.

use std::fmt;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Uri;
use http::uri::{Authority, Scheme};
use tokio::net::{TcpStream, UnixStream};
use tower::Service;

use super::http2_client::{self, CallError, Client, KeepAlive};
use super::transport::{BoxIo, SetupError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What dials `https://` upstreams, and the name each connection sends and verifies; without
/// the `tls` feature there is none, and an `https://` address is refused when the pool is made.
#[cfg(feature = "tls")]
type Connector = tokio_rustls::TlsConnector;
#[cfg(feature = "tls")]
type ServerName = rustls::pki_types::ServerName<'static>;
#[cfg(not(feature = "tls"))]
type Connector = std::convert::Infallible;
#[cfg(not(feature = "tls"))]
type ServerName = std::convert::Infallible;

/// How to reach the gRPC upstream.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `http://host:port` (HTTP/2 in cleartext), `https://host:port` (TLS), or `unix:/path`;
    /// several are balanced round-robin.
    pub addresses: Vec<String>,
    /// TLS for `https://` addresses (from [`super::tls::client_config`]; ALPN `h2` is set
    /// here); `None` trusts the system's root certificates.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name to send (SNI) and to verify the upstream's certificate against, instead of
    /// each address's host.
    pub server_name: Option<String>,
    /// Connections per address (each multiplexes many calls); at least 1.
    pub pool_size: usize,
    /// How long dialing one connection may take (TCP, and TLS handshake).
    pub connect_timeout: Duration,
    /// Send HTTP/2 pings at this interval on connections with calls in flight, and drop a
    /// connection whose ping goes unanswered for `keep_alive_timeout`. `None`: no pings.
    pub keep_alive: Option<Duration>,
    /// How long a ping may go unanswered before the connection is dropped.
    pub keep_alive_timeout: Duration,
    /// Retry delays for an address that refuses connections.
    pub backoff: Backoff,
    /// Resolve DNS names at this interval and balance over every address they resolve to;
    /// `None` leaves resolution to each connection attempt.
    pub resolve_interval: Option<Duration>,
}

impl UpstreamConfig {
    /// `addresses` with the defaults: one connection each, a 5 s connect timeout, no pings,
    /// backoff from 100 ms to 2 s, no periodic resolution.
    pub fn new<S: Into<String>>(addresses: impl IntoIterator<Item = S>) -> Self {
        UpstreamConfig {
            addresses: addresses.into_iter().map(Into::into).collect(),
            #[cfg(feature = "tls")]
            tls: None,
            server_name: None,
            pool_size: 1,
            connect_timeout: Duration::from_secs(5),
            keep_alive: None,
            keep_alive_timeout: Duration::from_secs(20),
            backoff: Backoff::default(),
            resolve_interval: None,
        }
    }
}

/// Exponential backoff between reconnection attempts: `initial`, doubling up to `max`, each
/// delay varied by up to ±20% so that many proxies do not retry in step.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1 for the first).
    fn delay(&self, attempt: u32) -> Duration {
        let doubled = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let base = doubled.min(self.max);
        // ±20%, from the standard library's randomly seeded hasher.
        let random = std::collections::hash_map::RandomState::new().hash_one(attempt);
        let factor = 0.8 + (random % 401) as f64 / 1000.0;
        base.mul_f64(factor)
    }
}

/// The upstream: a tonic gRPC service (pass it to `router`) over every address and connection
/// of an [`UpstreamConfig`]. Cloning it is cheap; clones share the connections.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members = self.shared.members();
        f.debug_struct("Pool")
            .field(
                "members",
                &members
                    .iter()
                    .map(|m| (m.health.address.as_str(), m.health.is_up()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

struct Shared {
    members: RwLock<Arc<[Member]>>,
    next: AtomicUsize,
    factory: Factory,
}

/// One connection of the pool and the health of its address.
#[derive(Clone)]
struct Member {
    key: (usize, Option<SocketAddr>, usize),
    connection: Arc<Connection>,
    health: Arc<Health>,
}

/// A parsed upstream address.
#[derive(Debug, Clone)]
enum Target {
    Tcp {
        /// As written (`host:port`, `[::1]:50051`), for the `:authority` of calls.
        authority: String,
        /// Without IPv6 brackets, for dialing and as the TLS server name.
        host: String,
        port: u16,
        tls: bool,
    },
    Unix(PathBuf),
}

impl Target {
    fn parse(address: &str) -> Result<Target, SetupError> {
        if let Some(path) = address.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(SetupError::new(
                    "upstream unix: needs a socket path: unix:/path",
                ));
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        let unsupported = || {
            SetupError::new(format!(
                "unsupported upstream {address:?}: use http://host:port, https://host:port or unix:/path"
            ))
        };
        let uri: Uri = address.parse().map_err(|_| unsupported())?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(unsupported()),
        };
        let authority = uri.authority().ok_or_else(unsupported)?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(SetupError::new(format!(
                "upstream {address:?}: a path is not supported; gRPC calls go to /package.Service/Method"
            )));
        }
        let host = authority.host();
        Ok(Target::Tcp {
            authority: authority.as_str().to_string(),
            host: host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host)
                .to_string(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
        })
    }

    /// A host name to resolve periodically (not an IP address, not a Unix socket).
    fn dns_name(&self) -> Option<(&str, u16)> {
        match self {
            Target::Tcp { host, port, .. } if host.parse::<std::net::IpAddr>().is_err() => {
                Some((host.as_str(), *port))
            }
            _ => None,
        }
    }
}

/// Everything needed to make pool members.
struct Factory {
    targets: Vec<Target>,
    tls: Option<Connector>,
    config: UpstreamConfig,
}

/// The scheme and authority of the calls to `target` (`:scheme` and `:authority`): the address as
/// written, or `localhost` over a Unix socket.
fn origin(target: &Target) -> Result<(Scheme, Authority), SetupError> {
    match target {
        Target::Unix(_) => Ok((Scheme::HTTP, Authority::from_static("localhost"))),
        Target::Tcp { authority, tls, .. } => {
            let scheme = if *tls { Scheme::HTTPS } else { Scheme::HTTP };
            let authority = authority
                .parse()
                .map_err(|e| SetupError::new(format!("upstream authority {authority:?}: {e}")))?;
            Ok((scheme, authority))
        }
    }
}

impl Factory {
    /// The members for target `index`, at `resolved` if given (else dialing its name).
    fn members(
        &self,
        index: usize,
        resolved: Option<SocketAddr>,
        reuse: &[Member],
    ) -> Result<Vec<Member>, SetupError> {
        let target = &self.targets[index];
        let mut health = None;
        let mut members = Vec::with_capacity(self.config.pool_size);
        for slot in 0..self.config.pool_size {
            let key = (index, resolved, slot);
            if let Some(old) = reuse.iter().find(|m| m.key == key) {
                members.push(old.clone());
                continue;
            }
            let dial = Arc::new(self.dial(target, resolved)?);
            let health = health
                .get_or_insert_with(|| {
                    reuse
                        .iter()
                        .find(|m| m.key.0 == index && m.key.1 == resolved)
                        .map(|m| m.health.clone())
                        .unwrap_or_else(|| {
                            Arc::new(Health::new(dial.describe(), self.config.backoff))
                        })
                })
                .clone();
            let (scheme, authority) = origin(target)?;
            let connection = Arc::new(Connection {
                dial,
                health: health.clone(),
                keep_alive: self.config.keep_alive.map(|interval| KeepAlive {
                    interval,
                    timeout: self.config.keep_alive_timeout,
                }),
                scheme,
                authority,
                client: Mutex::new(None),
                dialing: tokio::sync::Mutex::new(()),
            });
            members.push(Member {
                key,
                connection,
                health,
            });
        }
        Ok(members)
    }

    fn dial(&self, target: &Target, resolved: Option<SocketAddr>) -> Result<Dial, SetupError> {
        let (address, tls) = match target {
            Target::Unix(path) => (DialAddress::Unix(path.clone()), None),
            Target::Tcp {
                host, port, tls, ..
            } => {
                let address = match resolved {
                    Some(addr) => DialAddress::Resolved {
                        name: format!("{host}:{port}"),
                        addr,
                    },
                    None => DialAddress::Name(host.clone(), *port),
                };
                let tls = if *tls {
                    let connector = self.tls.as_ref().ok_or_else(|| {
                        SetupError::new("TLS upstream without a TLS configuration")
                    })?;
                    Some(with_server_name(connector, &self.config, host)?)
                } else {
                    None
                };
                (address, tls)
            }
        };
        Ok(Dial {
            address,
            tls,
            timeout: self.config.connect_timeout,
        })
    }
}

impl Pool {
    /// Sets up the pool; no connection is made until a call needs one, so the proxy starts while
    /// the upstream is down. Call it within a Tokio runtime.
    pub fn new(config: &UpstreamConfig) -> Result<Pool, SetupError> {
        if config.addresses.is_empty() {
            return Err(SetupError::new("no upstream address"));
        }
        if config.pool_size == 0 {
            return Err(SetupError::new("the upstream pool size must be at least 1"));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SetupError::new(
                "the upstream pool must be created within a Tokio runtime",
            ));
        }
        let targets = config
            .addresses
            .iter()
            .map(|a| Target::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        let needs_tls = targets
            .iter()
            .any(|t| matches!(t, Target::Tcp { tls: true, .. }));
        let tls = if needs_tls {
            Some(connector(config)?)
        } else {
            None
        };
        let factory = Factory {
            targets,
            tls,
            config: config.clone(),
        };
        let mut members = Vec::new();
        for index in 0..factory.targets.len() {
            members.extend(factory.members(index, None, &[])?);
        }
        let resolve = config
            .resolve_interval
            .filter(|_| factory.targets.iter().any(|t| t.dns_name().is_some()));
        let shared = Arc::new(Shared {
            members: RwLock::new(members.into()),
            next: AtomicUsize::new(0),
            factory,
        });
        if let Some(interval) = resolve {
            tokio::spawn(resolve_periodically(Arc::downgrade(&shared), interval));
        }
        Ok(Pool { shared })
    }

    /// The pool's addresses and their state, read at each scrape, for
    /// `Options::upstream_addresses`. It holds the pool weakly: the metrics do not keep it.
    pub fn addresses(&self) -> crate::metrics::UpstreamAddresses {
        let shared = Arc::downgrade(&self.shared);
        crate::metrics::UpstreamAddresses::new(move || {
            shared
                .upgrade()
                .map(|shared| Pool { shared }.members())
                .unwrap_or_default()
        })
    }

    /// The pool's addresses (one per resolved address and connection) and whether each is up.
    pub fn members(&self) -> Vec<(String, bool)> {
        self.shared
            .members()
            .iter()
            .map(|m| (m.health.address.clone(), m.health.is_up()))
            .collect()
    }
}

impl Shared {
    fn members(&self) -> Arc<[Member]> {
        self.members
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The next member round-robin whose address is up. When none is, a down one that a
    /// request may dial now ([`Health::claim_dial`]), with the claim to hold until the call
    /// ends; else UNAVAILABLE at once.
    fn pick(&self) -> Result<(Member, Option<DialClaim>), tonic::Status> {
        let members = self.members();
        let n = members.len();
        if n == 0 {
            return Err(tonic::Status::unavailable(
                "upstream unavailable: no address",
            ));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let member = &members[(start + i) % n];
            if member.health.is_up() {
                return Ok((member.clone(), None));
            }
        }
        for i in 0..n {
            let member = &members[(start + i) % n];
            if let Some(claim) = member.health.claim_dial() {
                return Ok((member.clone(), Some(claim)));
            }
        }
        let health = &members[start % n].health;
        Err(tonic::Status::unavailable(format!(
            "upstream {} unavailable: {}; reconnecting",
            health.address,
            health.last_error()
        )))
    }
}

impl Service<http::Request<tonic::body::Body>> for Pool {
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Each call waits for its own connection.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let picked = self.shared.pick();
        Box::pin(async move {
            let (member, _claim) = picked?;
            let result = member.connection.call(request).await;
            // Every failure here is the transport's: the call did not reach the upstream or
            // its connection broke before a response, so it is UNAVAILABLE (503).
            result.map_err(|e| {
                let status = tonic::Status::unavailable(format!(
                    "upstream {} unavailable: {}",
                    member.health.address,
                    error_chain(&*e)
                ));
                Box::new(status) as BoxError
            })
        })
    }
}

/// An error and its sources, `: `-separated, without repeats.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// Re-resolves the DNS names of the pool's targets every `interval`, and replaces the members of
/// each name by one set per address it resolves to (keeping the connections of addresses that
/// stay). A failed lookup keeps the previous addresses. Stops when the pool is dropped.
async fn resolve_periodically(shared: Weak<Shared>, interval: Duration) {
    loop {
        let names: Vec<(usize, String, u16)> = match shared.upgrade() {
            Some(s) => s
                .factory
                .targets
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.dns_name().map(|(h, p)| (i, h.to_string(), p)))
                .collect(),
            None => return,
        };
        let mut resolved = Vec::new();
        for (index, host, port) in names {
            match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(addrs) => {
                    let mut addrs: Vec<SocketAddr> = addrs.collect();
                    addrs.sort();
                    addrs.dedup();
                    if addrs.is_empty() {
                        tracing::warn!(%host, "upstream name resolved to no address; keeping the previous ones");
                    } else {
                        resolved.push((index, addrs));
                    }
                }
                Err(e) => {
                    tracing::warn!(%host, "cannot resolve the upstream name: {e}; keeping the previous addresses");
                }
            }
        }
        let Some(s) = shared.upgrade() else { return };
        if let Err(e) = s.update(&resolved) {
            tracing::warn!("cannot update the upstream addresses: {e}");
        }
        drop(s);
        tokio::time::sleep(interval).await;
    }
}

impl Shared {
    /// Replaces the members of each resolved target.
    fn update(&self, resolved: &[(usize, Vec<SocketAddr>)]) -> Result<(), SetupError> {
        let old = self.members();
        let mut members = Vec::new();
        for index in 0..self.factory.targets.len() {
            match resolved.iter().find(|(i, _)| *i == index) {
                Some((_, addrs)) => {
                    for addr in addrs {
                        members.extend(self.factory.members(index, Some(*addr), &old)?);
                    }
                }
                None => members.extend(old.iter().filter(|m| m.key.0 == index).cloned()),
            }
        }
        let changed = members.len() != old.len()
            || members.iter().zip(old.iter()).any(|(a, b)| a.key != b.key);
        if changed {
            let mut addresses: Vec<&str> =
                members.iter().map(|m| m.health.address.as_str()).collect();
            addresses.dedup();
            tracing::info!(upstreams = ?addresses, "upstream addresses changed");
            *self.members.write().unwrap_or_else(PoisonError::into_inner) = members.into();
        }
        Ok(())
    }
}

/// Where and how one connection is dialed.
struct Dial {
    address: DialAddress,
    /// The TLS connector and the server name to send and verify.
    tls: Option<(Connector, ServerName)>,
    timeout: Duration,
}

enum DialAddress {
    /// A host name or IP address, resolved by each attempt.
    Name(String, u16),
    /// One address a name resolved to.
    Resolved {
        name: String,
        addr: SocketAddr,
    },
    Unix(PathBuf),
}

impl Dial {
    fn describe(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match &self.address {
            DialAddress::Name(host, port) if host.contains(':') => {
                format!("{scheme}://[{host}]:{port}")
            }
            DialAddress::Name(host, port) => format!("{scheme}://{host}:{port}"),
            DialAddress::Resolved { name, addr } => format!("{scheme}://{name} ({addr})"),
            DialAddress::Unix(path) => format!("unix:{}", path.display()),
        }
    }

    /// One connection, TLS handshake included, within the connect timeout.
    async fn connect(&self) -> io::Result<BoxIo> {
        let connect = async {
            let stream: BoxIo = match &self.address {
                DialAddress::Unix(path) => Box::new(UnixStream::connect(path).await?),
                DialAddress::Name(host, port) => {
                    tcp(TcpStream::connect((host.as_str(), *port)).await?)
                }
                DialAddress::Resolved { addr, .. } => tcp(TcpStream::connect(addr).await?),
            };
            match &self.tls {
                None => Ok(stream),
                #[cfg(feature = "tls")]
                Some((connector, name)) => {
                    let stream = connector.connect(name.clone(), stream).await?;
                    Ok(Box::new(stream) as BoxIo)
                }
                #[cfg(not(feature = "tls"))]
                Some((never, _)) => match *never {},
            }
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection within {:?}", self.timeout),
            )),
        }
    }
}

/// The connector of `https://` upstreams: the configured TLS, or the system's roots; ALPN `h2`.
#[cfg(feature = "tls")]
fn connector(config: &UpstreamConfig) -> Result<Connector, SetupError> {
    let config = match &config.tls {
        Some(c) => c.clone(),
        None => super::tls::client_config(None, None)?,
    };
    let mut config = (*config).clone();
    // gRPC is HTTP/2 only.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(not(feature = "tls"))]
fn connector(_: &UpstreamConfig) -> Result<Connector, SetupError> {
    Err(SetupError::new(
        "an https:// upstream needs TLS: build protogate-runtime with its `tls` feature",
    ))
}

/// `connector` with the name a connection to `host` sends (SNI) and verifies: the configured
/// one, or the host.
#[cfg(feature = "tls")]
fn with_server_name(
    connector: &Connector,
    config: &UpstreamConfig,
    host: &str,
) -> Result<(Connector, ServerName), SetupError> {
    let name = config
        .server_name
        .clone()
        .unwrap_or_else(|| host.to_string());
    let name = rustls::pki_types::ServerName::try_from(name.clone())
        .map_err(|e| SetupError::new(format!("upstream TLS server name {name:?}: {e}")))?;
    Ok((connector.clone(), name))
}

#[cfg(not(feature = "tls"))]
fn with_server_name(
    never: &Connector,
    _: &UpstreamConfig,
    _: &str,
) -> Result<(Connector, ServerName), SetupError> {
    match *never {}
}

fn tcp(stream: TcpStream) -> BoxIo {
    let _ = stream.set_nodelay(true);
    Box::new(stream)
}

/// The health of one upstream address, shared by its connections.
struct Health {
    address: String,
    backoff: Backoff,
    up: AtomicBool,
    state: Mutex<HealthState>,
}

#[derive(Default)]
struct HealthState {
    failures: u32,
    last_error: String,
    probing: bool,
    /// When a request last dialed the address while it was down, and whether that call is
    /// still going.
    last_claim: Option<Instant>,
    claimed: bool,
}

/// The least time between two dials that requests make themselves to an address that is
/// down: a refused dial costs microseconds, so this bounds a flood of requests to 40 dials a
/// second per address while a returning upstream waits at most this long for its first call.
pub const ON_DEMAND_DIAL_INTERVAL: Duration = Duration::from_millis(25);

/// A request's leave to dial a down address ([`Health::claim_dial`]); given back when dropped,
/// whatever became of the call.
struct DialClaim(Arc<Health>);

impl Drop for DialClaim {
    fn drop(&mut self) {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claimed = false;
    }
}

impl Health {
    fn new(address: String, backoff: Backoff) -> Self {
        Health {
            address,
            backoff,
            up: AtomicBool::new(true),
            state: Mutex::new(HealthState::default()),
        }
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Leave for a request to dial this address although it is down: no other request is
    /// dialing it and none did in the last [`ON_DEMAND_DIAL_INTERVAL`]. The background retry
    /// alone would leave a restarted upstream unused until its next backoff step (up to the
    /// backoff's maximum).
    fn claim_dial(self: &Arc<Self>) -> Option<DialClaim> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let recent = state
            .last_claim
            .is_some_and(|at| now.duration_since(at) < ON_DEMAND_DIAL_INTERVAL);
        if state.claimed || recent {
            return None;
        }
        state.claimed = true;
        state.last_claim = Some(now);
        Some(DialClaim(self.clone()))
    }

    fn last_error(&self) -> String {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error
            .clone()
    }

    /// A connection was made: the address is up.
    fn connected(&self) {
        let was_down = !self.up.swap(true, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.failures = 0;
        if was_down {
            tracing::info!(upstream = %self.address, "upstream reachable again");
        }
    }

    /// A connection attempt failed: the address is down until a retry, with backoff, connects.
    fn failed(self: &Arc<Self>, dial: &Arc<Dial>, error: &io::Error) {
        let was_up = self.up.swap(false, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.failures = state.failures.saturating_add(1);
        state.last_error = error.to_string();
        if was_up {
            tracing::warn!(upstream = %self.address, "upstream unreachable: {error}; retrying with backoff");
        }
        if !state.probing {
            state.probing = true;
            tokio::spawn(retry(Arc::downgrade(self), dial.clone()));
        }
    }
}

/// Dials a down address with backoff until it accepts a connection, then marks it up (the
/// connection is dropped: the pool's own connections are remade by the next calls). Stops when
/// the pool is dropped.
async fn retry(health: Weak<Health>, dial: Arc<Dial>) {
    loop {
        let delay = match health.upgrade() {
            Some(h) => {
                let mut state = h.state.lock().unwrap_or_else(PoisonError::into_inner);
                if h.is_up() {
                    state.probing = false;
                    return;
                }
                h.backoff.delay(state.failures)
            }
            None => return,
        };
        tokio::time::sleep(delay).await;
        let result = dial.connect().await;
        let Some(h) = health.upgrade() else { return };
        match result {
            Ok(_) => {
                h.connected();
                h.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .probing = false;
                return;
            }
            Err(e) => {
                let mut state = h.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.failures = state.failures.saturating_add(1);
                state.last_error = e.to_string();
                tracing::debug!(upstream = %h.address, "upstream still unreachable: {e}");
            }
        }
    }
}

/// One connection of the pool: dialed when a call first needs it, shared by every call in
/// flight (HTTP/2 multiplexes them), and dialed again by the next call once it has closed. The
/// outcome of each dial is reported to the address's health.
struct Connection {
    dial: Arc<Dial>,
    health: Arc<Health>,
    keep_alive: Option<KeepAlive>,
    scheme: Scheme,
    authority: Authority,
    /// The open connection, once dialed.
    client: Mutex<Option<Client>>,
    /// Held while dialing, so that the calls that need a connection at once share one.
    dialing: tokio::sync::Mutex<()>,
}

impl Connection {
    /// Sends the call (its URI is the method's path) and waits for the response headers.
    async fn call(
        &self,
        mut request: http::Request<tonic::body::Body>,
    ) -> Result<http::Response<tonic::body::Body>, BoxError> {
        let mut uri = std::mem::take(request.uri_mut()).into_parts();
        uri.scheme = Some(self.scheme.clone());
        uri.authority = Some(self.authority.clone());
        *request.uri_mut() = Uri::from_parts(uri)?;
        let response = match self.client().await?.call(request).await {
            // The upstream is closing this connection (a graceful shutdown or restart): the call
            // goes on a new one, dialed now, rather than failing while the old one drains.
            Err(CallError::NotSent(_, request)) => self.client().await?.call(*request).await,
            sent => sent,
        };
        match response {
            Ok(response) => Ok(response.map(tonic::body::Body::new)),
            Err(CallError::NotSent(e, _) | CallError::Failed(e)) => Err(e.into()),
        }
    }

    /// The open connection, unless it has closed.
    fn open(&self) -> Option<Client> {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|client| !client.is_closed())
            .cloned()
    }

    /// The open connection, or a new one.
    async fn client(&self) -> Result<Client, BoxError> {
        if let Some(client) = self.open() {
            return Ok(client);
        }
        let _dialing = self.dialing.lock().await;
        // Another call may have dialed while this one waited.
        if let Some(client) = self.open() {
            return Ok(client);
        }
        let io = match self.dial.connect().await {
            Ok(io) => {
                self.health.connected();
                io
            }
            Err(e) => {
                self.health.failed(&self.dial, &e);
                return Err(e.into());
            }
        };
        let client =
            http2_client::handshake(io, self.keep_alive, self.health.address.clone()).await?;
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = Some(client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(address: &str) -> String {
        match Pool::new(&UpstreamConfig::new([address])) {
            Ok(_) => panic!("{address} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn addresses_that_cannot_be_dialed_are_refused_with_the_forms_that_can() {
        assert!(refusal("unix:").contains("unix:/path"));
        assert!(refusal("ftp://host:1").contains("use http://host:port"));
        assert!(refusal("http://host:1/v1").contains("a path is not supported"));
    }

    #[tokio::test]
    async fn a_pool_is_made_without_dialing() {
        assert!(
            Pool::new(&UpstreamConfig::new([
                "http://127.0.0.1:1",
                "unix:/nowhere"
            ]))
            .is_ok()
        );
    }

    /// Without the `tls` feature nothing can dial TLS: the pool says so when it is made, not
    /// at the first call.
    #[cfg(not(feature = "tls"))]
    #[tokio::test]
    async fn without_tls_an_https_upstream_is_refused_with_the_fix() {
        let message = refusal("https://example.com:443");
        assert!(message.contains("`tls` feature"), "{message}");
    }

    #[cfg(feature = "tls")]
    #[tokio::test]
    async fn with_tls_an_https_upstream_is_taken() {
        assert!(Pool::new(&UpstreamConfig::new(["https://example.com:443"])).is_ok());
    }
}
