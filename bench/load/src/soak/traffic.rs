//! The soak's traffic against the example proxy (`examples/proto/library/v1/library.proto`):
//! one task per kind of client, each sending one operation at a time, paced, until the run
//! ends. Every operation is bounded by the request timeout; every outcome is counted by kind.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf as _, Bytes};
use futures_util::StreamExt as _;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use protogate_bench_upstream::RawCodec;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tonic::client::Grpc;
use tonic::transport::Channel;

use crate::stats::Plan;

/// Receive buffer of the clients that leave mid-stream: small, so that the proxy cannot write
/// the whole stream into the socket before they go.
const SMALL_RECV_BUFFER: u32 = 4096;
/// A shelf id that is never created (ids count up from 1).
const MISSING_SHELF: &str = "999999999999";

/// How one operation ended.
pub enum Outcome {
    /// As it should, with this many messages (1 for a unary call, the items of a stream).
    Ok(u64),
    /// A deliberate error answered exactly as the API says (the 4xx of a bad request).
    Deliberate,
    /// Anything else: a wrong status or body, a transport error, a timeout.
    Unexpected(String),
}

/// What the run counted for one kind of operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub ok: u64,
    pub deliberate: u64,
    pub unexpected: u64,
    pub messages: u64,
}

impl Count {
    pub fn requests(&self) -> u64 {
        self.ok + self.deliberate + self.unexpected
    }
}

/// Most distinct unexpected errors kept (each with its count).
const MAX_ERROR_KINDS: usize = 50;

/// Counts by kind, shared by every worker.
#[derive(Debug, Default)]
pub struct Tally {
    pub kinds: BTreeMap<&'static str, Count>,
    /// Unexpected errors by `kind: message`, at most [`MAX_ERROR_KINDS`] of them.
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    fn record(&mut self, kind: &'static str, outcome: Outcome) {
        let count = self.kinds.entry(kind).or_default();
        match outcome {
            Outcome::Ok(messages) => {
                count.ok += 1;
                count.messages += messages;
            }
            Outcome::Deliberate => count.deliberate += 1,
            Outcome::Unexpected(message) => {
                count.unexpected += 1;
                let mut key = format!("{kind}: {message}");
                if key.len() > 200 {
                    let mut cut = 200;
                    while !key.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    key.truncate(cut);
                }
                if self.errors.len() < MAX_ERROR_KINDS || self.errors.contains_key(&key) {
                    *self.errors.entry(key).or_default() += 1;
                }
            }
        }
    }

    pub fn total(&self) -> Count {
        self.kinds.values().fold(Count::default(), |a, c| Count {
            ok: a.ok + c.ok,
            deliberate: a.deliberate + c.deliberate,
            unexpected: a.unexpected + c.unexpected,
            messages: a.messages + c.messages,
        })
    }
}

/// What every worker shares.
#[derive(Clone)]
pub struct Ctx {
    pub target: SocketAddr,
    pub plan: Plan,
    /// Pause between two operations of one worker.
    pub pace: Duration,
    /// The shelf every stream reads (`shelves/{id}`, made by [`setup`]) and its book count.
    pub shelf: Arc<str>,
    pub books: u64,
    pub tally: Arc<Mutex<Tally>>,
}

impl Ctx {
    fn record(&self, kind: &'static str, outcome: Outcome) {
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(kind, outcome);
    }

    /// Runs `op` under the request timeout and counts its outcome as `kind`.
    async fn run<F>(&self, kind: &'static str, op: F)
    where
        F: Future<Output = Outcome>,
    {
        let outcome = timeout_at(self.plan.deadline(), op)
            .await
            .unwrap_or_else(|_| Outcome::Unexpected("timed out".into()));
        self.record(kind, outcome);
    }

    /// Waits the pace (not past the end of the run).
    async fn pause(&self) {
        tokio::time::sleep_until((Instant::now() + self.pace).min(self.plan.end)).await;
    }

    fn stream_path(&self) -> String {
        format!("/v1/{}/books:stream", self.shelf)
    }
}

// --- HTTP plumbing ------------------------------------------------------------------------

type H1Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn tcp(target: SocketAddr, recv_buffer: Option<u32>) -> Result<TcpStream, String> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|err| format!("socket: {err}"))?;
    if let Some(size) = recv_buffer {
        socket
            .set_recv_buffer_size(size)
            .map_err(|err| format!("SO_RCVBUF: {err}"))?;
    }
    let stream = socket
        .connect(target)
        .await
        .map_err(|err| format!("connect: {err}"))?;
    stream
        .set_nodelay(true)
        .map_err(|err| format!("nodelay: {err}"))?;
    Ok(stream)
}

/// An HTTP/1.1 keep-alive connection, opened again after an error.
struct H1 {
    target: SocketAddr,
    sender: Option<H1Sender>,
}

impl H1 {
    fn new(target: SocketAddr) -> H1 {
        H1 {
            target,
            sender: None,
        }
    }

    async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, String> {
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                let io = TokioIo::new(tcp(self.target, None).await?);
                let (sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|err| format!("handshake: {err}"))?;
                // Ends when the sender is dropped or the server closes the connection.
                tokio::spawn(connection);
                sender
            }
        };
        sender
            .ready()
            .await
            .map_err(|err| format!("connection: {err}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| format!("request: {err}"))?;
        // Kept only when the exchange worked; the caller reads the body before the next send.
        self.sender = Some(sender);
        Ok(response)
    }

    /// Sends and reads the whole answer; a transport error drops the connection.
    async fn exchange(&mut self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let response = self.send(request).await?;
        let reply = read_reply(response).await;
        if reply.is_err() {
            self.sender = None;
        }
        reply
    }
}

/// A whole answer.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(160)]).into_owned()
    }

    /// `Ok(1)` for a 200 whose body holds `needle`.
    fn expect_ok(&self, needle: &str) -> Outcome {
        if self.status != StatusCode::OK {
            return Outcome::Unexpected(format!("status {}: {}", self.status, self.text()));
        }
        if !contains(&self.body, needle.as_bytes()) {
            return Outcome::Unexpected(format!("no {needle:?} in {}", self.text()));
        }
        Outcome::Ok(1)
    }

    /// A deliberate error: exactly `status`, with a `google.rpc.Status` body of `code`.
    fn expect_error(&self, status: StatusCode, code: u32) -> Outcome {
        let code_field = format!("\"code\":{code}");
        if self.status == status && contains(&self.body, code_field.as_bytes()) {
            Outcome::Deliberate
        } else {
            Outcome::Unexpected(format!(
                "wanted {status} with code {code}, got {}: {}",
                self.status,
                self.text()
            ))
        }
    }

    fn json(&self) -> Result<serde_json::Value, String> {
        if self.status != StatusCode::OK {
            return Err(format!("status {}: {}", self.status, self.text()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|err| format!("bad JSON ({err}): {}", self.text()))
    }
}

async fn read_reply(response: http::Response<Incoming>) -> Result<Reply, String> {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|err| format!("reading the body: {err}"))?
        .to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A request in origin form with `Host` (HTTP/1.1), or in absolute form (HTTP/2).
fn request(
    target: SocketAddr,
    absolute: bool,
    method: Method,
    path: &str,
    headers: &[(&'static str, &'static str)],
    body: &str,
) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::from(body.to_owned())));
    *request.method_mut() = method;
    let uri = if absolute {
        format!("http://{target}{path}")
    } else {
        path.to_owned()
    };
    // Paths are built from fixed text and ids the proxy returned; one that does not parse
    // becomes a path no route has, and the answer counts as an unexpected error.
    *request.uri_mut() = uri
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/soak-invalid-uri"));
    let map = request.headers_mut();
    if !absolute {
        if let Ok(host) = target.to_string().parse() {
            map.insert(header::HOST, host);
        }
    }
    if !body.is_empty() {
        map.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    for (name, value) in headers {
        map.insert(*name, http::HeaderValue::from_static(value));
    }
    request
}

fn get(target: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    request(target, false, Method::GET, path, &[], "")
}

/// Counts the messages of a stream body: NDJSON `{"result":` lines, or SSE `data:` events; a
/// final error line or event makes it unexpected.
fn count_stream(reply: &Reply, sse: bool, want: u64) -> Outcome {
    if reply.status != StatusCode::OK {
        return Outcome::Unexpected(format!("status {}: {}", reply.status, reply.text()));
    }
    let content_type = reply
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wanted_type = if sse {
        "text/event-stream"
    } else {
        "application/x-ndjson"
    };
    if !content_type.starts_with(wanted_type) {
        return Outcome::Unexpected(format!("content-type {content_type:?}, not {wanted_type}"));
    }
    let mut messages = 0;
    for line in reply.body.split(|&b| b == b'\n') {
        if sse {
            if line.starts_with(b"event: error") {
                return Outcome::Unexpected(format!("error event: {}", reply.text()));
            }
            if line.starts_with(b"data:") {
                messages += 1;
            }
        } else if line.starts_with(b"{\"result\":") {
            messages += 1;
        } else if !line.is_empty() {
            return Outcome::Unexpected(format!(
                "line {}",
                String::from_utf8_lossy(&line[..line.len().min(160)])
            ));
        }
    }
    if messages == want {
        Outcome::Ok(messages)
    } else {
        Outcome::Unexpected(format!("{messages} stream messages, wanted {want}"))
    }
}

// --- setup --------------------------------------------------------------------------------

/// One book of the streamed shelf, a few hundred bytes of JSON.
fn book_json(index: u64) -> String {
    format!(
        concat!(
            r#"{{"title":"Soak book {index}: a title long enough to give every stream message some weight","#,
            r#""author":{{"displayName":"Soak Author {index}","born":1970}},"genre":"GENRE_FICTION","#,
            r#""pages":320,"copiesPrinted":"1234567","price":12.5,"rating":4.5,"inPrint":true,"#,
            r#""tags":["soak","stream","bench"],"labels":{{"lang":"en","run":"soak"}},"#,
            r#""published":"2020-01-02T03:04:05Z","readingTime":"3600s","shelfPosition":"A{index}"}}"#
        ),
        index = index
    )
}

/// Makes the shelf every stream reads, with `books` books; returns `shelves/{id}`.
pub async fn setup(target: SocketAddr, books: u64) -> Result<String, String> {
    let mut h1 = H1::new(target);
    let reply = h1
        .exchange(request(
            target,
            false,
            Method::POST,
            "/v1/shelves",
            &[],
            r#"{"theme":"Soak streams"}"#,
        ))
        .await?;
    let shelf = reply.json()?;
    let id = shelf["id"]
        .as_str()
        .ok_or_else(|| format!("no shelf id in {shelf}"))?
        .to_owned();
    for index in 1..=books {
        let path = format!("/v1/shelves/{id}/books");
        let reply = h1
            .exchange(request(
                target,
                false,
                Method::POST,
                &path,
                &[],
                &book_json(index),
            ))
            .await?;
        reply.json()?;
    }
    Ok(format!("shelves/{id}"))
}

/// The counters of the proxy's `/metrics`: requests in flight and requests counted.
pub async fn metrics(target: SocketAddr) -> Result<(f64, f64), String> {
    let reply = H1::new(target).exchange(get(target, "/metrics")).await?;
    if reply.status != StatusCode::OK {
        return Err(format!("/metrics: status {}", reply.status));
    }
    let text = String::from_utf8_lossy(&reply.body);
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Ok((
        sum("protogate_http_requests_in_flight"),
        sum("protogate_http_requests_total"),
    ))
}

// --- the workers --------------------------------------------------------------------------

/// Unary GETs over HTTP/1.1 keep-alive, over the API's routes (and the readiness probe, which
/// calls the upstream's health service).
pub async fn unary_gets(ctx: Ctx) {
    let calls: [(&str, &str); 9] = [
        ("/v1/shelves/1", r#""id":"1""#),
        ("/v1/shelves/default", r#""theme":"Fiction""#),
        ("/v1/shelves/1/books/1", "The Left Hand of Darkness"),
        ("/v1/shelves/1/books/1/details", "The Left Hand of Darkness"),
        (
            "/v1/shelves/1/books?filter.author=Ursula%20K.%20Le%20Guin&pageSize=10",
            "Le Guin",
        ),
        ("/v1/shelves/2/books/1/pages/7", "Page 7 of"),
        ("/v1/attachments/soak/a/b.txt", "soak/a/b.txt"),
        ("/v1/greeter/soak", "Hello soak"),
        ("/readyz", "SERVING"),
    ];
    let mut h1 = H1::new(ctx.target);
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        let (path, needle) = calls[(sent % calls.len() as u64) as usize];
        sent += 1;
        ctx.run("get", async {
            match h1.exchange(get(ctx.target, path)).await {
                Ok(reply) => reply.expect_ok(needle),
                Err(err) => Outcome::Unexpected(format!("{path}: {err}")),
            }
        })
        .await;
        ctx.pause().await;
    }
}

/// Create, update, replace and delete: a shelf and a book, removed again, so the upstream's
/// store does not grow.
pub async fn crud(ctx: Ctx) {
    let target = ctx.target;
    let mut h1 = H1::new(target);
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        sent += 1;
        let mut shelf_id: Option<String> = None;
        ctx.run("post", async {
            let body = r#"{"theme":"Soak"}"#;
            match h1
                .exchange(request(
                    target,
                    false,
                    Method::POST,
                    "/v1/shelves",
                    &[],
                    body,
                ))
                .await
            {
                Ok(reply) => match reply.json() {
                    Ok(json) => match json["id"].as_str() {
                        Some(id) => {
                            shelf_id = Some(id.to_owned());
                            Outcome::Ok(1)
                        }
                        None => Outcome::Unexpected(format!("no id in {json}")),
                    },
                    Err(err) => Outcome::Unexpected(err),
                },
                Err(err) => Outcome::Unexpected(err),
            }
        })
        .await;
        let Some(shelf) = shelf_id else {
            ctx.pause().await;
            continue;
        };
        let mut book_name: Option<String> = None;
        ctx.run("post", async {
            let path = format!("/v1/shelves/{shelf}/books");
            match h1
                .exchange(request(
                    target,
                    false,
                    Method::POST,
                    &path,
                    &[],
                    &book_json(0),
                ))
                .await
            {
                Ok(reply) => match reply.json() {
                    Ok(json) => match json["name"].as_str() {
                        Some(name) => {
                            book_name = Some(name.to_owned());
                            Outcome::Ok(1)
                        }
                        None => Outcome::Unexpected(format!("no name in {json}")),
                    },
                    Err(err) => Outcome::Unexpected(err),
                },
                Err(err) => Outcome::Unexpected(err),
            }
        })
        .await;
        let mut force = true;
        if let Some(name) = book_name {
            ctx.run("patch", async {
                let path = format!("/v1/{name}?updateMask=title,pages");
                let body = r#"{"title":"Soak, patched","pages":321}"#;
                match h1
                    .exchange(request(target, false, Method::PATCH, &path, &[], body))
                    .await
                {
                    Ok(reply) => reply.expect_ok(r#""title":"Soak, patched""#),
                    Err(err) => Outcome::Unexpected(err),
                }
            })
            .await;
            ctx.run("put", async {
                let path = format!("/v1/{name}");
                let body = r#"{"title":"Soak, replaced","pages":99,"tags":["replaced"]}"#;
                match h1
                    .exchange(request(target, false, Method::PUT, &path, &[], body))
                    .await
                {
                    Ok(reply) => reply.expect_ok(r#""title":"Soak, replaced""#),
                    Err(err) => Outcome::Unexpected(err),
                }
            })
            .await;
            ctx.run("delete", async {
                let path = format!("/v1/{name}");
                match h1
                    .exchange(request(target, false, Method::DELETE, &path, &[], ""))
                    .await
                {
                    Ok(reply) => {
                        let outcome = reply.expect_ok("{}");
                        if matches!(outcome, Outcome::Ok(_)) {
                            force = false;
                        }
                        outcome
                    }
                    Err(err) => Outcome::Unexpected(err),
                }
            })
            .await;
        }
        // `force` only when the book could not be removed: an empty shelf deletes without it.
        ctx.run("delete", async {
            let path = format!(
                "/v1/shelves/{shelf}{}",
                if force { "?force=true" } else { "" }
            );
            match h1
                .exchange(request(target, false, Method::DELETE, &path, &[], ""))
                .await
            {
                Ok(reply) => reply.expect_ok("{}"),
                Err(err) => Outcome::Unexpected(err),
            }
        })
        .await;
        ctx.pause().await;
    }
}

/// The whole stream over HTTP/1.1: NDJSON, or Server-Sent Events.
pub async fn streams(ctx: Ctx, sse: bool) {
    let mut h1 = H1::new(ctx.target);
    let path = ctx.stream_path();
    let headers: &[(&'static str, &'static str)] = if sse {
        &[("accept", "text/event-stream")]
    } else {
        &[]
    };
    let kind = if sse { "stream_sse" } else { "stream_ndjson" };
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        sent += 1;
        ctx.run(kind, async {
            match h1
                .exchange(request(ctx.target, false, Method::GET, &path, headers, ""))
                .await
            {
                Ok(reply) => count_stream(&reply, sse, ctx.books),
                Err(err) => Outcome::Unexpected(err),
            }
        })
        .await;
        ctx.pause().await;
    }
}

/// One h2c connection (HTTP/2 with prior knowledge): unary GETs, whole NDJSON streams, and
/// streams the client cancels after the first chunk (`RST_STREAM`).
pub async fn h2c(ctx: Ctx) {
    let target = ctx.target;
    let path = ctx.stream_path();
    let mut sender: Option<crate::http::H2Sender> = None;
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        let step = sent % 3;
        sent += 1;
        let kind = ["get_h2c", "stream_h2c", "disconnect_h2c_reset"][step as usize];
        ctx.run(kind, async {
            let mut h2 = match sender.take() {
                Some(h2) if !h2.is_closed() => h2,
                _ => match crate::http::h2c_connect(target).await {
                    Ok(h2) => h2,
                    Err(err) => return Outcome::Unexpected(err),
                },
            };
            if let Err(err) = h2.ready().await {
                return Outcome::Unexpected(format!("connection: {err}"));
            }
            let request = match step {
                0 => request(target, true, Method::GET, "/v1/shelves/2", &[], ""),
                _ => request(target, true, Method::GET, &path, &[], ""),
            };
            let response = match h2.send_request(request).await {
                Ok(response) => response,
                Err(err) => return Outcome::Unexpected(format!("request: {err}")),
            };
            sender = Some(h2);
            match step {
                0 => match read_reply(response).await {
                    Ok(reply) => reply.expect_ok(r#""theme":"History""#),
                    Err(err) => Outcome::Unexpected(err),
                },
                1 => match read_reply(response).await {
                    Ok(reply) => count_stream(&reply, false, ctx.books),
                    Err(err) => Outcome::Unexpected(err),
                },
                _ => {
                    if response.status() != StatusCode::OK {
                        return Outcome::Unexpected(format!("status {}", response.status()));
                    }
                    let mut body = response.into_body();
                    match body.frame().await {
                        // Dropping the body resets the stream.
                        Some(Ok(_)) => Outcome::Ok(1),
                        Some(Err(err)) => Outcome::Unexpected(format!("first frame: {err}")),
                        None => Outcome::Unexpected("empty stream".into()),
                    }
                }
            }
        })
        .await;
        ctx.pause().await;
    }
}

type Ws = WebSocketStream<TcpStream>;

async fn ws_connect(
    target: SocketAddr,
    path: &str,
    recv_buffer: Option<u32>,
) -> Result<Ws, String> {
    let stream = tcp(target, recv_buffer).await?;
    let (socket, _response) =
        tokio_tungstenite::client_async(format!("ws://{target}{path}"), stream)
            .await
            .map_err(|err| format!("upgrade: {err}"))?;
    Ok(socket)
}

/// Reads a WebSocket session to its end: the text frames received, and the close code.
async fn ws_read_all(socket: &mut Ws) -> Result<(u64, Vec<String>, u16), String> {
    let (mut frames, mut first) = (0u64, Vec::new());
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                frames += 1;
                if first.len() < 2 {
                    first.push(text.as_str().chars().take(160).collect());
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map_or(1005, |frame| u16::from(frame.code));
                return Ok((frames, first, code));
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(format!("frame: {err}")),
            None => return Err("closed without a close frame".into()),
        }
    }
}

/// WebSocket sessions on the streaming route: the whole stream, one frame per book, closed
/// with 1000; one session in ten asks for a shelf that does not exist and must end with an
/// error frame and close code 4005 (NOT_FOUND).
pub async fn websocket(ctx: Ctx) {
    let path = ctx.stream_path();
    let missing = format!("/v1/shelves/{MISSING_SHELF}/books:stream");
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        let error = sent % 10 == 9;
        sent += 1;
        let kind = if error { "error_ws_4005" } else { "websocket" };
        ctx.run(kind, async {
            let mut socket =
                match ws_connect(ctx.target, if error { &missing } else { &path }, None).await {
                    Ok(socket) => socket,
                    Err(err) => return Outcome::Unexpected(err),
                };
            match ws_read_all(&mut socket).await {
                Ok((frames, _, 1000)) if !error && frames == ctx.books => Outcome::Ok(frames),
                Ok((1, first, 4005)) if error && first[0].contains("\"code\":5") => {
                    Outcome::Deliberate
                }
                Ok((frames, first, code)) => {
                    Outcome::Unexpected(format!("{frames} frames, close {code}, first {first:?}"))
                }
                Err(err) => Outcome::Unexpected(err),
            }
        })
        .await;
        ctx.pause().await;
    }
}

/// Requests that must fail, each with its exact status and `google.rpc.Status` code.
pub async fn errors(ctx: Ctx) {
    let target = ctx.target;
    let missing_shelf = format!("/v1/shelves/{MISSING_SHELF}");
    let mut h1 = H1::new(target);
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        let step = sent % 6;
        sent += 1;
        let (kind, request, status, code) = match step {
            // The upstream's NOT_FOUND.
            0 => (
                "error_404",
                get(target, &missing_shelf),
                StatusCode::NOT_FOUND,
                5,
            ),
            // No route at all.
            1 => (
                "error_404",
                get(target, "/v1/no/such/route"),
                StatusCode::NOT_FOUND,
                5,
            ),
            // A body that is not JSON.
            2 => (
                "error_400",
                request(
                    target,
                    false,
                    Method::POST,
                    "/v1/shelves",
                    &[],
                    r#"{"theme": "#,
                ),
                StatusCode::BAD_REQUEST,
                3,
            ),
            // The upstream's OUT_OF_RANGE.
            3 => (
                "error_400",
                get(target, "/v1/shelves/1/books/1/pages/0"),
                StatusCode::BAD_REQUEST,
                11,
            ),
            // Methods the routes do not take.
            4 => (
                "error_405",
                request(target, false, Method::DELETE, "/v1/shelves", &[], ""),
                StatusCode::METHOD_NOT_ALLOWED,
                12,
            ),
            _ => (
                "error_405",
                request(target, false, Method::PATCH, "/v1/shelves/1", &[], "{}"),
                StatusCode::METHOD_NOT_ALLOWED,
                12,
            ),
        };
        ctx.run(kind, async {
            match h1.exchange(request).await {
                Ok(reply) => reply.expect_error(status, code),
                Err(err) => Outcome::Unexpected(err),
            }
        })
        .await;
        ctx.pause().await;
    }
}

/// Reads from a raw HTTP/1.1 connection until the response head and the first bytes of its
/// body came (or `want` bytes, or the peer closed); returns them. An error answer is short and
/// the connection stays open, so waiting for `want` bytes alone would wait for the timeout.
async fn read_some(stream: &mut TcpStream, want: usize) -> Result<Vec<u8>, String> {
    let mut data = Vec::with_capacity(want);
    let mut chunk = [0u8; 2048];
    let has_body = |data: &[u8]| {
        data.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .is_some_and(|end| data.len() > end + 4)
    };
    while data.len() < want && !has_body(&data) {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|err| format!("read: {err}"))?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
    }
    Ok(data)
}

/// Clients that go away: mid-stream (NDJSON, SSE, WebSocket without and with a close frame),
/// before reading anything, and in the middle of sending a request body. Each leaves on a
/// connection of its own with a small receive buffer, so that the stream is still being
/// written when it goes.
pub async fn disconnects(ctx: Ctx) {
    let target = ctx.target;
    let path = ctx.stream_path();
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        let step = sent % 6;
        sent += 1;
        match step {
            0 | 1 => {
                let sse = step == 1;
                let kind = if sse {
                    "disconnect_sse"
                } else {
                    "disconnect_ndjson"
                };
                let accept = if sse {
                    "accept: text/event-stream\r\n"
                } else {
                    ""
                };
                ctx.run(kind, async {
                    let head = format!("GET {path} HTTP/1.1\r\nhost: {target}\r\n{accept}\r\n");
                    let mut stream = match tcp(target, Some(SMALL_RECV_BUFFER)).await {
                        Ok(stream) => stream,
                        Err(err) => return Outcome::Unexpected(err),
                    };
                    if let Err(err) = stream.write_all(head.as_bytes()).await {
                        return Outcome::Unexpected(format!("write: {err}"));
                    }
                    // The head and the first messages, then gone with most of the stream unread.
                    match read_some(&mut stream, 1024).await {
                        Ok(data) if data.starts_with(b"HTTP/1.1 200") => Outcome::Ok(1),
                        Ok(data) => Outcome::Unexpected(format!(
                            "answer {:?}",
                            String::from_utf8_lossy(&data[..data.len().min(120)])
                        )),
                        Err(err) => Outcome::Unexpected(err),
                    }
                })
                .await;
            }
            2 | 3 => {
                let close = step == 3;
                let kind = if close {
                    "disconnect_ws_close"
                } else {
                    "disconnect_ws_drop"
                };
                ctx.run(kind, async {
                    let mut socket = match ws_connect(target, &path, Some(SMALL_RECV_BUFFER)).await
                    {
                        Ok(socket) => socket,
                        Err(err) => return Outcome::Unexpected(err),
                    };
                    match socket.next().await {
                        Some(Ok(Message::Text(_))) => {}
                        other => return Outcome::Unexpected(format!("first frame: {other:?}")),
                    }
                    if close {
                        // A close frame mid-stream; the proxy ends the session and the call.
                        if let Err(err) = socket.close(None).await {
                            return Outcome::Unexpected(format!("close: {err}"));
                        }
                    }
                    // Else: the TCP connection just goes, with no close frame.
                    Outcome::Ok(1)
                })
                .await;
            }
            4 => {
                ctx.run("disconnect_before_reply", async {
                    let head = format!("GET {path} HTTP/1.1\r\nhost: {target}\r\n\r\n");
                    let mut stream = match tcp(target, Some(SMALL_RECV_BUFFER)).await {
                        Ok(stream) => stream,
                        Err(err) => return Outcome::Unexpected(err),
                    };
                    match stream.write_all(head.as_bytes()).await {
                        // Gone without reading a byte.
                        Ok(()) => Outcome::Ok(1),
                        Err(err) => Outcome::Unexpected(format!("write: {err}")),
                    }
                })
                .await;
            }
            _ => {
                ctx.run("disconnect_mid_body", async {
                    // A body announced at 64 KiB, of which 1 KiB is sent.
                    let head = format!(
                        "POST /v1/shelves HTTP/1.1\r\nhost: {target}\r\n\
                         content-type: application/json\r\ncontent-length: 65536\r\n\r\n"
                    );
                    let mut stream = match tcp(target, None).await {
                        Ok(stream) => stream,
                        Err(err) => return Outcome::Unexpected(err),
                    };
                    let mut sent_part = head.into_bytes();
                    sent_part.extend_from_slice(br#"{"theme":""#);
                    sent_part.resize(sent_part.len() + 1024, b'x');
                    match stream.write_all(&sent_part).await {
                        Ok(()) => Outcome::Ok(1),
                        Err(err) => Outcome::Unexpected(format!("write: {err}")),
                    }
                })
                .await;
            }
        }
        ctx.pause().await;
    }
}

/// A length-prefixed gRPC message.
fn grpc_frame(message: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0);
    frame.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(message);
    frame.into()
}

/// A message of one string field numbered 1 (`GetShelfRequest.shelf_id`,
/// `ListBooksRequest.parent`), in protobuf.
fn string_field_1(value: &str) -> Bytes {
    let mut buf = Vec::new();
    prost::encoding::string::encode(1, &value.to_owned(), &mut buf);
    buf.into()
}

const GET_SHELF: &str = "/library.v1.LibraryService/GetShelf";
const STREAM_BOOKS: &str = "/library.v1.LibraryService/StreamBooks";

/// Native gRPC through the proxy (passed through to the upstream): unary calls, whole server
/// streams, and a call for a missing shelf that must end NOT_FOUND.
pub async fn grpc(ctx: Ctx) {
    let mut client: Option<Grpc<Channel>> = None;
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        let step = sent % 5;
        sent += 1;
        let kind = match step {
            0 | 1 => "grpc_unary",
            2 | 3 => "grpc_stream",
            _ => "error_grpc_not_found",
        };
        ctx.run(kind, async {
            let grpc = match &mut client {
                Some(grpc) => grpc,
                None => match crate::grpc::connect(ctx.target).await {
                    Ok(channel) => client.insert(Grpc::new(channel)),
                    Err(err) => return Outcome::Unexpected(err),
                },
            };
            if let Err(err) = grpc.ready().await {
                client = None;
                return Outcome::Unexpected(format!("channel: {err}"));
            }
            match step {
                0 | 1 | 4 => {
                    let shelf = if step == 4 { MISSING_SHELF } else { "1" };
                    let request = tonic::Request::new(string_field_1(shelf));
                    let path = http::uri::PathAndQuery::from_static(GET_SHELF);
                    match (grpc.unary(request, path, RawCodec).await, step) {
                        (Ok(reply), 0 | 1) if contains(reply.get_ref(), b"Fiction") => {
                            Outcome::Ok(1)
                        }
                        (Err(status), 4) if status.code() == tonic::Code::NotFound => {
                            Outcome::Deliberate
                        }
                        (Ok(_), _) => Outcome::Unexpected("an unexpected reply".into()),
                        (Err(status), _) => Outcome::Unexpected(format!(
                            "status {:?}: {}",
                            status.code(),
                            status.message()
                        )),
                    }
                }
                _ => {
                    let request = tonic::Request::new(string_field_1(&ctx.shelf));
                    let path = http::uri::PathAndQuery::from_static(STREAM_BOOKS);
                    let mut stream = match grpc.server_streaming(request, path, RawCodec).await {
                        Ok(response) => response.into_inner(),
                        Err(status) => {
                            return Outcome::Unexpected(format!(
                                "status {:?}: {}",
                                status.code(),
                                status.message()
                            ));
                        }
                    };
                    let mut messages = 0;
                    loop {
                        match stream.message().await {
                            Ok(Some(_)) => messages += 1,
                            Ok(None) => break,
                            Err(status) => {
                                return Outcome::Unexpected(format!(
                                    "stream status {:?}: {}",
                                    status.code(),
                                    status.message()
                                ));
                            }
                        }
                    }
                    if messages == ctx.books {
                        Outcome::Ok(messages)
                    } else {
                        Outcome::Unexpected(format!("{messages} messages, wanted {}", ctx.books))
                    }
                }
            }
        })
        .await;
        ctx.pause().await;
    }
}

/// gRPC-Web (binary) and Connect (JSON) unary calls over HTTP/1.1.
pub async fn web_protocols(ctx: Ctx) {
    let target = ctx.target;
    let mut h1 = H1::new(target);
    let mut sent = 0u64;
    while ctx.plan.may_send(sent) {
        let web = sent % 2 == 0;
        sent += 1;
        if web {
            ctx.run("grpc_web", async {
                let mut request = request(target, false, Method::POST, GET_SHELF, &[], "");
                *request.body_mut() = Full::new(grpc_frame(&string_field_1("2")));
                request.headers_mut().insert(
                    header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/grpc-web+proto"),
                );
                match h1.exchange(request).await {
                    Ok(reply) => grpc_web_reply(&reply),
                    Err(err) => Outcome::Unexpected(err),
                }
            })
            .await;
        } else {
            ctx.run("connect", async {
                let headers = [("connect-protocol-version", "1")];
                let body = r#"{"shelfId":"2"}"#;
                match h1
                    .exchange(request(
                        target,
                        false,
                        Method::POST,
                        GET_SHELF,
                        &headers,
                        body,
                    ))
                    .await
                {
                    Ok(reply) => reply.expect_ok(r#""theme":"History""#),
                    Err(err) => Outcome::Unexpected(err),
                }
            })
            .await;
        }
        ctx.pause().await;
    }
}

/// A gRPC-Web answer: one message frame holding the shelf, then a trailers frame with
/// `grpc-status:0`.
fn grpc_web_reply(reply: &Reply) -> Outcome {
    if reply.status != StatusCode::OK {
        return Outcome::Unexpected(format!("status {}: {}", reply.status, reply.text()));
    }
    let (mut body, mut message, mut trailers) = (reply.body.clone(), None, None);
    while body.remaining() >= 5 {
        let flags = body.get_u8();
        let len = body.get_u32() as usize;
        if body.remaining() < len {
            return Outcome::Unexpected("a truncated frame".into());
        }
        let payload = body.split_to(len);
        if flags & 0x80 == 0 {
            message = Some(payload);
        } else {
            trailers = Some(payload);
        }
    }
    match (message, trailers) {
        (Some(message), Some(trailers))
            if contains(&message, b"History") && contains(&trailers, b"grpc-status:0") =>
        {
            Outcome::Ok(1)
        }
        (message, trailers) => Outcome::Unexpected(format!(
            "message {message:?}, trailers {:?}, grpc-status header {:?}, grpc-message header {:?}",
            trailers.map(|t| String::from_utf8_lossy(&t).into_owned()),
            reply.headers.get("grpc-status"),
            reply.headers.get("grpc-message"),
        )),
    }
}
