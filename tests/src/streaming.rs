//! The streaming RPCs of the echo upstream, with registries the tests read to see what the
//! upstream saw (how far a stream got, whether it was cancelled, how many bytes it produced),
//! and the client helpers of the streaming tests.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

use crate::pb::{
    Collected, DownloadRequest, Echo, Nested, StreamReply, StreamRequest, UploadReply,
    UploadRequest,
};

/// `google.api.HttpBody`, as the upstream's tonic code names it.
pub use crate::pb_google_api::HttpBody;

/// A boxed response stream of the echo service.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// How a stream ended, as the upstream saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Still running.
    #[default]
    Running,
    /// Ran to its end (the client's half-close, or the last reply).
    Completed,
    /// The incoming stream failed (reset by the proxy): the status message.
    Failed(String),
    /// Dropped before its end: the call was cancelled.
    Cancelled,
}

/// What the upstream knows about one stream, by the id the test gave it.
#[derive(Debug, Clone, Default)]
pub struct StreamState {
    /// Replies sent (server streams) or messages received (client streams).
    pub count: usize,
    pub outcome: Outcome,
}

static STREAMS: Mutex<BTreeMap<String, StreamState>> = Mutex::new(BTreeMap::new());

fn update(id: &str, f: impl FnOnce(&mut StreamState)) {
    let mut streams = STREAMS.lock().unwrap_or_else(PoisonError::into_inner);
    f(streams.entry(id.to_string()).or_default());
}

/// The upstream's view of the stream with this id (default when it never started).
pub fn stream_state(id: &str) -> StreamState {
    STREAMS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(id)
        .cloned()
        .unwrap_or_default()
}

/// Waits (up to 10 s) until the stream with this id satisfies `done`; returns its state.
pub async fn wait_for_stream(id: &str, done: impl Fn(&StreamState) -> bool) -> StreamState {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = stream_state(id);
        if done(&state) || tokio::time::Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Marks a stream finished well when dropped after `complete`, cancelled otherwise.
struct Guard {
    id: String,
    complete: bool,
}

impl Guard {
    fn new(id: &str) -> Guard {
        update(id, |s| *s = StreamState::default());
        Guard {
            id: id.to_string(),
            complete: false,
        }
    }

    fn count(&self) {
        update(&self.id, |s| s.count += 1);
    }

    fn finish(&mut self, outcome: Outcome) {
        self.complete = true;
        update(&self.id, |s| s.outcome = outcome);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.complete {
            update(&self.id, |s| s.outcome = Outcome::Cancelled);
        }
    }
}

/// Permits for gated streams, by id.
static GATES: Mutex<BTreeMap<String, Arc<tokio::sync::Semaphore>>> = Mutex::new(BTreeMap::new());

fn gate(id: &str) -> Arc<tokio::sync::Semaphore> {
    GATES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(id.to_string())
        .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(0)))
        .clone()
}

/// Lets a gated stream send `n` more replies.
pub fn release(id: &str, n: usize) {
    gate(id).add_permits(n);
}

/// `Stream`: `count` replies, paced, gated or failing as the request asks.
pub fn server_stream(
    request: Request<StreamRequest>,
) -> Result<Response<BoxStream<StreamReply>>, Status> {
    let metadata = crate::reply_metadata(
        &request.get_ref().reply_headers,
        &request.get_ref().reply_trailers,
    );
    let r = request.into_inner();
    if r.fail_code != 0 && r.fail_after < 0 {
        return Err(Status::new(
            tonic::Code::from_i32(r.fail_code),
            "failed before streaming",
        ));
    }
    let guard = Guard::new(&r.id);
    let stream = futures_util::stream::unfold(
        (r, 0i32, guard, false),
        |(r, index, mut guard, ended)| async move {
            if ended {
                return None;
            }
            if index >= r.count && !(r.fail_code != 0 && index == r.fail_after) {
                guard.finish(Outcome::Completed);
                return None;
            }
            if index > 0 && r.interval_ms > 0 {
                tokio::time::sleep(Duration::from_millis(u64::from(r.interval_ms))).await;
            }
            if index > 0
                && r.gated
                && let Ok(permit) = gate(&r.id).acquire().await
            {
                permit.forget();
            }
            if r.fail_code != 0 && index == r.fail_after {
                guard.finish(Outcome::Completed);
                let status = Status::new(
                    tonic::Code::from_i32(r.fail_code),
                    format!("failed after {index} replies"),
                );
                return Some((Err(status), (r, index, guard, true)));
            }
            if index >= r.count {
                guard.finish(Outcome::Completed);
                return None;
            }
            let reply = StreamReply {
                id: r.id.clone(),
                index,
                nested: Some(Nested {
                    name: format!("nested {index}"),
                    count: index,
                    notes: Vec::new(),
                }),
                padding: "x".repeat(r.padding as usize),
            };
            guard.count();
            Some((Ok(reply), (r, index + 1, guard, false)))
        },
    );
    let mut response = Response::new(Box::pin(stream) as BoxStream<StreamReply>);
    *response.metadata_mut() = metadata;
    Ok(response)
}

/// `Collect`: reads the whole stream, then answers with it. A message named `fail:<code>`
/// fails the call with that code.
pub async fn collect(request: Request<Streaming<Echo>>) -> Result<Response<Collected>, Status> {
    let mut incoming = request.into_inner();
    let mut received = Vec::new();
    let mut guard: Option<Guard> = None;
    loop {
        match incoming.message().await {
            Ok(Some(message)) => {
                let g = guard.get_or_insert_with(|| Guard::new(&message.id));
                g.count();
                if let Some(code) = message.name.strip_prefix("fail:") {
                    let code = code.parse().unwrap_or(2);
                    g.finish(Outcome::Completed);
                    return Err(Status::new(tonic::Code::from_i32(code), "failed as asked"));
                }
                received.push(message);
            }
            Ok(None) => break,
            Err(status) => {
                if let Some(g) = &mut guard {
                    g.finish(Outcome::Failed(status.message().to_string()));
                }
                return Err(status);
            }
        }
    }
    if let Some(g) = &mut guard {
        g.finish(Outcome::Completed);
    }
    let count = i32::try_from(received.len()).unwrap_or(i32::MAX);
    Ok(Response::new(Collected { received, count }))
}

/// `Chat`: echoes each message as it arrives.
pub fn chat(request: Request<Streaming<Echo>>) -> Result<Response<BoxStream<Echo>>, Status> {
    let incoming = request.into_inner();
    let stream = futures_util::stream::unfold(
        (incoming, None::<Guard>, false),
        |(mut incoming, mut guard, ended)| async move {
            if ended {
                return None;
            }
            match incoming.message().await {
                Ok(Some(message)) => {
                    let g = guard.get_or_insert_with(|| Guard::new(&message.id));
                    g.count();
                    if let Some(code) = message.name.strip_prefix("fail:") {
                        g.finish(Outcome::Completed);
                        let code = tonic::Code::from_i32(code.parse().unwrap_or(2));
                        let status = Status::new(code, "failed as asked");
                        return Some((Err(status), (incoming, guard, true)));
                    }
                    Some((Ok(message), (incoming, guard, false)))
                }
                Ok(None) => {
                    if let Some(g) = &mut guard {
                        g.finish(Outcome::Completed);
                    }
                    None
                }
                Err(status) => {
                    if let Some(g) = &mut guard {
                        g.finish(Outcome::Failed(status.message().to_string()));
                    }
                    None
                }
            }
        },
    );
    Ok(Response::new(Box::pin(stream) as BoxStream<Echo>))
}

/// Bytes the `Download` streams produced (pulled by tonic), by name.
static PRODUCED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// How many bytes the download with this name has produced so far.
pub fn produced(name: &str) -> u64 {
    PRODUCED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .copied()
        .unwrap_or(0)
}

/// The deterministic content of downloads: byte `i` of a file.
pub fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(31) % 251) as u8
}

/// `len` bytes of the pattern from `offset`.
pub fn pattern(offset: u64, len: u64) -> Vec<u8> {
    (offset..offset + len).map(pattern_byte).collect()
}

/// `Download`: `size` bytes of the pattern in chunks, produced only as tonic pulls them.
pub fn download(
    request: Request<DownloadRequest>,
) -> Result<Response<BoxStream<HttpBody>>, Status> {
    let r = request.into_inner();
    if r.name.starts_with("missing") {
        return Err(Status::not_found(format!("no file {}", r.name)));
    }
    PRODUCED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(r.name.clone(), 0);
    let guard = Guard::new(&r.name);
    let chunk = if r.chunk == 0 {
        64 * 1024
    } else {
        u64::from(r.chunk)
    };
    let stream = futures_util::stream::unfold(
        (r, 0u64, 0u32, guard),
        move |(r, offset, chunks, mut guard)| async move {
            if r.fail_after != 0 && chunks == r.fail_after {
                if chunks == u32::MAX {
                    return None;
                }
                guard.finish(Outcome::Completed);
                let status = Status::data_loss(format!("disk failed after {chunks} chunks"));
                return Some((Err(status), (r, offset, u32::MAX, guard)));
            }
            if offset >= r.size {
                guard.finish(Outcome::Completed);
                return None;
            }
            let len = chunk.min(r.size - offset);
            let body = HttpBody {
                content_type: r.content_type.clone(),
                data: pattern(offset, len),
                extensions: Vec::new(),
            };
            *PRODUCED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(r.name.clone())
                .or_default() += len;
            guard.count();
            Some((Ok(body), (r, offset + len, chunks + 1, guard)))
        },
    );
    Ok(Response::new(Box::pin(stream) as BoxStream<HttpBody>))
}

/// `GetRaw`: the whole file in one HttpBody.
pub fn get_raw(request: Request<DownloadRequest>) -> Result<Response<HttpBody>, Status> {
    let r = request.into_inner();
    Ok(Response::new(HttpBody {
        content_type: r.content_type,
        data: pattern(0, r.size),
        extensions: Vec::new(),
    }))
}

/// FNV-1a 64, in hex: the upload checksum.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }

    /// The checksum of `data`.
    pub fn of(data: &[u8]) -> String {
        let mut f = Fnv::default();
        f.update(data);
        f.hex()
    }
}

/// `PutRaw`: what arrived.
pub fn put_raw(request: Request<HttpBody>) -> Result<Response<UploadReply>, Status> {
    let body = request.into_inner();
    Ok(Response::new(UploadReply {
        name: String::new(),
        content_type: body.content_type,
        size: body.data.len() as u64,
        chunks: 1,
        checksum: Fnv::of(&body.data),
        note: String::new(),
    }))
}

/// `PutRawField`: what arrived, with the other fields.
pub fn put_raw_field(request: Request<UploadRequest>) -> Result<Response<UploadReply>, Status> {
    let r = request.into_inner();
    let file = r.file.unwrap_or_default();
    Ok(Response::new(UploadReply {
        name: r.name,
        content_type: file.content_type,
        size: file.data.len() as u64,
        chunks: 1,
        checksum: Fnv::of(&file.data),
        note: r.note,
    }))
}

/// Bytes received by the `UploadNamed` streams in progress, by name.
static UPLOADED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// How many bytes the upload with this name has received so far.
pub fn uploaded(name: &str) -> u64 {
    UPLOADED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .copied()
        .unwrap_or(0)
}

/// `Upload` and `UploadNamed`: counts and checksums the chunks.
pub async fn upload<M>(
    request: Request<Streaming<M>>,
    parts: impl Fn(M) -> (String, HttpBody, String),
) -> Result<Response<UploadReply>, Status>
where
    M: Send + 'static,
{
    let mut incoming = request.into_inner();
    let mut reply = UploadReply::default();
    let mut sum = Fnv::default();
    while let Some(message) = incoming.message().await? {
        let (name, body, note) = parts(message);
        if reply.chunks == 0 {
            reply.name = name;
            reply.content_type = body.content_type;
            reply.note = note;
        }
        reply.chunks += 1;
        reply.size += body.data.len() as u64;
        sum.update(&body.data);
        if !reply.name.is_empty() {
            UPLOADED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(reply.name.clone(), reply.size);
        }
    }
    reply.checksum = sum.hex();
    Ok(Response::new(reply))
}

/// `EchoRaw`: every chunk back as it is.
pub fn echo_raw(
    request: Request<Streaming<HttpBody>>,
) -> Result<Response<BoxStream<HttpBody>>, Status> {
    let stream = request.into_inner().map(|r| r);
    Ok(Response::new(Box::pin(stream) as BoxStream<HttpBody>))
}

// =============================================================================================
// Clients: HTTP/1.1 and HTTP/2 with request bodies fed chunk by chunk, and line readers.

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt as _;

/// Which HTTP version a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http1,
    /// h2c with prior knowledge.
    Http2,
}

impl Version {
    pub const BOTH: [Version; 2] = [Version::Http1, Version::Http2];
}

/// A request body the test feeds chunk by chunk ([`BodyFeed`]), ending when the feed is dropped
/// or finished.
pub type FedBody = http_body_util::StreamBody<
    futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>,
>;

/// The feeding end of a [`FedBody`].
#[derive(Debug)]
pub struct BodyFeed(tokio::sync::mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>);

impl BodyFeed {
    /// Sends a chunk of the body.
    pub async fn send(&self, data: impl Into<Bytes>) {
        self.0
            .send(Ok(Frame::data(data.into())))
            .await
            .expect("the request body is still being read");
    }

    /// Makes the body fail, as a client whose connection breaks mid-body.
    pub async fn fail(self) {
        let _ = self
            .0
            .send(Err(std::io::Error::other("the client gave up")))
            .await;
    }
}

/// A body fed by the test, and its feed.
pub fn fed_body() -> (BodyFeed, FedBody) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
    (BodyFeed(tx), http_body_util::StreamBody::new(stream))
}

/// A whole body.
pub fn full_body(data: impl Into<Bytes>) -> FedBody {
    let frame = Ok(Frame::data(data.into()));
    http_body_util::StreamBody::new(futures_util::stream::iter([frame]).boxed())
}

/// One connection to a server, speaking HTTP/1.1 or HTTP/2.
pub enum Connection {
    Http1(hyper::client::conn::http1::SendRequest<FedBody>),
    Http2(hyper::client::conn::http2::SendRequest<FedBody>),
}

impl Connection {
    /// Connects to `addr`.
    pub async fn open(addr: std::net::SocketAddr, version: Version) -> Connection {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let _ = stream.set_nodelay(true);
        let io = hyper_util::rt::TokioIo::new(stream);
        match version {
            Version::Http1 => {
                let (sender, conn) = hyper::client::conn::http1::handshake(io)
                    .await
                    .expect("handshake");
                tokio::spawn(conn.with_upgrades());
                Connection::Http1(sender)
            }
            Version::Http2 => {
                let (sender, conn) =
                    hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                        .await
                        .expect("handshake");
                tokio::spawn(conn);
                Connection::Http2(sender)
            }
        }
    }

    /// Sends a request and returns the response head, with the body still to read.
    pub async fn send(
        &mut self,
        request: http::Request<FedBody>,
    ) -> http::Response<hyper::body::Incoming> {
        match self {
            Connection::Http1(sender) => {
                sender.ready().await.expect("connection ready");
                sender.send_request(request).await.expect("send request")
            }
            Connection::Http2(sender) => {
                sender.ready().await.expect("connection ready");
                sender.send_request(request).await.expect("send request")
            }
        }
    }
}

/// A request to `path` on `addr` with the headers given.
pub fn request(
    method: &str,
    addr: std::net::SocketAddr,
    version: Version,
    path: &str,
    headers: &[(&str, &str)],
    body: FedBody,
) -> http::Request<FedBody> {
    let uri = match version {
        Version::Http1 => path.to_string(),
        Version::Http2 => format!("http://{addr}{path}"),
    };
    let mut builder = http::Request::builder().method(method).uri(uri);
    if version == Version::Http1 {
        builder = builder.header("host", addr.to_string());
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).expect("request")
}

/// Reads a streamed body a line (or an SSE event) at a time, as it arrives.
pub struct Lines {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
    /// The trailers, once the body has ended with them.
    pub trailers: Option<http::HeaderMap>,
    /// The body failed (reset or cut off) instead of ending well.
    pub failed: bool,
}

impl Lines {
    pub fn new(body: hyper::body::Incoming) -> Lines {
        Lines {
            body,
            buf: Vec::new(),
            trailers: None,
            failed: false,
        }
    }

    /// The next piece up to `separator` (without it); `None` at the end of the body (a last
    /// piece without a separator is returned first).
    pub async fn next_by(&mut self, separator: &[u8]) -> Option<String> {
        loop {
            if let Some(at) = self
                .buf
                .windows(separator.len())
                .position(|w| w == separator)
            {
                let piece: Vec<u8> = self.buf.drain(..at + separator.len()).collect();
                return Some(String::from_utf8_lossy(&piece[..at]).into_owned());
            }
            match tokio::time::timeout(Duration::from_secs(20), self.body.frame()).await {
                Err(_) => panic!(
                    "no data for 20 s; got so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(None) => break,
                Ok(Some(Err(_))) => {
                    self.failed = true;
                    break;
                }
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => self.buf.extend_from_slice(&data),
                    Err(frame) => self.trailers = frame.into_trailers().ok(),
                },
            }
        }
        if self.buf.is_empty() {
            None
        } else {
            let piece = std::mem::take(&mut self.buf);
            Some(String::from_utf8_lossy(&piece).into_owned())
        }
    }

    /// The next NDJSON line.
    pub async fn next_line(&mut self) -> Option<String> {
        self.next_by(b"\n").await
    }

    /// The next line as JSON.
    pub async fn next_json(&mut self) -> Option<serde_json::Value> {
        let line = self.next_line().await?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}")))
    }

    /// Every remaining line as JSON.
    pub async fn rest_json(&mut self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Some(v) = self.next_json().await {
            out.push(v);
        }
        out
    }

    /// The whole remaining body.
    pub async fn rest(&mut self) -> String {
        let mut out = String::new();
        while let Some(piece) = self.next_by(b"\n").await {
            out.push_str(&piece);
            out.push('\n');
        }
        out
    }
}

/// Sends a request and reads its whole response: status, headers, body as text.
pub async fn exchange(
    addr: std::net::SocketAddr,
    version: Version,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (http::StatusCode, http::HeaderMap, String) {
    let mut conn = Connection::open(addr, version).await;
    let response = conn
        .send(request(
            method,
            addr,
            version,
            path,
            headers,
            full_body(body),
        ))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The address of a server on TCP.
pub fn addr(server: &crate::Server) -> std::net::SocketAddr {
    match &server.address {
        crate::Address::Tcp(addr) => *addr,
        crate::Address::Unix(_) => panic!("a TCP server"),
    }
}

/// A unique id for a test's stream, so tests running at once do not see each other's.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
