//! The gRPC side: one [`Gateway`] per router holds the upstream client and the options; the
//! generated handlers call it to read bodies, decode JSON, make the call and write the reply.
//!
//! Every call, unary or streaming, goes the same way: [`Gateway::outgoing`] takes the metadata
//! and the deadline from the HTTP request, [`Outgoing::open`] sends the request messages and
//! waits for the response headers, and [`Incoming`] reads the messages, then the trailers (the
//! gRPC framing of both is in [`super::grpc`]).
//!
//! Messages cross the call as encoded protobuf bytes: the typed entry points encode the request
//! and decode the reply, and everything between them is compiled once for the whole API rather
//! than once per RPC, which keeps large APIs quick to build.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use tonic::metadata::MetadataMap;
use tower::{Service as _, ServiceExt as _};

use super::binding::Binding;
use super::error::Error;
use super::grpc;
pub use super::grpc::Outbound;
use super::json::{self, AnyType, JsonError, JsonOptions, ProtoJson, Reader, Writer};
use super::metadata;
use super::service::{self, BoxUpstream, Upstream};
use super::system_params::EnumsAsNumbers;

/// What a router does at run time; the generated `options()` gives the defaults chosen at
/// generation time, and the binary's flags override them.
#[derive(Debug, Clone)]
pub struct Options {
    /// How JSON is read and written.
    pub json: JsonOptions,
    /// Ignore query parameters that match no field instead of answering 400.
    pub ignore_unknown_query_parameters: bool,
    /// Largest request body accepted; larger ones get 413. In a request stream, the largest
    /// message.
    pub max_body_bytes: usize,
    /// Largest message accepted from the upstream (tonic's and grpc-go's default is 4 MiB); a
    /// larger one fails the call with RESOURCE_EXHAUSTED as soon as its length prefix arrives,
    /// and nothing of its claimed size is allocated.
    pub max_upstream_message_bytes: usize,
    /// Deadline for upstream calls when the client sends no `Grpc-Timeout`. For a stream, the
    /// deadline of the whole stream.
    pub default_timeout: Option<Duration>,
    /// Forward only the request headers whose metadata names are listed (`None`: every header
    /// but the hop-by-hop, framing and `grpc-*` ones, which are never forwarded). Names are
    /// lowercase metadata keys, so `x-user` covers `X-User` and `Grpc-Metadata-X-User`; a name
    /// ending in `*` matches a prefix (`x-internal-*`), and `*` alone every name.
    pub forward_headers: Option<Vec<String>>,
    /// Never forward the request headers whose metadata names are listed (same syntax).
    pub drop_headers: Vec<String>,
    /// Write each message of a streamed response bare instead of as `{"result": <message>}`
    /// (NDJSON lines and WebSocket frames; a final error is `{"error": <Status>}` either way).
    pub bare_stream_messages: bool,
    /// How long a Server-Sent Events stream may stay silent before the proxy sends a comment
    /// line, so that clients and intermediaries keep it open (`None`: never).
    pub sse_keep_alive: Option<Duration>,
    /// Where the router serves the API's OpenAPI document (`GET` and `HEAD`), or `None` not to
    /// serve it. It is matched before the API's routes: keep it outside them.
    pub openapi_path: Option<String>,
    /// Where the router serves the API docs page, an interactive reference of the OpenAPI
    /// document with its assets below it (`GET` and `HEAD`), or `None`. Served only with the
    /// document, and only with the `docs-ui` feature; outside the API's routes, like the other
    /// operation endpoints. See [`docs`](super::docs).
    pub docs_path: Option<String>,
    /// Longest request target (path and query) accepted, in bytes; longer ones get 414.
    pub max_uri_bytes: usize,
    /// Most bytes the request's header fields may take (name, value and 4 bytes each, as in
    /// HTTP/1.1); more get 431. The server's HTTP parser also refuses heads far larger
    /// (`serve::ConnLimits::for_options`, with the `server` feature) before buffering them
    /// whole.
    pub max_header_bytes: usize,
    /// Longest the router may take to start a response, reading a unary request's body and the
    /// upstream call included: then 408 when the request body had not all arrived, else 504.
    /// A response that has started is not cut (`default_timeout` bounds streams). `None`: no
    /// limit.
    pub request_timeout: Option<Duration>,
    /// Most requests served at once (a stream counts until it ends); more get 503 at once,
    /// never queued. `None`: no limit. The operation endpoints are not counted.
    pub max_concurrent_requests: Option<usize>,
    /// Where the router answers liveness probes (`GET`: 200 while the process serves), or
    /// `None`. Like every operation endpoint, it must lie outside the API's routes.
    pub health_path: Option<String>,
    /// Where the router answers readiness probes: 200 when [`Options::ready_check`] passes,
    /// else 503. `None`: not served.
    pub ready_path: Option<String>,
    /// What readiness means.
    pub ready_check: ReadyCheck,
    /// The service name the readiness check asks about (empty: the whole server).
    pub ready_service: String,
    /// How long the readiness check waits for the upstream's answer.
    pub ready_timeout: Duration,
    /// Where the router serves its Prometheus metrics, or `None`.
    pub metrics_path: Option<String>,
    /// The upstream's addresses and whether each is up, for the metrics
    /// (`protogate_upstream_up`): the proxy binary sets it from its pool
    /// ([`pool::Pool::addresses`](crate::pool::Pool::addresses), with the `pool` feature); `None`
    /// leaves the series out.
    pub upstream_addresses: Option<super::metrics::UpstreamAddresses>,
    /// Cross-origin requests from browsers: `None` answers none of them with CORS headers.
    pub cors: Option<super::cors::Cors>,
    /// HTTP compression: responses in a coding the client's `Accept-Encoding` allows, request
    /// bodies in a coding listed here. `None`: neither, and a coded request body gets 415.
    /// gRPC, gRPC-Web and Connect calls code their messages by their own protocols.
    pub compression: Option<super::compression::Compression>,
    /// gRPC message compression on the calls the proxy makes to the upstream.
    pub upstream_compression: UpstreamCompression,
    /// OpenTelemetry tracing: a server span per request, exported by the tracer's provider
    /// (with the `otel` feature; [`Tracer::from_env`](super::otel::Tracer::from_env) reads the
    /// `OTEL_*` variables). `None`: no span, and the client's trace context is passed on as it
    /// came.
    pub tracing: Option<super::otel::Tracer>,
}

/// gRPC message compression with the upstream, in gzip: the one coding every gRPC
/// implementation has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamCompression {
    /// Compress the messages sent (`grpc-encoding: gzip`), for an upstream known to take gzip
    /// (one that does not answers UNIMPLEMENTED). Worth it on a slow link, not beside the proxy.
    pub send_gzip: bool,
    /// Say `grpc-accept-encoding: gzip`, so that an upstream configured to compress its
    /// replies may, and decompress the replies that are.
    pub accept_gzip: bool,
}

impl Default for UpstreamCompression {
    /// Accept gzip; send uncompressed.
    fn default() -> Self {
        UpstreamCompression {
            send_gzip: false,
            accept_gzip: true,
        }
    }
}

/// What the readiness endpoint checks before it answers 200.
///
/// Many gRPC servers do not register `grpc.health.v1`; a readiness probe that insists on it
/// would keep every such deployment out of service, so the default falls back to the state
/// of the upstream connection when the health service is unimplemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadyCheck {
    /// The health service's answer; when the upstream does not implement it, whether the
    /// upstream answers gRPC calls at all (said once in the log).
    #[default]
    Auto,
    /// Only the health service's answer: SERVING is ready, anything else (UNIMPLEMENTED
    /// included) is not.
    Health,
    /// Whether the upstream answers gRPC calls, whatever its health service says.
    Connection,
    /// Always ready while the proxy serves, as liveness.
    None,
}

impl std::str::FromStr for ReadyCheck {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(ReadyCheck::Auto),
            "health" => Ok(ReadyCheck::Health),
            "connection" => Ok(ReadyCheck::Connection),
            "none" => Ok(ReadyCheck::None),
            _ => Err(format!(
                "unknown readiness check {text:?}: use auto, health, connection or none"
            )),
        }
    }
}

/// A unary binding, as the generated code describes it: two plain functions, the request
/// message and the reply, around one call path ([`Gateway::unary`]) that serves every unary
/// binding of the API — compiled once, however many methods the API has.
#[derive(Debug, Clone, Copy)]
pub struct Unary {
    /// The binding: its method and template for logs and metrics, and the gRPC method called.
    pub binding: Binding,
    /// Whether the request message takes anything from the body; when not, it is not read.
    pub reads_body: bool,
    /// The request message, encoded, from the request, its path captures and its body.
    pub request: fn(&Gateway, &Parts, &[&str], Bytes) -> Result<Bytes, Error>,
    /// The reply to the client, from the upstream's: [`reply_message`] for the whole message as
    /// JSON, else a generated function.
    pub reply: fn(&Gateway, tonic::Response<Bytes>) -> Result<Response, Error>,
}

/// The upstream client and options shared by every request of one router.
pub struct Gateway {
    pub(super) upstream: BoxUpstream,
    pub(super) options: Options,
    pub(super) types: &'static [AnyType],
}

impl Gateway {
    /// `types` lists the message types `google.protobuf.Any` values may hold.
    pub fn new<T: Upstream>(upstream: T, options: Options, types: &'static [AnyType]) -> Self {
        Gateway {
            upstream: service::boxed(upstream),
            options,
            types,
        }
    }

    /// The options it serves with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The body of a request with one message: read whole (refusing more than the configured
    /// limit) when the message takes something from it, else left unread and empty.
    pub async fn request_body(&self, reads_body: bool, body: Body) -> Result<Bytes, Error> {
        if !reads_body {
            return Ok(Bytes::new());
        }
        let limit = self.options.max_body_bytes;
        axum::body::to_bytes(body, limit).await.map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Error::payload_too_large(limit)
            } else {
                Error::bad_request(format!("could not read the request body: {e}"))
            }
        })
    }

    /// Merges a JSON body into the whole request message; an empty body leaves it empty.
    pub fn merge_json<M: ProtoJson>(&self, message: &mut M, body: &[u8]) -> Result<(), Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        json::merge(message, body, &self.options.json, self.types).map_err(|e| Error::body(&e))
    }

    /// Reads a JSON body into one field, with `read` doing what the field's type needs.
    pub fn read_json(
        &self,
        body: &[u8],
        read: impl FnOnce(&mut Reader<'_>) -> Result<(), JsonError>,
    ) -> Result<(), Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        json::read(body, &self.options.json, self.types, read).map_err(|e| Error::body(&e))
    }

    /// The metadata and deadline of an upstream call for this request: its headers as metadata
    /// (see [`metadata::request_metadata`]) and the deadline from `Grpc-Timeout` or the options.
    pub(super) fn outgoing(&self, parts: &Parts) -> Result<Outgoing, Error> {
        let metadata = metadata::request_metadata(
            parts,
            self.options.forward_headers.as_deref(),
            &self.options.drop_headers,
        )?;
        let timeout = metadata::timeout(parts)?.or(self.options.default_timeout);
        Ok(Outgoing {
            upstream: self.upstream.clone(),
            metadata,
            timeout,
            max_message_bytes: self.options.max_upstream_message_bytes,
            compression: self.options.upstream_compression,
            types: self.types,
        })
    }

    /// Serves a unary binding: reads the body (when the request message takes it), makes the
    /// request message, calls the RPC with the request's headers as metadata (see
    /// [`metadata::request_metadata`]) and the deadline from `Grpc-Timeout` or the options, and
    /// writes the reply.
    ///
    /// The reply's metadata is the upstream's header metadata; its trailer metadata is in the
    /// extensions as [`Trailers`]. A failure keeps both as `Grpc-Metadata-*` and
    /// `Grpc-Trailer-*` headers of the error (the metadata of a trailers-only error reply, what
    /// tonic servers send for `Err(Status)`, is trailer metadata).
    pub async fn unary(
        &self,
        binding: &Unary,
        parts: &Parts,
        captures: &[&str],
        body: Body,
    ) -> Result<Response, Error> {
        let body = self.request_body(binding.reads_body, body).await?;
        let request = (binding.request)(self, parts, captures, body)?;
        let mut reply = self
            .unary_bytes(binding.binding.grpc_method, parts, request)
            .await?;
        if parts.extensions.get::<EnumsAsNumbers>().is_some() {
            reply.extensions_mut().insert(EnumsAsNumbers);
        }
        (binding.reply)(self, reply)
    }

    /// Calls a unary RPC with its request message encoded; the reply's message is encoded too.
    async fn unary_bytes(
        &self,
        path: &'static str,
        parts: &Parts,
        request: Bytes,
    ) -> Result<tonic::Response<Bytes>, Error> {
        let request = tonic::codegen::tokio_stream::once(Outbound::Message(request));
        self.outgoing(parts)?
            .open(path, request)
            .await?
            .into_unary()
            .await
    }

    /// Writes a JSON response to the upstream's `reply`; `write` writes its message (decoded by
    /// the caller) or the `response_body` field.
    ///
    /// The status is 200, or the one the upstream chose with `x-http-code` header metadata (no
    /// body for 204, 205 and 304). Header metadata becomes `Grpc-Metadata-<key>` headers and
    /// trailer metadata `Grpc-Trailer-<key>` headers, which the router sends as HTTP trailers
    /// when the client accepts them (see [`metadata::trailers_after_body`]). Not generic: one
    /// copy serves every method.
    pub fn respond(
        &self,
        reply: &tonic::Response<Bytes>,
        write: &mut dyn FnMut(&mut Writer<'_>),
    ) -> Response {
        let (header_metadata, extensions) = (reply.metadata(), reply.extensions());
        let status = metadata::http_code(header_metadata).unwrap_or(StatusCode::OK);
        let capacity = json::capacity_for(reply.get_ref().len());
        let options = self.reply_json(extensions);
        let body = metadata::has_body(status)
            .then(|| json::write(&options, self.types, capacity, write))
            .transpose();
        match body {
            Ok(body) => self::reply(
                status,
                body,
                "application/json",
                header_metadata,
                extensions,
            ),
            // A reply with no JSON form (a Timestamp out of range, say): 500, not invalid JSON.
            Err(e) => Error::from(e).into_response(),
        }
    }

    /// The JSON options of a reply: the router's, with enums as numbers when the request asked
    /// for them (`$alt=json;enum-encoding=int`, see [`system_params`](super::system_params)).
    pub(super) fn reply_json(&self, extensions: &http::Extensions) -> Cow<'_, JsonOptions> {
        if extensions.get::<EnumsAsNumbers>().is_some() && !self.options.json.enums_as_numbers {
            Cow::Owned(JsonOptions {
                enums_as_numbers: true,
                ..self.options.json.clone()
            })
        } else {
            Cow::Borrowed(&self.options.json)
        }
    }

    /// Writes a `google.api.HttpBody` response: its content type and bytes, as they are.
    /// Status and metadata as in [`respond`](Self::respond).
    pub fn respond_raw(
        &self,
        reply: &tonic::Response<Bytes>,
        content_type: String,
        data: Vec<u8>,
    ) -> Response {
        let status = metadata::http_code(reply.metadata()).unwrap_or(StatusCode::OK);
        let body = metadata::has_body(status).then_some(data);
        let mut response = self::reply(
            status,
            body,
            "application/octet-stream",
            reply.metadata(),
            reply.extensions(),
        );
        match HeaderValue::try_from(content_type) {
            Ok(value) if !value.is_empty() => {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            _ => {}
        }
        response
    }
}

/// A reply with `body` (none for 204, 205 and 304) and the upstream's metadata as headers.
fn reply(
    status: StatusCode,
    body: Option<Vec<u8>>,
    content_type: &'static str,
    header_metadata: &MetadataMap,
    extensions: &tonic::Extensions,
) -> Response {
    let mut reply = match body {
        Some(body) => {
            let mut reply = (status, body).into_response();
            reply
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            reply
        }
        // 205 may say its empty content is empty (`Content-Length: 0`).
        None if status == StatusCode::RESET_CONTENT => (status, Body::empty()).into_response(),
        None => {
            // 204 and 304 carry no `Content-Length` either (RFC 9110 §8.6). axum sets one for any
            // body of known length, so this empty body does not know its length.
            let empty = http_body_util::StreamBody::new(tonic::codegen::tokio_stream::empty::<
                Result<_, std::convert::Infallible>,
            >());
            (status, Body::new(empty)).into_response()
        }
    };
    let headers = reply.headers_mut();
    headers.extend(metadata::response_headers(header_metadata));
    if let Some(Trailers(trailers)) = extensions.get::<Trailers>() {
        headers.extend(metadata::trailer_headers(trailers));
    }
    reply
}

/// The trailer metadata of a successful upstream reply, in its extensions.
#[derive(Debug, Clone, Default)]
pub struct Trailers(pub MetadataMap);

/// A message's protobuf encoding.
pub fn encode<M: prost::Message>(message: &M) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

/// A message from its protobuf encoding; bytes that are not one are the upstream's fault.
pub fn decode<M: prost::Message + Default>(data: &[u8]) -> Result<M, Error> {
    M::decode(data).map_err(|e| {
        Error::new(
            tonic::Code::Internal,
            format!("the upstream sent a malformed message: {e}"),
        )
    })
}

/// The reply of a binding whose answer is the whole response message as JSON (most bindings):
/// the upstream's message, decoded and written. One copy per message type, shared by every
/// binding that answers with it.
pub fn reply_message<M: prost::Message + Default + ProtoJson>(
    gw: &Gateway,
    reply: tonic::Response<Bytes>,
) -> Result<Response, Error> {
    let message = decode::<M>(reply.get_ref())?;
    Ok(gw.respond(&reply, &mut |w| w.message(&message)))
}

/// An upstream call about to start: the client, the request metadata and the deadline.
pub(super) struct Outgoing {
    upstream: BoxUpstream,
    metadata: MetadataMap,
    timeout: Option<Duration>,
    max_message_bytes: usize,
    compression: UpstreamCompression,
    types: &'static [AnyType],
}

impl Outgoing {
    /// Starts the call, sending `messages` as the stream polls them (so a slow upstream slows
    /// the client's upload), and waits for the response headers.
    pub(super) async fn open<S>(self, path: &'static str, messages: S) -> Result<Incoming, Error>
    where
        S: futures_util::Stream<Item = Outbound> + Send + 'static,
    {
        let Outgoing {
            mut upstream,
            metadata,
            timeout,
            max_message_bytes,
            compression,
            types,
        } = self;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let request = grpc::request(path, metadata, timeout, Box::pin(messages), compression);
        upstream.ready().await.map_err(|e| {
            Error::new(
                tonic::Code::Unavailable,
                format!("upstream unavailable: {e}"),
            )
        })?;
        // tonic panics on some malformed upstream statuses (a `grpc-status-details-bin` that
        // is not base64); a broken upstream must cost one request a 502, never the connection.
        let call = guarded(async move {
            let response = upstream
                .call(request)
                .await
                .map_err(|e| tonic::Status::from_error(e.into()))?;
            grpc::reply(response, max_message_bytes, compression.accept_gzip)
        });
        // An error here is a transport failure or a trailers-only reply, whose metadata is
        // trailers.
        let (headers, messages) = within(deadline, call).await?.map_err(|status| {
            failure(
                &name_unimplemented(status, path),
                &MetadataMap::new(),
                types,
            )
        })?;
        Ok(Incoming {
            headers,
            messages,
            deadline,
            types,
            failed_trailers: MetadataMap::new(),
        })
    }
}

/// An upstream reply being received: its header metadata, then its messages, then its trailer
/// metadata. Dropping it cancels the call.
pub(super) struct Incoming {
    pub(super) headers: MetadataMap,
    messages: grpc::Messages,
    deadline: Option<tokio::time::Instant>,
    types: &'static [AnyType],
    /// The trailer metadata of the status a failed [`message`](Self::message) returned.
    failed_trailers: MetadataMap,
}

impl Incoming {
    /// The next message (encoded), `None` after the last. An error status, a broken stream or the
    /// deadline passing is an error with the header metadata and the status's trailer metadata
    /// as `Grpc-Metadata-*` and `Grpc-Trailer-*` headers. Cancel-safe.
    pub(super) async fn message(&mut self) -> Result<Option<Bytes>, Error> {
        match within(self.deadline, guarded(self.messages.message())).await? {
            Ok(message) => Ok(message),
            Err(status) => {
                self.failed_trailers = status.metadata().clone();
                Err(failure(&status, &self.headers, self.types))
            }
        }
    }

    /// The trailer metadata, after the last message.
    pub(super) async fn trailers(&mut self) -> Result<MetadataMap, Error> {
        match within(self.deadline, guarded(self.messages.trailers())).await? {
            Ok(trailers) => Ok(trailers.unwrap_or_default()),
            Err(status) => {
                self.failed_trailers = status.metadata().clone();
                Err(failure(&status, &self.headers, self.types))
            }
        }
    }

    /// The trailer metadata of the error status the stream ended with, if it did.
    pub(super) fn failed_trailers(&self) -> &MetadataMap {
        &self.failed_trailers
    }

    /// Reads a unary reply: exactly one message, then the trailers (in the extensions as
    /// [`Trailers`]).
    pub(super) async fn into_unary(mut self) -> Result<tonic::Response<Bytes>, Error> {
        let Some(message) = self.message().await? else {
            let mut status = tonic::Status::internal("the upstream sent no response message");
            if let Ok(trailers) = self.trailers().await {
                *status.metadata_mut() = trailers;
            }
            return Err(failure(&status, &self.headers, self.types));
        };
        let trailers = self.trailers().await?;
        let mut extensions = tonic::Extensions::new();
        extensions.insert(Trailers(trailers));
        Ok(tonic::Response::from_parts(
            self.headers,
            message,
            extensions,
        ))
    }
}

/// Runs `future` until the deadline, if there is one: the deadline is enforced here too, so an
/// upstream that ignores `grpc-timeout` still answers 504 in time.
async fn within<F: std::future::Future>(
    deadline: Option<tokio::time::Instant>,
    future: F,
) -> Result<F::Output, Error> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, future)
            .await
            .map_err(|_| deadline_exceeded()),
        None => Ok(future.await),
    }
}

fn deadline_exceeded() -> Error {
    Error::new(tonic::Code::DeadlineExceeded, "upstream deadline exceeded")
}

/// Runs one step of a call, turning a panic in tonic into an error status.
async fn guarded<T>(
    step: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    match std::panic::AssertUnwindSafe(step).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(tonic::Status::internal(
            "the upstream sent a malformed response",
        )),
    }
}

/// An UNIMPLEMENTED status without a message (tonic's for a service or method it does not
/// serve) says which method, so that a client can tell a missing method from a wrong upstream.
fn name_unimplemented(status: tonic::Status, path: &str) -> tonic::Status {
    if status.code() != tonic::Code::Unimplemented || !status.message().is_empty() {
        return status;
    }
    tonic::Status::with_details_and_metadata(
        tonic::Code::Unimplemented,
        format!("the upstream does not implement {path}"),
        status.details().to_vec().into(),
        status.metadata().clone(),
    )
}

/// Whether `status` is tonic's report of an expired deadline, which it gives as CANCELLED
/// (client and server alike): a 504, not a 499.
pub(super) fn is_timeout(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Cancelled && status.message().contains("Timeout expired")
}

/// A failed call as an error reply: the status, with the header metadata received before it and
/// its own (trailer) metadata as headers.
fn failure(status: &tonic::Status, headers: &MetadataMap, types: &'static [AnyType]) -> Error {
    let e = if is_timeout(status) {
        deadline_exceeded()
    } else {
        Error::from_status(status, types)
    };
    e.with_headers(metadata::response_headers(headers))
        .with_headers(metadata::trailer_headers(status.metadata()))
}
