//! One connection's HTTP with the limits the router cannot see: the header-read timeout
//! (slow-loris protection), the idle timeout, and the HTTP parser's bound on request heads.
//! [`super::listener::serve`] runs [`serve_connection`] on every connection it accepts (after
//! the TLS handshake, if any), with the [`ConnLimits`] of its `Front`.
//!
//! Every connection has a watch: while no request is in progress, it closes the connection when
//! a request head takes longer than the header-read timeout to arrive (counted from the
//! connection's start for the first head, from its first byte on a kept-alive HTTP/1.1
//! connection) or when it has been idle for the idle timeout. HTTP/2 connections get a `GOAWAY`;
//! a connection that does not close within a second is dropped.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::upstream::Options;

/// Slack the HTTP parser allows beyond `max_header_bytes` and `max_uri_bytes` (the request
/// line, the per-field overhead), so the router's exact checks answer first, with a status body.
const PARSER_SLACK: usize = 1024;

/// How long a connection closed by its watch gets to say goodbye (HTTP/2 `GOAWAY`) before it
/// is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The limits of each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    /// The longest a client may take to send a request head: from the connection's start for
    /// the first, from its first byte on a kept-alive HTTP/1.1 connection; then the connection
    /// is closed. `None`: no limit.
    pub header_read_timeout: Option<Duration>,
    /// A connection with no request in progress for this long is closed. `None`: no limit.
    pub idle_timeout: Option<Duration>,
    /// The largest request head (request line and header fields) the HTTP parser buffers;
    /// beyond it HTTP/1.1 gets 431 and the connection is closed (HTTP/2: the header list size
    /// the server announces). At least 8 KiB.
    pub max_head_bytes: usize,
}

impl Default for ConnLimits {
    /// 10 s to send a head, 60 s idle, and the head bound that goes with the default
    /// `max_header_bytes` and `max_uri_bytes` of [`Options`].
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(60)),
            max_head_bytes: 32 * 1024 + 8 * 1024 + PARSER_SLACK,
        }
    }
}

impl ConnLimits {
    /// The default timeouts, with the head bound that goes with the router's `max_header_bytes`
    /// and `max_uri_bytes` (their sum plus 1 KiB), so that the router's own checks, which
    /// answer with a status body, come first.
    pub fn for_options(options: &Options) -> Self {
        ConnLimits {
            max_head_bytes: options
                .max_header_bytes
                .saturating_add(options.max_uri_bytes)
                .saturating_add(PARSER_SLACK),
            ..ConnLimits::default()
        }
    }

    /// Sets `builder`'s parser limits, and turns off hyper's own HTTP/1.1 header-read timeout
    /// (the connection's watch enforces it; hyper's would also close kept-alive connections
    /// that are merely idle).
    pub fn configure(&self, builder: &mut auto::Builder<TokioExecutor>) {
        builder
            .http1()
            .header_read_timeout(None)
            .max_buf_size(self.max_head_bytes.max(8192));
        builder
            .http2()
            .max_header_list_size(u32::try_from(self.max_head_bytes).unwrap_or(u32::MAX));
    }
}

/// What [`serve_connection`] needs besides the connection: the HTTP settings, configured with
/// the limits (see [`ConnLimits::configure`]), and the limits.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    http: auto::Builder<TokioExecutor>,
    limits: ConnLimits,
}

impl ConnSettings {
    /// `http` (hyper's server settings) with `limits` applied to it.
    pub fn new(mut http: auto::Builder<TokioExecutor>, limits: ConnLimits) -> Self {
        limits.configure(&mut http);
        ConnSettings { http, limits }
    }
}

/// Serves HTTP/1.1 or HTTP/2 (with upgrades) on `io` with `app`, until the client closes the
/// connection, its watch closes it (see the module docs), or `stop` resolves (then it shuts
/// down gracefully: the requests in progress finish, no new one starts). Each request carries
/// `peer` as `axum::extract::ConnectInfo`.
pub async fn serve_connection<Io, A>(
    io: Io,
    peer: Option<A>,
    app: axum::Router,
    settings: &ConnSettings,
    stop: impl Future<Output = ()> + Send,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: Clone + Send + Sync + 'static,
{
    let limits = &settings.limits;
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(Tracked {
        io,
        state: state.clone(),
        rewrite: None,
    });
    let service = ConnService {
        router: app,
        peer,
        state: state.clone(),
    };
    let conn = settings.http.serve_connection_with_upgrades(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stop = std::pin::pin!(stop);
    let mut closing = false;
    let mut stopping = false;
    let give_up = tokio::time::sleep(CLOSE_GRACE);
    let mut give_up = std::pin::pin!(give_up);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                break;
            }
            () = &mut stop, if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            reason = state.expired(limits), if !closing => {
                tracing::debug!("closing connection: {reason}");
                closing = true;
                conn.as_mut().graceful_shutdown();
                give_up.as_mut().reset(Instant::now() + CLOSE_GRACE);
            }
            () = &mut give_up, if closing => {
                // A request that started meanwhile may finish; a half-sent head may not.
                if state.in_flight.load(Ordering::Acquire) == 0 {
                    break;
                }
                give_up.as_mut().reset(Instant::now() + CLOSE_GRACE);
            }
        }
    }
}

/// What a connection's watch needs to know: requests in progress, when the last one ended,
/// and whether a request head has started arriving. Times are milliseconds since the accept.
#[derive(Debug)]
struct ConnState {
    epoch: Instant,
    in_flight: AtomicUsize,
    /// When the last request ended (0: none yet, so the accept).
    last_done: AtomicU64,
    /// When the first byte of a request head arrived, plus one; 0 while none is pending.
    head_since: AtomicU64,
    /// HTTP/2: heads arrive as frames among others, so bytes say nothing about them.
    h2: AtomicBool,
    changed: Notify,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
            // The first head is awaited from the accept.
            head_since: AtomicU64::new(1),
            h2: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, millis: u64) -> Instant {
        self.epoch + Duration::from_millis(millis)
    }

    /// Bytes arrived: on an HTTP/1.1 connection with no request in progress, a head begins.
    fn bytes_read(&self) {
        if self.head_since.load(Ordering::Relaxed) == 0
            && self.in_flight.load(Ordering::Relaxed) == 0
            && !self.h2.load(Ordering::Relaxed)
        {
            self.head_since.store(self.now() + 1, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// A request head was read whole and its request starts.
    fn request_started(&self, version: http::Version) {
        if version == http::Version::HTTP_2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// A request's response ended (or was dropped).
    fn request_done(&self) {
        self.last_done.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// When the connection should close, and why; `None` while requests are in progress.
    fn deadline(&self, limits: &ConnLimits) -> Option<(Instant, &'static str)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_since.load(Ordering::Relaxed);
        let head = limits
            .header_read_timeout
            .filter(|_| head != 0)
            .map(|limit| {
                (
                    self.at(head - 1) + limit,
                    "request head not received in time",
                )
            });
        let idle = limits.idle_timeout.map(|limit| {
            (
                self.at(self.last_done.load(Ordering::Relaxed)) + limit,
                "idle timeout",
            )
        });
        match (head, idle) {
            (Some(h), Some(i)) => Some(if h.0 <= i.0 { h } else { i }),
            (h, i) => h.or(i),
        }
    }

    /// Resolves when a timeout expires, with its reason.
    async fn expired(&self, limits: &ConnLimits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                Some((at, reason)) if at <= Instant::now() => return reason,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// The connection's IO, noting when bytes arrive, and giving hyper's own answers to requests
/// it cannot parse a `google.rpc.Status` body (see [`parse_error_reply`]).
struct Tracked<Io> {
    io: Io,
    state: Arc<ConnState>,
    /// The reply that replaces hyper's, what of it is written, and the length of hyper's.
    rewrite: Option<(Bytes, usize, usize)>,
}

/// hyper answers a request it cannot parse (a garbage request line, a bad `Content-Length`, a
/// head past the parser's bound) by itself, with an empty body, before the router sees it.
/// That answer is recognised as it is written — on an HTTP/1.1 connection with no request in
/// progress, a 400, 414 or 431 whose `content-length` is 0, which the router never sends
/// (its errors have bodies, and it writes only while a request is in progress) — and
/// replaced by the same status with a `google.rpc.Status` JSON body, as every other error has.
fn parse_error_reply(head: &[u8]) -> Option<Bytes> {
    let (status, reason, code, message) = match head.get(..12)? {
        b"HTTP/1.1 400" => (
            400,
            "Bad Request",
            3,
            "malformed HTTP request: the request line or a header could not be parsed",
        ),
        b"HTTP/1.1 414" => (414, "URI Too Long", 8, "the request target is too long"),
        b"HTTP/1.1 431" => (
            431,
            "Request Header Fields Too Large",
            8,
            "the request head is larger than the server accepts",
        ),
        _ => return None,
    };
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let fields = std::str::from_utf8(&head[..end]).ok()?.to_ascii_lowercase();
    if end != head.len() || !fields.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = format!(r#"{{"code":{code},"message":"{message}","details":[]}}"#);
    let date = fields
        .split("\r\n")
        .find(|l| l.starts_with("date: "))
        .map(|l| format!("{l}\r\n"))
        .unwrap_or_default();
    Some(Bytes::from(format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{date}\r\n{body}",
        body.len()
    )))
}

impl<Io: AsyncWrite + Unpin> Tracked<Io> {
    /// Whether `buf` is hyper's own answer to a request it could not parse.
    fn is_parse_error_reply(&self, buf: &[u8]) -> Option<Bytes> {
        if self.state.h2.load(Ordering::Relaxed) || self.state.in_flight.load(Ordering::Acquire) > 0
        {
            return None;
        }
        parse_error_reply(buf)
    }

    /// Writes the replacement reply; `Ready(Ok(len))` with hyper's length once it is all out.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((reply, written, original)) = &mut self.rewrite {
            if *written == reply.len() {
                let original = *original;
                self.rewrite = None;
                return Poll::Ready(Ok(original));
            }
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &reply[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(0))
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Tracked<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.bytes_read();
        }
        polled
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Tracked<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.rewrite.is_none()
            && let Some(reply) = self.is_parse_error_reply(buf)
        {
            self.rewrite = Some((reply, 0, buf.len()));
        }
        if self.rewrite.is_some() {
            return self.poll_rewrite(cx);
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Gathered only for a status line that may be hyper's, never for a reply in progress.
        let maybe = |b: &io::IoSlice<'_>| b.starts_with(b"HTTP/1.1 4");
        if self.rewrite.is_none() && bufs.first().is_some_and(maybe) {
            let whole: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            if let Some(reply) = self.is_parse_error_reply(&whole) {
                self.rewrite = Some((reply, 0, whole.len()));
            }
        }
        if self.rewrite.is_some() {
            return self.poll_rewrite(cx);
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The router as a hyper service for one connection: adds the peer's address and counts the
/// requests in progress.
struct ConnService<A> {
    router: axum::Router,
    peer: Option<A>,
    state: Arc<ConnState>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<A: Clone + Send + Sync + 'static> hyper::service::Service<http::Request<hyper::body::Incoming>>
    for ConnService<A>
{
    type Response = http::Response<Counted>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        self.state.request_started(request.version());
        let guard = Done(self.state.clone());
        let mut request = request.map(Body::new);
        if let Some(peer) = &self.peer {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer.clone()));
        }
        let mut router = self.router.clone();
        Box::pin(async move {
            let response = match tower::Service::call(&mut router, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(|body| Counted { body, _done: guard }))
        })
    }
}

/// Ends a request for the connection's watch when dropped (with the response body, or with the
/// request's future if it is cancelled).
struct Done(Arc<ConnState>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// A response body that ends its request, for the connection's watch, when it is dropped.
struct Counted {
    body: Body,
    _done: Done,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_error_reply;

    #[test]
    fn only_hypers_own_empty_error_replies_are_replaced() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let reply = parse_error_reply(hyper).unwrap();
        let text = std::str::from_utf8(&reply).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.ends_with(r#"{"code":3,"message":"malformed HTTP request: the request line or a header could not be parsed","details":[]}"#));
        assert!(text.contains("date: x\r\n"), "{text}");
        // The router's own errors have bodies; a HEAD answer keeps its length.
        let router = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 9\r\n\r\n{\"code\":3}";
        assert!(parse_error_reply(router).is_none());
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 70\r\n\r\n";
        assert!(parse_error_reply(head).is_none());
        assert!(parse_error_reply(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
