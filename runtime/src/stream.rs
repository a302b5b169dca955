//! Streaming RPCs over plain HTTP (DESIGN.md §3.8 and §3.9).
//!
//! - Responses: newline-delimited JSON (`application/x-ndjson`), one `{"result": <message>}`
//!   line per message (bare with [`Options::bare_stream_messages`]), or Server-Sent Events
//!   (`data: <message>`) when the client accepts `text/event-stream`; a `google.api.HttpBody`
//!   stream is written raw, chunk after chunk. Each message is sent as it arrives. The first
//!   message decides the status: an error before it is an ordinary error reply, an error after
//!   it a final `{"error": <Status>}` line (an `error` event in SSE).
//! - Requests: the body is a sequence of JSON values (NDJSON, or values one after another with
//!   any whitespace between), each decoded and sent upstream as soon as it is complete; a
//!   `google.api.HttpBody` request stream sends the body's chunks as they arrive. A decode
//!   error resets the upstream call and is reported to the client.
//! - Backpressure: nothing is read from one side faster than the other side takes it, so a slow
//!   client slows the upstream and memory stays bounded; dropping the reply (the client went
//!   away) cancels the upstream call.
//!
//! [`Options::bare_stream_messages`]: super::Options::bare_stream_messages

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt as _;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use http_body::{Body as _, Frame};
use tokio::sync::{mpsc, oneshot};

use super::error::Error;
use super::json::{self, AnyType, JsonError, JsonOptions, Reader, Writer};
use super::metadata;
use super::upstream::{self, Gateway, Incoming, Outbound};

/// How a stream's response messages are written.
pub enum Encoder<M> {
    /// As ProtoJSON: `write` writes the message, or its `response_body` field.
    Json(fn(&mut Writer<'_>, &M)),
    /// A `google.api.HttpBody`: `raw` gives the content type and the bytes.
    Raw(fn(M) -> (String, Vec<u8>)),
}

impl<M> Clone for Encoder<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Encoder<M> {}

impl<M: prost::Message + Default + 'static> Encoder<M> {
    /// This encoder over encoded messages, with its message type erased.
    pub(super) fn erase(self) -> Encode {
        match self {
            Encoder::Json(write) => Encode::Json(Box::new(move |data, w| {
                write(w, &upstream::decode::<M>(data)?);
                Ok(())
            })),
            Encoder::Raw(raw) => {
                Encode::Raw(Box::new(move |data| Ok(raw(upstream::decode(data)?))))
            }
        }
    }
}

/// How a stream's response messages are written, taking each as the upstream encoded it: the
/// [`Encoder`] of its RPC with the message type erased, so that the streaming machinery is
/// compiled once for every RPC.
pub(super) enum Encode {
    Json(WriteJson),
    Raw(WriteRaw),
}

impl Encode {
    /// Appends one encoded message to `buf`: a raw message as it is, a JSON one as `prefix`,
    /// its JSON, `suffix`.
    pub(super) fn append(
        &self,
        message: &[u8],
        (prefix, suffix): (&[u8], &[u8]),
        options: &JsonOptions,
        types: &[AnyType],
        buf: &mut Vec<u8>,
    ) -> Result<(), Error> {
        match self {
            Encode::Raw(raw) => buf.extend_from_slice(&raw(message)?.1),
            Encode::Json(write) => {
                buf.reserve(prefix.len() + json::capacity_for(message.len()) + suffix.len());
                let start = buf.len();
                buf.extend_from_slice(prefix);
                let mut w = Writer::new(buf, options, types);
                let written = write(message, &mut w).and_then(|()| w.finish().map_err(Error::from));
                if let Err(e) = written {
                    // A message with no JSON form ends the stream with an error, not half a line.
                    buf.truncate(start);
                    return Err(e);
                }
                buf.extend_from_slice(suffix);
            }
        }
        Ok(())
    }
}

/// Writes one encoded message as JSON.
pub(super) type WriteJson = Box<dyn Fn(&[u8], &mut Writer<'_>) -> Result<(), Error> + Send + Sync>;

/// One encoded `google.api.HttpBody` message: its content type and bytes.
pub(super) type WriteRaw = Box<dyn Fn(&[u8]) -> Result<(String, Vec<u8>), Error> + Send + Sync>;

/// How a request stream's messages are made: each starts as a copy of `base` (the fields the
/// query string set) and gets one JSON value, or one chunk of the raw body, from the stream.
pub struct Decoder<M> {
    base: M,
    read: Read<M>,
    /// Merged over each message after its body: the fields the path binds, which win over the
    /// body.
    overlay: Option<M>,
}

enum Read<M> {
    Json(fn(&mut M, &mut Reader<'_>) -> Result<(), JsonError>),
    Raw(fn(&mut M, String, Bytes)),
}

impl<M: prost::Message + Clone> Decoder<M> {
    /// Each message is `base` with one JSON value read into it by `read` (the whole message, or
    /// the body field).
    pub fn json(base: M, read: fn(&mut M, &mut Reader<'_>) -> Result<(), JsonError>) -> Self {
        Decoder {
            base,
            read: Read::Json(read),
            overlay: None,
        }
    }

    /// Each message is `base` with one chunk of the body and the request's Content-Type stored
    /// by `store` (into the message, a `google.api.HttpBody`, or its HttpBody body field).
    pub fn raw(base: M, store: fn(&mut M, String, Bytes)) -> Self {
        Decoder {
            base,
            read: Read::Raw(store),
            overlay: None,
        }
    }

    /// Merges `path` (the fields the path variables set) over each message after its body is
    /// read, so that path variables win over the body.
    pub fn with_path(mut self, path: M) -> Self {
        self.overlay = Some(path);
        self
    }

    /// One message from one JSON value, or one raw chunk; whitespace alone is `base`.
    fn message(
        &self,
        content_type: &str,
        data: Bytes,
        options: &JsonOptions,
        types: &[AnyType],
    ) -> Result<M, JsonError> {
        let mut message = self.base.clone();
        match self.read {
            Read::Raw(store) => store(&mut message, content_type.to_string(), data),
            Read::Json(_) if data.iter().all(u8::is_ascii_whitespace) => {}
            Read::Json(read) => {
                let mut reader = Reader::new(&data, options, types);
                read(&mut message, &mut reader)?;
                reader.finish()?;
            }
        }
        if let Some(path) = &self.overlay {
            // Re-encoding cannot fail to merge: both sides are the same valid message type.
            let _ = message.merge(path.encode_to_vec().as_slice());
        }
        Ok(message)
    }
}

/// A request stream's [`Decoder`] with its message type erased: it gives each message encoded
/// for the upstream, so that the streaming machinery is compiled once for every RPC.
pub(super) trait Decode: Send + Sync {
    /// The message for an empty body: `base` alone.
    fn base(&self) -> Bytes;

    /// Whether the messages are raw chunks rather than JSON values.
    fn is_raw(&self) -> bool;

    /// One message from one JSON value, or one raw chunk; whitespace alone is `base`.
    fn decode(
        &self,
        content_type: &str,
        data: Bytes,
        options: &JsonOptions,
        types: &[AnyType],
    ) -> Result<Bytes, JsonError>;
}

impl<M: prost::Message + Clone + Send + Sync> Decode for Decoder<M> {
    fn base(&self) -> Bytes {
        upstream::encode(&self.base)
    }

    fn is_raw(&self) -> bool {
        matches!(self.read, Read::Raw(_))
    }

    fn decode(
        &self,
        content_type: &str,
        data: Bytes,
        options: &JsonOptions,
        types: &[AnyType],
    ) -> Result<Bytes, JsonError> {
        let message = self.message(content_type, data, options, types)?;
        Ok(upstream::encode(&message))
    }
}

impl Gateway {
    /// Calls a server-streaming RPC with its `request` message encoded, and streams its
    /// messages to the client (see the module docs for the formats). Errors before the first
    /// message are returned as an ordinary error reply.
    pub async fn server_stream<Resp>(
        &self,
        path: &'static str,
        parts: &Parts,
        request: Bytes,
        encoder: Encoder<Resp>,
    ) -> Result<Response, Error>
    where
        Resp: prost::Message + Default + 'static,
    {
        self.server_stream_encoded(path, parts, request, encoder.erase())
            .await
    }

    async fn server_stream_encoded(
        &self,
        path: &'static str,
        parts: &Parts,
        request: Bytes,
        encode: Encode,
    ) -> Result<Response, Error> {
        let request = tonic::codegen::tokio_stream::once(Outbound::Message(request));
        let incoming = self.outgoing(parts)?.open(path, request).await?;
        self.stream_reply(parts, incoming, encode, Failure::none())
            .await
    }

    /// Calls a client-streaming RPC with the request body as its message stream, each message
    /// sent as soon as it is complete, and returns the one reply. A message that does not
    /// decode cancels the call; its error names the message and where it is in the body.
    pub async fn client_stream<Req>(
        &self,
        path: &'static str,
        parts: &Parts,
        body: Body,
        decoder: Decoder<Req>,
    ) -> Result<tonic::Response<Bytes>, Error>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
    {
        self.client_stream_encoded(path, parts, body, Box::new(decoder))
            .await
    }

    async fn client_stream_encoded(
        &self,
        path: &'static str,
        parts: &Parts,
        body: Body,
        decoder: Box<dyn Decode>,
    ) -> Result<tonic::Response<Bytes>, Error> {
        let outgoing = self.outgoing(parts)?;
        let (requests, mut failure) = self.requests(parts, body, decoder);
        let call = async move { outgoing.open(path, requests).await?.into_unary().await };
        unless_failed(&mut failure, call).await?
    }

    /// Calls a bidirectional-streaming RPC: the request body is its message stream and its
    /// messages are streamed back as they come, both at once (full duplex over HTTP/2). A
    /// request message that does not decode cancels the call and ends the reply with an error.
    pub async fn bidi_stream<Req, Resp>(
        &self,
        path: &'static str,
        parts: &Parts,
        body: Body,
        decoder: Decoder<Req>,
        encoder: Encoder<Resp>,
    ) -> Result<Response, Error>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + 'static,
    {
        self.bidi_stream_encoded(path, parts, body, Box::new(decoder), encoder.erase())
            .await
    }

    async fn bidi_stream_encoded(
        &self,
        path: &'static str,
        parts: &Parts,
        body: Body,
        decoder: Box<dyn Decode>,
        encode: Encode,
    ) -> Result<Response, Error> {
        let outgoing = self.outgoing(parts)?;
        let (requests, mut failure) = self.requests(parts, body, decoder);
        let incoming = unless_failed(&mut failure, outgoing.open(path, requests)).await??;
        self.stream_reply(parts, incoming, encode, failure).await
    }

    /// The request body as a message stream, and the signal of its failure.
    fn requests(&self, parts: &Parts, body: Body, decoder: Box<dyn Decode>) -> (Requests, Failure) {
        let (tx, rx) = oneshot::channel();
        let requests = Requests {
            body,
            splitter: Splitter::default(),
            content_type: content_type(parts),
            decoder,
            json: self.options.json.clone(),
            types: self.types,
            limit: self.options.max_body_bytes,
            failure: Some(tx),
            index: 0,
            ended: false,
            state: State::Reading,
        };
        (requests, Failure(Some(rx)))
    }

    /// Waits for the first message (an error before it is the reply), then streams the rest.
    async fn stream_reply(
        &self,
        parts: &Parts,
        mut incoming: Incoming,
        encode: Encode,
        mut failure: Failure,
    ) -> Result<Response, Error> {
        let format = match encode {
            Encode::Raw(_) => Format::Raw,
            Encode::Json(_) if accepts_event_stream(parts) => Format::Sse,
            Encode::Json(_) => Format::Ndjson {
                bare: self.options.bare_stream_messages,
            },
        };
        let keep_alive = match format {
            Format::Sse => self.options.sse_keep_alive,
            _ => None,
        };
        // An idle Server-Sent Events stream gets its headers and keep-alives without waiting.
        let first =
            match unless_idle(keep_alive, unless_failed(&mut failure, incoming.message())).await {
                Some(message) => message??,
                None => None,
            };
        let echoed = metadata::response_headers(&incoming.headers);
        let mut out = Out {
            incoming,
            first: None,
            encode,
            format,
            json: self.reply_json(&parts.extensions).into_owned(),
            types: self.types,
            keep_alive,
            trailers: accepts_trailers(parts),
            failure,
            pending_trailers: None,
            after: None,
            done: false,
        };
        let content_type = match (&out.encode, first) {
            // A raw stream has the content type of its first chunk.
            (Encode::Raw(raw), Some(message)) => {
                let (content_type, data) = raw(&message)?;
                out.first = Some(Bytes::from(data));
                HeaderValue::try_from(content_type)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"))
            }
            (Encode::Raw(_), None) => HeaderValue::from_static("application/octet-stream"),
            (Encode::Json(_), first) => {
                out.first = first.map(|m| out.encode(&m)).transpose()?;
                HeaderValue::from_static(if format == Format::Sse {
                    "text/event-stream"
                } else {
                    "application/x-ndjson"
                })
            }
        };
        let mut reply = Response::new(Body::new(http_body_util::StreamBody::new(
            futures_util::stream::unfold(out, Out::next_frame),
        )));
        *reply.status_mut() = StatusCode::OK;
        let headers = reply.headers_mut();
        headers.extend(echoed);
        headers.insert(header::CONTENT_TYPE, content_type);
        if format == Format::Sse {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        Ok(reply)
    }
}

/// How a response stream is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One JSON value per line, in a `{"result": …}` envelope unless `bare`.
    Ndjson { bare: bool },
    /// Server-Sent Events: `data: <json>` per message, `event: error` at a failure.
    Sse,
    /// `google.api.HttpBody` chunks, raw.
    Raw,
}

/// The body of a streamed reply: the messages as they come, then the trailers.
struct Out {
    incoming: Incoming,
    /// The first message, already written.
    first: Option<Bytes>,
    encode: Encode,
    format: Format,
    json: JsonOptions,
    types: &'static [AnyType],
    keep_alive: Option<Duration>,
    /// The client accepts trailers: the upstream's trailer metadata is sent as such.
    trailers: bool,
    /// The request stream's failure (bidi).
    failure: Failure,
    pending_trailers: Option<http::HeaderMap>,
    /// What the upstream said after the messages of the last frame (the end, or an error)
    /// when it came while they were gathered.
    after: Option<Result<Option<Bytes>, Error>>,
    done: bool,
}

impl Out {
    /// The next frame of the body; `Err` aborts it (a raw stream cannot carry an error).
    async fn next_frame(mut self) -> Option<(Result<Frame<Bytes>, Error>, Self)> {
        if let Some(data) = self.first.take() {
            return Some((Ok(Frame::data(data)), self));
        }
        if let Some(trailers) = self.pending_trailers.take() {
            return Some((Ok(Frame::trailers(trailers)), self));
        }
        if self.done {
            return None;
        }
        let event = match self.after.take() {
            Some(event) => event,
            None => {
                let next = unless_failed(&mut self.failure, self.incoming.message());
                let Some(event) = unless_idle(self.keep_alive, next).await else {
                    let comment = Bytes::from_static(b": keep-alive\n\n");
                    return Some((Ok(Frame::data(comment)), self));
                };
                event.and_then(|message| message)
            }
        };
        match event {
            Ok(Some(message)) => match self.gather(&message) {
                Ok(data) => Some((Ok(Frame::data(data)), self)),
                Err(error) => {
                    self.done = true;
                    self.fail(error)
                }
            },
            Ok(None) => {
                self.done = true;
                match self.incoming.trailers().await {
                    Ok(trailers) if self.trailers && !trailers.is_empty() => {
                        let trailers = metadata::trailer_headers(&trailers);
                        Some((Ok(Frame::trailers(trailers)), self))
                    }
                    Ok(_) => None,
                    Err(error) => self.fail(error),
                }
            }
            Err(error) => {
                self.done = true;
                self.fail(error)
            }
        }
    }

    /// The final frame of a failed stream: an error line (or event), then the status's trailer
    /// metadata as trailers when the client accepts them; a raw stream is aborted instead.
    fn fail(mut self, error: Error) -> Option<(Result<Frame<Bytes>, Error>, Self)> {
        tracing::debug!(%error, "stream failed after its first message");
        let line = match self.format {
            Format::Raw => return Some((Err(error), self)),
            Format::Sse => [
                b"event: error\ndata: ".as_slice(),
                &error.body_json(),
                b"\n\n",
            ]
            .concat(),
            Format::Ndjson { .. } => {
                [b"{\"error\":".as_slice(), &error.body_json(), b"}\n"].concat()
            }
        };
        let failed = self.incoming.failed_trailers();
        if self.trailers && !failed.is_empty() {
            self.pending_trailers = Some(metadata::trailer_headers(failed));
        }
        Some((Ok(Frame::data(Bytes::from(line))), self))
    }

    /// `message` and the messages that have already arrived behind it (up to [`GATHER_BYTES`]),
    /// as one frame: each message is still sent as soon as it arrives, but a fast upstream's
    /// messages share frames and writes instead of costing one each. What ends the gathering
    /// early (the end of the stream, an error) is kept for the next frame.
    fn gather(&mut self, message: &[u8]) -> Result<Bytes, Error> {
        let mut buf = Vec::new();
        self.encode_into(message, &mut buf)?;
        while buf.len() < GATHER_BYTES {
            let next = unless_failed(&mut self.failure, self.incoming.message()).now_or_never();
            let message = match next.map(|event| event.and_then(|message| message)) {
                None => break,
                Some(Ok(Some(message))) => message,
                Some(other) => {
                    self.after = Some(other);
                    break;
                }
            };
            let len = buf.len();
            if let Err(error) = self.encode_into(&message, &mut buf) {
                buf.truncate(len);
                self.after = Some(Err(error));
                break;
            }
        }
        Ok(Bytes::from(buf))
    }

    /// One message as its line, event or chunk.
    fn encode(&self, message: &[u8]) -> Result<Bytes, Error> {
        let mut buf = Vec::new();
        self.encode_into(message, &mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Appends one message to `buf` as its line, event or chunk.
    fn encode_into(&self, message: &[u8], buf: &mut Vec<u8>) -> Result<(), Error> {
        let envelope: (&[u8], &[u8]) = match self.format {
            Format::Ndjson { bare: false } => (b"{\"result\":", b"}\n"),
            Format::Ndjson { bare: true } | Format::Raw => (b"", b"\n"),
            Format::Sse => (b"data: ", b"\n\n"),
        };
        self.encode
            .append(message, envelope, &self.json, self.types, buf)
    }
}

/// Most bytes of already-received messages that one frame of a streamed reply gathers.
const GATHER_BYTES: usize = 16 * 1024;

/// The failure of a request stream, signalled to whoever waits for the call.
pub(super) struct Failure(Option<oneshot::Receiver<Error>>);

impl Failure {
    /// No request stream to fail.
    pub(super) fn none() -> Self {
        Failure(None)
    }

    /// Polls for the error: ready once the request stream fails, never if it ends well.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        let Some(rx) = &mut self.0 else {
            return Poll::Pending;
        };
        match Pin::new(rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                // Received or closed: the receiver must not be polled again.
                self.0 = None;
                match result {
                    Ok(error) => Poll::Ready(error),
                    Err(_) => Poll::Pending,
                }
            }
        }
    }

    /// The error, if the request stream has failed by now.
    pub(super) fn try_recv(&mut self) -> Option<Error> {
        match self.0.as_mut()?.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => None,
            result => {
                // Received or closed: the receiver must not be polled again.
                self.0 = None;
                result.ok()
            }
        }
    }
}

/// Runs `future` unless the request stream fails first: its error wins, also when both happen
/// at once (in-process, the request stream can fail and the call end in the same poll).
async fn unless_failed<F: Future>(failure: &mut Failure, future: F) -> Result<F::Output, Error> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(error) = failure.poll_recv(cx) {
            return Poll::Ready(Err(error));
        }
        let output = std::task::ready!(future.as_mut().poll(cx));
        Poll::Ready(failure.try_recv().map_or(Ok(output), Err))
    })
    .await
}

/// Runs `future` for at most `idle` (if set); `None` when that passes first.
async fn unless_idle<F: Future>(idle: Option<Duration>, future: F) -> Option<F::Output> {
    match idle {
        Some(idle) => tokio::time::timeout(idle, future).await.ok(),
        None => Some(future.await),
    }
}

/// The request body as messages for the upstream, each sent as soon as it is complete; after a
/// failure (the failure signal is sent first), one [`Outbound::Abort`] resets the call.
pub(super) struct Requests {
    body: Body,
    splitter: Splitter,
    content_type: String,
    decoder: Box<dyn Decode>,
    json: JsonOptions,
    types: &'static [AnyType],
    limit: usize,
    failure: Option<oneshot::Sender<Error>>,
    /// Messages sent so far.
    index: usize,
    /// The body has ended.
    ended: bool,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Aborting,
    Done,
}

impl Requests {
    fn fail(&mut self, error: Error) {
        if let Some(tx) = self.failure.take() {
            let _ = tx.send(error);
        }
        self.state = State::Aborting;
    }

    /// Decodes one JSON value found by the splitter.
    fn decode(&mut self, value: Value) -> Option<Outbound> {
        self.index += 1;
        match self.decoder.decode("", value.data, &self.json, self.types) {
            Ok(message) => Some(Outbound::Message(message)),
            Err(e) => {
                self.fail(decode_error(&e, value.at, self.index));
                None
            }
        }
    }
}

impl futures_util::Stream for Requests {
    type Item = Outbound;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Done => return Poll::Ready(None),
                State::Aborting => {
                    this.state = State::Done;
                    return Poll::Ready(Some(Outbound::Abort));
                }
                State::Reading => {}
            }
            if !this.decoder.is_raw() {
                match this.splitter.next(this.ended, this.limit) {
                    Ok(Some(value)) => match this.decode(value) {
                        Some(message) => return Poll::Ready(Some(message)),
                        None => continue,
                    },
                    Ok(None) => {}
                    Err(too_large) => {
                        this.fail(too_large);
                        continue;
                    }
                }
            }
            if this.ended {
                // A well-ended stream drops its failure signal: the waiters stop waiting.
                this.failure = None;
                this.state = State::Done;
                continue;
            }
            let frame = match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            match frame {
                None => this.ended = true,
                Some(Err(e)) => this.fail(Error::bad_request(format!(
                    "could not read the request body: {e}"
                ))),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if this.decoder.is_raw() {
                        if data.is_empty() {
                            continue;
                        }
                        this.index += 1;
                        match this
                            .decoder
                            .decode(&this.content_type, data, &this.json, this.types)
                        {
                            Ok(message) => return Poll::Ready(Some(Outbound::Message(message))),
                            Err(e) => this.fail(Error::body(&e)),
                        }
                    } else {
                        this.splitter.push(&data);
                    }
                }
            }
        }
    }
}

/// Where a value starts in the body: byte offset, 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Position {
    pub(super) offset: usize,
    pub(super) line: usize,
    pub(super) column: usize,
}

impl Position {
    pub(super) const START: Position = Position {
        offset: 0,
        line: 1,
        column: 1,
    };
}

/// One complete JSON value of a request stream.
#[derive(Debug)]
struct Value {
    data: Bytes,
    at: Position,
}

/// Finds the JSON values in a request stream as its bytes arrive: NDJSON, or values one after
/// another with any whitespace between (`{…}{…}`, `{…} {…}`, pretty-printed objects). It only
/// tracks strings and nesting to find where each value ends; the reader checks the rest.
#[derive(Debug)]
struct Splitter {
    buf: BytesMut,
    /// The next byte of `buf` to scan.
    pos: usize,
    /// Where the current value starts in `buf`; `None` between values.
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The current value is a number or literal: it ends before whitespace or punctuation.
    scalar: bool,
    /// Position of `buf[pos]` in the body.
    here: Position,
    /// Position of the current value's first byte.
    value_at: Position,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter {
            buf: BytesMut::new(),
            pos: 0,
            start: None,
            depth: 0,
            in_string: false,
            escaped: false,
            scalar: false,
            here: Position::START,
            value_at: Position::START,
        }
    }
}

impl Splitter {
    /// Adds bytes from the body.
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete value, if the bytes so far hold one. At the end of the body (`eof`),
    /// an unfinished value is returned as it is, for the reader to report what is missing. A
    /// value longer than `limit` bytes is an error (413).
    fn next(&mut self, eof: bool, limit: usize) -> Result<Option<Value>, Error> {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            let Some(start) = self.start else {
                if b.is_ascii_whitespace() {
                    self.advance(b);
                    continue;
                }
                self.start = Some(self.pos);
                self.value_at = self.here;
                match b {
                    b'{' | b'[' => self.depth = 1,
                    b'"' => self.in_string = true,
                    _ => self.scalar = true,
                }
                self.advance(b);
                continue;
            };
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        self.advance(b);
                        return Ok(Some(self.take()));
                    }
                }
            } else if self.scalar {
                if b.is_ascii_whitespace() || b"{}[]\",".contains(&b) {
                    return Ok(Some(self.take()));
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.advance(b);
                            return Ok(Some(self.take()));
                        }
                    }
                    _ => {}
                }
            }
            self.advance(b);
            if self.pos - start > limit {
                return Err(Error::payload_too_large(limit));
            }
        }
        match self.start {
            Some(_) if eof => Ok(Some(self.take())),
            Some(_) => Ok(None),
            None => {
                // Whitespace between values is dropped as soon as it is scanned.
                let _ = self.buf.split_to(self.pos);
                self.pos = 0;
                Ok(None)
            }
        }
    }

    fn advance(&mut self, b: u8) {
        self.pos += 1;
        self.here.offset += 1;
        if b == b'\n' {
            self.here.line += 1;
            self.here.column = 1;
        } else if b & 0xC0 != 0x80 {
            self.here.column += 1;
        }
    }

    /// Cuts the current value (up to `pos`) out of the buffer.
    fn take(&mut self) -> Value {
        let start = self.start.take().unwrap_or(0);
        let mut data = self.buf.split_to(self.pos);
        let data = data.split_off(start).freeze();
        self.pos = 0;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.scalar = false;
        Value {
            data,
            at: self.value_at,
        }
    }
}

/// A request stream's message that does not decode: which one, and where in the body.
pub(super) fn decode_error(e: &JsonError, at: Position, index: usize) -> Error {
    let line = at.line + e.line() - 1;
    let column = if e.line() == 1 {
        at.column + e.column() - 1
    } else {
        e.column()
    };
    let offset = at.offset + e.offset();
    let path = if e.path().is_empty() {
        String::new()
    } else {
        format!("{}: ", e.path())
    };
    Error::bad_request(format!(
        "invalid JSON in message {index} of the request stream at line {line}, column {column} (byte offset {offset}): {path}{}",
        e.message()
    ))
}

/// The request's Content-Type, for raw (`google.api.HttpBody`) messages.
pub fn content_type(parts: &Parts) -> String {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Whether the client asks for Server-Sent Events (`Accept: text/event-stream`).
fn accepts_event_stream(parts: &Parts) -> bool {
    parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut params = range.split(';');
            let media = params.next().unwrap_or_default().trim();
            let refused = params.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("text/event-stream") && !refused
        })
}

/// Whether a streamed reply may end with HTTP trailers (see
/// [`metadata::accepts_trailers`]). HTTP/1.1 sends only trailers declared up front, so there
/// they are dropped; HTTP/2 sends them.
fn accepts_trailers(parts: &Parts) -> bool {
    let mut request = http::Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.version_mut() = parts.version;
    if let Some(te) = parts.headers.get(header::TE) {
        request.headers_mut().insert(header::TE, te.clone());
    }
    metadata::accepts_trailers(&request)
}

/// A stream of encoded messages fed by a channel (the WebSocket frames of a session): ends when every
/// sender is gone, with [`Outbound::Abort`] first when the feeder aborted.
pub(super) struct Channel {
    rx: mpsc::Receiver<Bytes>,
    aborted: Arc<AtomicBool>,
    done: bool,
}

/// The feeding end of a [`Channel`].
pub(super) struct Feeder {
    pub(super) tx: Option<mpsc::Sender<Bytes>>,
    aborted: Arc<AtomicBool>,
}

/// A channel of `capacity` messages.
pub(super) fn channel(capacity: usize) -> (Feeder, Channel) {
    let (tx, rx) = mpsc::channel(capacity);
    let aborted = Arc::new(AtomicBool::new(false));
    (
        Feeder {
            tx: Some(tx),
            aborted: aborted.clone(),
        },
        Channel {
            rx,
            aborted,
            done: false,
        },
    )
}

impl Feeder {
    /// Ends the stream well: the upstream sees the client's half-close.
    pub(super) fn close(&mut self) {
        self.tx = None;
    }

    /// Resets the call instead of ending it well.
    pub(super) fn abort(&mut self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.tx = None;
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        // Dropped without `close`: the session ended early, so the call must not look complete.
        if self.tx.is_some() {
            self.abort();
        }
    }
}

impl futures_util::Stream for Channel {
    type Item = Outbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        if self.done {
            return Poll::Ready(None);
        }
        let aborted = |this: &mut Self| {
            this.done = true;
            Poll::Ready(Some(Outbound::Abort))
        };
        if self.aborted.load(Ordering::SeqCst) {
            return aborted(&mut self);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) if self.aborted.load(Ordering::SeqCst) => aborted(&mut self),
            Poll::Ready(Some(message)) => Poll::Ready(Some(Outbound::Message(message))),
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}
