//! gRPC and gRPC-Web clients on the REST port, so that one address serves every client.
//!
//! - A `POST` whose content-type is gRPC's (`application/grpc`, `+proto`, `+json`, …) is a gRPC
//!   call, passed to the upstream as it came: every streaming kind, its metadata, deadline,
//!   messages, trailers and status.
//! - A `POST` with gRPC-Web's (`application/grpc-web`, `+proto`, `+json`, or
//!   `application/grpc-web-text` for base64) is a gRPC-Web call (unary or server streaming, as
//!   browsers make them; [`super::grpc_web`]), over HTTP/1.1 or HTTP/2: its one request message
//!   is read whole and checked, then sent as a gRPC call, and the reply comes back with its
//!   trailers as the body's last frame.
//!
//! Only the methods of the services the crate was generated for pass (the route table's
//! [`Routes::grpc`](super::binding::Routes::grpc)); any other path is the proxy's own
//! UNIMPLEMENTED. The request headers go through the same allow- and deny-lists as a REST
//! call's, with `X-Forwarded-For` and `X-Forwarded-Host` added; the gRPC protocol's own headers
//! (`te`, `grpc-timeout`, `grpc-encoding`, …) are kept. Messages are not decoded: compressed
//! ones pass as they are, and the upstream's limits apply.
//!
//! Errors are said in the call's protocol, a trailers-only response with `grpc-status`, never
//! as JSON: the proxy's own refusals (limits, an unreachable upstream, an unknown method, a
//! malformed gRPC-Web request) and a reply stream that breaks midway, which ends with its
//! status rather than a reset.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use http_body::Frame;
use tonic::Code;
use tower::{Service as _, ServiceExt as _};

use super::binding::{Binding, GrpcMethod, Kind, Matched, Routes};
use super::connect_rpc;
use super::error::{Error, ErrorStatus};
use super::grpc;
use super::grpc_web::{JsonFrames, Web};
use super::metadata;
use super::service::ObservedBody;
use super::upstream::Gateway;
use futures_util::StreamExt as _;

/// The request headers of the gRPC protocol itself, passed on as they came (the metadata
/// lists never see them).
const PROTOCOL_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::TE,
    HeaderName::from_static("grpc-encoding"),
    HeaderName::from_static("grpc-accept-encoding"),
];

/// How a call passed to the upstream came: as gRPC, gRPC-Web or Connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `application/grpc` and `+proto`: passed through as it came.
    Grpc,
    /// `application/grpc+json`: messages in JSON, transcoded both ways (the upstream is called
    /// with protobuf).
    GrpcJson,
    /// gRPC-Web in one of its forms.
    GrpcWeb(Web),
    /// Connect in one of its forms.
    Connect(connect_rpc::Form),
}

/// The protocol of `request` when it is a call of an RPC protocol rather than a REST one: a
/// `POST` with gRPC's or gRPC-Web's content-type, or a Connect call (see
/// [`connect_rpc::Form::of`]).
pub fn protocol(request: &Request, routes: &Routes) -> Option<Protocol> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    if request.method() == Method::POST
        && let Some(content_type) = content_type
    {
        if grpc::is_grpc(content_type) {
            let json = content_type.starts_with(b"application/grpc+json");
            return Some(if json {
                Protocol::GrpcJson
            } else {
                Protocol::Grpc
            });
        }
        if let Some(web) = Web::of(content_type) {
            return Some(Protocol::GrpcWeb(web));
        }
    }
    connect_rpc::Form::of(request.method(), request.uri(), request.headers(), routes)
        .map(Protocol::Connect)
}

/// Passes a call to the upstream if its path is one of `methods` (sorted by gRPC method), and
/// relays the reply in the call's protocol.
pub async fn forward(
    gateway: &Gateway,
    request: Request,
    methods: &'static [GrpcMethod],
    protocol: Protocol,
) -> Response {
    let path = request.uri().path();
    let Ok(i) = methods.binary_search_by(|m| m.binding.grpc_method.cmp(path)) else {
        let message = format!(
            "unknown method {}: this proxy passes only the methods of the services it was generated for",
            super::error::quote(path)
        );
        drain_http1(request, gateway.options().max_body_bytes).await;
        return status_response(protocol, Code::Unimplemented, &message, None);
    };
    let method = &methods[i];
    let binding = &method.binding;
    let (parts, body) = request.into_parts();
    if let Protocol::Connect(form) = protocol {
        return connect_rpc::call(gateway, &methods[i], parts, body, form).await;
    }
    let options = gateway.options();
    let refuse = |e: Error| status_response(protocol, e.code(), e.message(), Some(binding));
    let mut headers = match call_headers(&parts, gateway) {
        Ok(headers) => headers,
        Err(e) => return refuse(e),
    };
    let max = options.max_body_bytes;
    let body = match protocol {
        // One request message: read whole (bounded), then sent in one go, so that the call's
        // stream is closed with its last frame rather than after the reply has come back.
        Protocol::Grpc if matches!(method.kind, Kind::Unary | Kind::ServerStreaming) => {
            match gateway.request_body(true, body).await {
                Ok(bytes) => tonic::body::Body::new(http_body_util::Full::new(bytes)),
                Err(e) => return refuse(e),
            }
        }
        Protocol::Grpc | Protocol::Connect(_) => tonic::body::Body::new(body),
        Protocol::GrpcJson => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            let (json, types) = (options.json.clone(), gateway.types);
            let transcode = move |message: Result<Bytes, Error>| {
                message
                    .and_then(|m| (method.request_from_json)(&json, types, &m))
                    .map(|m| grpc::frame(&m))
                    .map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                    })
            };
            let frames = connect_rpc::envelopes(body, max, false).map(transcode);
            tonic::body::Body::new(Body::from_stream(frames))
        }
        Protocol::GrpcWeb(web) => {
            let message = gateway.request_body(true, body).await.and_then(|bytes| {
                let json = &options.json;
                web.request_message(bytes, &parts.headers, method, json, gateway.types)
            });
            match message {
                Ok(message) => {
                    web.to_grpc_headers(&mut headers);
                    tonic::body::Body::new(http_body_util::Full::new(message))
                }
                Err(e) => return refuse(e),
            }
        }
    };
    if !parts.headers.contains_key(&metadata::GRPC_TIMEOUT)
        && let Some(timeout) = options.default_timeout
    {
        headers.insert(metadata::GRPC_TIMEOUT, grpc::grpc_timeout(timeout));
    }
    match call_upstream(gateway, binding.grpc_method, headers, body).await {
        Ok(reply) => {
            let json = options.json.clone();
            let max = options.max_upstream_message_bytes;
            let frames = |body| JsonFrames::new(body, method, json, gateway.types, max);
            match protocol {
                Protocol::GrpcWeb(web) if web.json() => relay(reply, binding, Some(web), frames),
                Protocol::GrpcWeb(web) => relay(reply, binding, Some(web), |body| body),
                Protocol::GrpcJson => {
                    let mut response = relay(reply, binding, None, frames);
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/grpc+json"),
                    );
                    response
                }
                Protocol::Grpc | Protocol::Connect(_) => relay(reply, binding, None, |body| body),
            }
        }
        Err(status) => status_response(protocol, status.code(), status.message(), Some(binding)),
    }
}

/// Calls `path` upstream with `headers` and `body` (gRPC frames) and waits for the reply's
/// headers; a transport failure is UNAVAILABLE.
pub(super) async fn call_upstream(
    gateway: &Gateway,
    path: &'static str,
    headers: HeaderMap,
    body: tonic::body::Body,
) -> Result<http::Response<ObservedBody>, tonic::Status> {
    let mut call = http::Request::new(body);
    *call.method_mut() = Method::POST;
    *call.uri_mut() = http::Uri::from(http::uri::PathAndQuery::from_static(path));
    *call.version_mut() = http::Version::HTTP_2;
    *call.headers_mut() = headers;
    let mut upstream = gateway.upstream.clone();
    let reply = match upstream.ready().await {
        Ok(upstream) => upstream.call(call).await,
        Err(e) => Err(e),
    };
    reply.map_err(|e| {
        let status = tonic::Status::from_error(e.into());
        match status.code() {
            // A transport failure, which tonic reports as UNKNOWN.
            Code::Unknown => {
                tonic::Status::unavailable(format!("upstream unavailable: {}", status.message()))
            }
            _ => status,
        }
    })
}

/// The headers of the call to the upstream: the client's metadata through the options' lists
/// (with the forwarding headers), and the protocol's own headers as they came.
fn call_headers(parts: &http::request::Parts, gateway: &Gateway) -> Result<HeaderMap, Error> {
    let options = gateway.options();
    let metadata = metadata::request_metadata(
        parts,
        options.forward_headers.as_deref(),
        &options.drop_headers,
    )?;
    // Validates the client's deadline as the REST path does.
    metadata::timeout(parts)?;
    let mut headers = metadata.into_headers();
    for name in PROTOCOL_HEADERS.iter().chain([&metadata::GRPC_TIMEOUT]) {
        for value in parts.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    Ok(headers)
}

/// The upstream's reply as the client's: its status, headers, messages and trailers (for
/// gRPC-Web, in the body's last frame). A body that breaks midway ends with its error status.
fn relay<B>(
    reply: http::Response<ObservedBody>,
    binding: &'static Binding,
    web: Option<Web>,
    messages: impl FnOnce(ObservedBody) -> B,
) -> Response
where
    B: http_body::Body<Data = Bytes, Error = tonic::Status> + Unpin + Send + 'static,
{
    let (mut parts, body) = reply.into_parts();
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
    ] {
        parts.headers.remove(name);
    }
    parts.extensions = http::Extensions::new();
    parts.extensions.insert(Matched(binding));
    deadline_exceeded(&mut parts.headers);
    let body = match web {
        None => Body::new(Relay {
            body: messages(body),
            done: false,
        }),
        Some(web) => {
            parts
                .headers
                .insert(header::CONTENT_TYPE, web.content_type());
            Body::new(web.reply_body(messages(body)))
        }
    };
    Response::from_parts(parts, body)
}

/// An error in the call's protocol: for gRPC and gRPC-Web a trailers-only response (HTTP 200,
/// the status in the headers), for Connect its error form.
fn status_response(
    protocol: Protocol,
    code: Code,
    message: &str,
    binding: Option<&'static Binding>,
) -> Response {
    let content_type = match protocol {
        Protocol::Grpc => HeaderValue::from_static("application/grpc"),
        Protocol::GrpcJson => HeaderValue::from_static("application/grpc+json"),
        Protocol::GrpcWeb(web) => web.content_type(),
        Protocol::Connect(form) => {
            let mut response =
                connect_rpc::error_response(form, code, message, &[], &HeaderMap::new());
            if let Some(binding) = binding {
                response.extensions_mut().insert(Matched(binding));
            }
            return response;
        }
    };
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    add_status(headers, code, message);
    response
        .extensions_mut()
        .insert(super::binding::ErrorCode(code));
    if let Some(binding) = binding {
        response.extensions_mut().insert(Matched(binding));
    }
    response
}

/// `grpc-status` and `grpc-message` (percent-encoded, as the protocol has it).
pub(super) fn add_status(headers: &mut HeaderMap, code: Code, message: &str) {
    let status = tonic::Status::new(code, message);
    if status.add_header(headers).is_err() {
        headers.insert(
            HeaderName::from_static("grpc-status"),
            HeaderValue::from(code as i32),
        );
    }
}

/// The trailers that end a reply whose stream broke off with `status`.
pub(super) fn broken_off(status: &tonic::Status) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    let message = format!("the upstream's reply broke off: {}", status.message());
    add_status(&mut trailers, status.code(), &message);
    trailers
}

/// `response` as a gRPC client can read it: an error the proxy answered in JSON (a limit, the
/// request timeout) becomes a trailers-only response with the same code and message; any
/// other response is left as it is.
pub fn grpc_form(response: Response, protocol: Protocol) -> Response {
    let Some(ErrorStatus { code, message }) = response.extensions().get::<ErrorStatus>().cloned()
    else {
        return response;
    };
    let (parts, _) = response.into_parts();
    let mut grpc = status_response(protocol, code, &message, None);
    *grpc.extensions_mut() = parts.extensions;
    if let Some(retry) = parts.headers.get(header::RETRY_AFTER) {
        grpc.headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    grpc
}

/// An expired deadline, which tonic reports as CANCELLED `Timeout expired`, said as
/// DEADLINE_EXCEEDED in a reply's status (headers of a trailers-only reply, or trailers), as the
/// REST path says it.
pub(super) fn deadline_exceeded(headers: &mut HeaderMap) {
    let timed_out = headers.get("grpc-status").is_some_and(|s| s == "1")
        && headers.get("grpc-message").is_some_and(|m| {
            m.as_bytes().starts_with(b"Timeout") && m.as_bytes().ends_with(b"expired")
        });
    if timed_out {
        headers.insert("grpc-status", HeaderValue::from_static("4"));
        headers.insert(
            "grpc-message",
            HeaderValue::from_static("upstream%20deadline%20exceeded"),
        );
    }
}

/// Reads and drops what is left of an HTTP/1.x request's body (up to `limit` bytes) before an
/// early answer: one that leaves it unread makes the connection close under a client still
/// sending, which it sees as a broken pipe instead of the answer. HTTP/2 streams end apart.
async fn drain_http1(request: Request, limit: usize) {
    if request.version() < http::Version::HTTP_2 {
        let _ = axum::body::to_bytes(request.into_body(), limit).await;
    }
}

/// A reply body relayed to the client; a failure ends it with trailers that say it.
struct Relay<B> {
    body: B,
    done: bool,
}

impl<B> http_body::Body for Relay<B>
where
    B: http_body::Body<Data = Bytes, Error = tonic::Status> + Unpin,
{
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
            Some(Ok(frame)) => Poll::Ready(Some(Ok(match frame.into_trailers() {
                Ok(mut trailers) => {
                    deadline_exceeded(&mut trailers);
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            }))),
            Some(Err(status)) => {
                self.done = true;
                Poll::Ready(Some(Ok(Frame::trailers(broken_off(&status)))))
            }
            None => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.body.is_end_stream()
    }
}
