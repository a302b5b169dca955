//! What the fuzz targets share: a scripted in-process upstream that records what the proxy sent
//! it and answers whatever a target tells it to (a well-behaved reply, or hostile bytes), the
//! example API's router over it, one single-threaded runtime to drive both, and a small
//! reader that cuts a fuzz input into fields.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};

pub use protogate_example::runtime;

/// A boxed error, as tonic's services use.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the upstream answers to the next calls.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `None`: the call fails in transport (no connection) instead.
    pub status: Option<StatusCode>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The response body's DATA frames, exactly as given (prefixes included).
    pub frames: Vec<Bytes>,
    pub trailers: Option<HeaderMap>,
    /// The body fails (a broken stream) after its frames, instead of ending.
    pub body_error: bool,
}

impl Reply {
    /// A successful reply with one empty message: a valid reply to every method.
    pub fn empty_ok() -> Self {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        Reply {
            status: Some(StatusCode::OK),
            headers: vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            )],
            frames: vec![Bytes::from_static(&[0, 0, 0, 0, 0])],
            trailers: Some(trailers),
            body_error: false,
        }
    }
}

/// One call the upstream received: its gRPC method and the request messages, as framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    pub messages: Vec<Bytes>,
    /// Bytes after the last whole frame (the proxy must never send any).
    pub trailing: Bytes,
    /// The request body failed (the proxy reset the call).
    pub aborted: bool,
}

#[derive(Debug)]
struct State {
    reply: Reply,
    calls: Vec<Call>,
}

/// The upstream: answers every call with the current [`Reply`] and records it.
#[derive(Clone)]
pub struct Upstream {
    state: Arc<Mutex<State>>,
}

type ReplyBody =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, BoxError>>>>;

impl Upstream {
    fn new() -> Self {
        Upstream {
            state: Arc::new(Mutex::new(State {
                reply: Reply::empty_ok(),
                calls: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the reply of the next calls and forgets the calls recorded so far.
    pub fn script(&self, reply: Reply) {
        let mut state = self.lock();
        state.reply = reply;
        state.calls.clear();
    }

    /// The calls received since the last [`script`](Self::script).
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Upstream {
    type Response = http::Response<ReplyBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let method = request.uri().path().to_string();
            let mut body = request.into_body();
            let mut data = BytesMut::new();
            let mut aborted = false;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => {
                        if let Ok(chunk) = frame.into_data() {
                            data.extend_from_slice(&chunk);
                        }
                    }
                    Err(_) => {
                        aborted = true;
                        break;
                    }
                }
            }
            let (messages, trailing) = split_frames(data.freeze());
            let reply = {
                let mut state = this.lock();
                state.calls.push(Call {
                    method,
                    messages,
                    trailing,
                    aborted,
                });
                state.reply.clone()
            };
            let Some(status) = reply.status else {
                return Err("connection refused".into());
            };
            let mut frames: Vec<Result<Frame<Bytes>, BoxError>> = reply
                .frames
                .into_iter()
                .map(|f| Ok(Frame::data(f)))
                .collect();
            if let Some(trailers) = reply.trailers {
                frames.push(Ok(Frame::trailers(trailers)));
            }
            if reply.body_error {
                frames.push(Err("stream reset".into()));
            }
            let mut response =
                http::Response::new(StreamBody::new(futures_util::stream::iter(frames)));
            *response.status_mut() = status;
            for (name, value) in reply.headers {
                response.headers_mut().append(name, value);
            }
            Ok(response)
        })
    }
}

/// Splits gRPC length-prefixed frames; what follows the last whole frame is returned apart.
pub fn split_frames(mut data: Bytes) -> (Vec<Bytes>, Bytes) {
    let mut messages = Vec::new();
    while data.len() >= 5 {
        let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if data.len() < 5 + len {
            break;
        }
        let frame = data.split_to(5 + len);
        messages.push(frame.slice(5..));
    }
    (messages, data)
}

/// The example API's router over the scripted upstream, built once per process.
pub fn router() -> &'static (axum::Router, Upstream) {
    static ROUTER: OnceLock<(axum::Router, Upstream)> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let upstream = Upstream::new();
        let router = protogate_example::router(upstream.clone());
        (router, upstream)
    })
}

/// Largest request-stream message of [`gateway`]: small, so that inputs of a few kilobytes
/// also reach the limit (413).
pub const STREAM_MESSAGE_LIMIT: usize = 256;

/// A gateway over the scripted upstream with the example API's options, for the entry points
/// the router reaches only through streaming routes the example does not have (client and
/// bidi streaming). Its messages are limited to [`STREAM_MESSAGE_LIMIT`] bytes.
pub fn gateway() -> &'static (runtime::Gateway, Upstream) {
    static GATEWAY: OnceLock<(runtime::Gateway, Upstream)> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let upstream = Upstream::new();
        let options = runtime::Options {
            max_body_bytes: STREAM_MESSAGE_LIMIT,
            ..protogate_example::options()
        };
        let gateway = runtime::Gateway::new(upstream.clone(), options, &[]);
        (gateway, upstream)
    })
}

/// Runs `future` to completion on the process's single-threaded runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime")
        })
        .block_on(future)
}

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
    /// The body failed while it was read.
    pub body_error: Option<String>,
}

/// Sends `request` through `router` in-process and reads the whole response.
pub fn serve(router: &axum::Router, request: http::Request<axum::body::Body>) -> Collected {
    use tower::ServiceExt as _;
    block_on(async {
        let response = match router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(e) => match e {},
        };
        let (mut parts, mut body) = response.into_parts();
        // A request's id is the client's or one the proxy makes, new for every request: it is
        // checked here and left out of the responses the targets compare.
        if let Some(id) = parts.headers.remove("x-request-id") {
            let id = id.as_bytes();
            assert!(
                !id.is_empty() && id.len() <= 128 && id.iter().all(|b| (0x21..0x7f).contains(b)),
                "x-request-id {id:?}"
            );
        }
        let mut data = BytesMut::new();
        let mut trailers: Option<HeaderMap> = None;
        let mut body_error = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(chunk) => data.extend_from_slice(&chunk),
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            trailers.get_or_insert_with(HeaderMap::new).extend(t);
                        }
                    }
                },
                Err(e) => {
                    body_error = Some(e.to_string());
                    break;
                }
            }
        }
        Collected {
            status: parts.status,
            headers: parts.headers,
            body: data.freeze(),
            trailers,
            body_error,
        }
    })
}

/// A body from `chunks`, each one frame.
pub fn chunked_body(chunks: Vec<Bytes>) -> axum::body::Body {
    axum::body::Body::from_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, Infallible>),
    ))
}

/// Cuts a fuzz input into fields: bytes and integers from the front, the rest as a tail.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte, 0 when the input is used up.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The bytes up to the next `sep` (dropped), or the rest when there is none.
    pub fn field(&mut self, sep: u8) -> &'a [u8] {
        match self.data.iter().position(|&b| b == sep) {
            Some(i) => {
                let (field, rest) = self.data.split_at(i);
                self.data = &rest[1..];
                field
            }
            None => std::mem::take(&mut self.data),
        }
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Cuts `data` into chunks at the offsets `cuts` gives (each a byte: the next chunk's length,
/// 0 meaning an empty chunk), the last chunk holding the rest.
pub fn chunks(data: &[u8], cuts: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = data;
    for &cut in cuts {
        let n = usize::from(cut).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        out.push(Bytes::copy_from_slice(chunk));
        rest = tail;
    }
    out.push(Bytes::copy_from_slice(rest));
    out
}

/// Installs a panic hook that still aborts (as libFuzzer's does) on every panic except the
/// ones the proxy knowingly catches: tonic panics on a `grpc-status-details-bin` that is not
/// base64, and `runtime::upstream` turns that into a 502-class error for that one request.
pub fn tolerate_caught_tonic_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let caught = info
                .location()
                .is_some_and(|l| l.file().contains("tonic-") && l.file().ends_with("status.rs"));
            if !caught {
                default(info);
            }
        }));
    });
}
