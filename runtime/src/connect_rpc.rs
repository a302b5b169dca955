//! The Connect protocol (connectrpc.com), served beside REST/JSON, gRPC and gRPC-Web: each call
//! is made to the upstream as gRPC.
//!
//! - Unary calls: `POST /pkg.Service/Method` with the bare message as `application/proto` or
//!   `application/json`, or `GET` with the message in the query (`message`, `encoding`,
//!   `base64`, `compression`, `connect=v1`) for methods marked `NO_SIDE_EFFECTS`, so that
//!   caches can keep the answer. The reply is the bare message; its header metadata come as
//!   headers, its trailer metadata as `trailer-` headers. An error has the HTTP status of its
//!   code and Connect's error JSON (`{"code":"not_found","message":…,"details":[…]}`).
//! - Streaming calls (`application/connect+proto`, `+json`): messages in 5-byte envelopes both
//!   ways, and the reply ends with an end-of-stream envelope holding the error, if any, and the
//!   trailer metadata.
//!
//! JSON messages are read and written by the generated ProtoJSON, with the router's options,
//! as REST bodies are. `Connect-Timeout-Ms` is the call's deadline; `Connect-Protocol-Version`,
//! when sent, must be `1`. Compressed messages are refused (UNIMPLEMENTED): say
//! `identity`.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use futures_util::StreamExt as _;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tonic::Code;

use super::binding::{ErrorCode, GrpcMethod, Matched, Routes};
use super::compression::Coding;
use super::compression::codec::decode_whole;
use super::error::{Error, http_status, status_details};
use super::grpc;
use super::json::{self, AnyType, JsonOptions, ProtoJson};
use super::metadata;
use super::upstream::Gateway;

/// The end-of-stream envelope's flag.
const END_STREAM: u8 = 0x02;

/// How a Connect call came: unary or streaming, its messages protobuf or JSON, by `GET` or
/// `POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    json: bool,
    streaming: bool,
    get: bool,
}

impl Form {
    /// The Connect form of `parts`, if it is a Connect call: a streaming content-type; a unary
    /// one on a gRPC method's path (JSON only when the client says Connect, or no REST route
    /// takes the request); or a `GET` of a gRPC method's path with a `message` in the query.
    pub(super) fn of(
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        routes: &Routes,
    ) -> Option<Form> {
        let content_type = headers.get(header::CONTENT_TYPE).map(|v| {
            v.as_bytes()
                .split(|&b| b == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii()
        });
        let path = uri.path();
        let known = || {
            routes
                .grpc
                .binary_search_by(|m| m.binding.grpc_method.cmp(path))
                .is_ok()
        };
        let says_connect = headers.contains_key(PROTOCOL_VERSION);
        // An unknown method of an RPC's shape (`/pkg.Service/Method`) still gets Connect's
        // UNIMPLEMENTED rather than REST's 404.
        let rpc_shaped = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .is_some_and(|(service, method)| service.contains('.') && !method.contains('/'));
        if method == Method::GET {
            let query = uri.query().unwrap_or_default();
            let asks = query.split('&').any(|p| p.starts_with("message="));
            return (asks
                && (known() || rpc_shaped)
                && (says_connect
                    || query.contains("connect=v1")
                    || (routes.find)(&Method::GET, path).is_none()))
            .then(|| Form {
                json: !query.split('&').any(|p| p == "encoding=proto"),
                streaming: false,
                get: true,
            });
        }
        if method != Method::POST {
            return None;
        }
        let form = match content_type? {
            b"application/connect+proto" => Form {
                json: false,
                streaming: true,
                get: false,
            },
            b"application/connect+json" => Form {
                json: true,
                streaming: true,
                get: false,
            },
            b"application/proto" => Form {
                json: false,
                streaming: false,
                get: false,
            },
            b"application/json" if says_connect || (routes.find)(&Method::POST, path).is_none() => {
                Form {
                    json: true,
                    streaming: false,
                    get: false,
                }
            }
            _ => return None,
        };
        (form.streaming || says_connect || known() || rpc_shaped).then_some(form)
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match (self.streaming, self.json) {
            (false, false) => "application/proto",
            (false, true) => "application/json",
            (true, false) => "application/connect+proto",
            (true, true) => "application/connect+json",
        })
    }
}

const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("connect-protocol-version");
const TIMEOUT_MS: HeaderName = HeaderName::from_static("connect-timeout-ms");
const CONTENT_ENCODING: HeaderName = HeaderName::from_static("connect-content-encoding");

/// A message's JSON to its protobuf encoding (the generated route table names one per
/// request type).
pub fn json_to_proto<M: ProtoJson + prost::Message + Default>(
    options: &JsonOptions,
    types: &'static [AnyType],
    json: &[u8],
) -> Result<Bytes, Error> {
    let mut message = M::default();
    if !json.iter().all(u8::is_ascii_whitespace) {
        json::merge(&mut message, json, options, types).map_err(|e| Error::body(&e))?;
    }
    Ok(message.encode_to_vec().into())
}

/// A message's protobuf encoding to its JSON (one per reply type).
pub fn proto_to_json<M: ProtoJson + prost::Message + Default>(
    options: &JsonOptions,
    types: &'static [AnyType],
    proto: &[u8],
) -> Result<Vec<u8>, Error> {
    let message = super::upstream::decode::<M>(proto)?;
    let capacity = json::capacity_for(proto.len());
    Ok(json::write(options, types, capacity, &mut |w| {
        w.message(&message)
    })?)
}

/// Serves a Connect call to `method` by calling it upstream as gRPC.
pub(super) async fn call(
    gateway: &Gateway,
    method: &'static GrpcMethod,
    parts: Parts,
    body: Body,
    form: Form,
) -> Response {
    let result = if form.streaming {
        streaming(gateway, method, &parts, body, form).await
    } else {
        unary(gateway, method, &parts, body, form).await
    };
    let mut response = result.unwrap_or_else(|e| {
        let details = e.details().to_vec();
        let mut response = error_response(form, e.code(), e.message(), &details, &HeaderMap::new());
        if !form.streaming && e.status() == http::StatusCode::METHOD_NOT_ALLOWED {
            // A GET of a method with side effects.
            *response.status_mut() = e.status();
        }
        response
    });
    response.extensions_mut().insert(Matched(&method.binding));
    response
}

/// The headers of the gRPC call: the client's metadata through the options' lists, without
/// Connect's own headers, and the deadline.
fn call_headers(gateway: &Gateway, parts: &Parts) -> Result<HeaderMap, Error> {
    let options = gateway.options();
    if let Some(version) = parts.headers.get(PROTOCOL_VERSION)
        && version.as_bytes() != b"1"
    {
        return Err(Error::bad_request(format!(
            "Connect-Protocol-Version {} is not supported: this server speaks version 1",
            super::error::quote(&String::from_utf8_lossy(version.as_bytes()))
        )));
    }
    let metadata = metadata::request_metadata(
        parts,
        options.forward_headers.as_deref(),
        &options.drop_headers,
    )?;
    let mut headers = metadata.into_headers();
    for name in [PROTOCOL_VERSION, TIMEOUT_MS, CONTENT_ENCODING] {
        headers.remove(name);
    }
    headers.remove("connect-accept-encoding");
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    if let Some(timeout) = timeout(parts)?.or(options.default_timeout) {
        headers.insert(metadata::GRPC_TIMEOUT, grpc::grpc_timeout(timeout));
    }
    Ok(headers)
}

/// Whether the request's messages are gzipped, from an encoding header or parameter: `gzip`,
/// or `identity` (or none); others are UNIMPLEMENTED.
fn gzipped(encoding: Option<&[u8]>) -> Result<bool, Error> {
    match encoding {
        None | Some(b"identity") => Ok(false),
        Some(b"gzip") => Ok(true),
        Some(other) => Err(Error::new(
            Code::Unimplemented,
            format!(
                "compression {} is not supported: use gzip or identity",
                super::error::quote(&String::from_utf8_lossy(other))
            ),
        )),
    }
}

/// Decompresses a gzipped message of at most `max` bytes once decompressed.
fn gunzip(data: &[u8], max: usize) -> Result<Bytes, Error> {
    match decode_whole(Coding::Gzip, data, max) {
        Ok(Some(message)) => Ok(message.into()),
        Ok(None) => Err(Error::new(
            Code::ResourceExhausted,
            format!("a message larger than the limit of {max} bytes once decompressed"),
        )),
        Err(e) => Err(Error::bad_request(format!("a compressed message is {e}"))),
    }
}

/// `Connect-Timeout-Ms`: at most 10 digits of milliseconds.
fn timeout(parts: &Parts) -> Result<Option<Duration>, Error> {
    let Some(value) = parts.headers.get(TIMEOUT_MS) else {
        return Ok(None);
    };
    let text = value.as_bytes();
    if text.is_empty() || text.len() > 10 || !text.iter().all(u8::is_ascii_digit) {
        return Err(Error::bad_request(format!(
            "header `Connect-Timeout-Ms`: {} is not a count of milliseconds (at most 10 digits)",
            super::error::quote(&String::from_utf8_lossy(text))
        )));
    }
    let millis = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(u64::MAX);
    Ok(Some(Duration::from_millis(millis)))
}

/// Makes the gRPC call with `headers` and `body` (gRPC frames); the reply's metadata and
/// messages, or the status it failed with and that status's metadata.
async fn grpc_call(
    gateway: &Gateway,
    method: &'static GrpcMethod,
    headers: HeaderMap,
    body: tonic::body::Body,
) -> Result<(HeaderMap, grpc::Messages), tonic::Status> {
    let reply =
        super::passthrough::call_upstream(gateway, method.binding.grpc_method, headers, body)
            .await?;
    let options = gateway.options();
    let accept_gzip = options.upstream_compression.accept_gzip;
    let (metadata, messages) = grpc::reply(reply, options.max_upstream_message_bytes, accept_gzip)?;
    Ok((metadata.into_headers(), messages))
}

/// A unary call: the request message from the body or the query, one reply message.
async fn unary(
    gateway: &Gateway,
    method: &'static GrpcMethod,
    parts: &Parts,
    body: Body,
    form: Form,
) -> Result<Response, Error> {
    if method.kind != super::binding::Kind::Unary {
        return Err(Error::bad_request(format!(
            "{} is a streaming method: call it with application/connect+proto or +json",
            method.binding.grpc_method
        )));
    }
    let (message, json) = if form.get {
        if !method.no_side_effects {
            return Err(Error::method_not_allowed(
                &Method::GET,
                method.binding.grpc_method,
                &["POST"],
            ));
        }
        get_message(parts, gateway.options().max_body_bytes)?
    } else {
        // Read before anything is checked: an answer that leaves the body unread makes HTTP/1.1
        // close the connection under a client still sending.
        let body = gateway.request_body(true, body).await?;
        let encoding = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .map(HeaderValue::as_bytes);
        let body = if gzipped(encoding)? {
            gunzip(&body, gateway.options().max_body_bytes)?
        } else {
            body
        };
        (body, form.json)
    };
    let headers = call_headers(gateway, parts)?;
    let options = &gateway.options().json;
    let message = if json {
        (method.request_from_json)(options, gateway.types, &message)?
    } else {
        message
    };
    let body = tonic::body::Body::new(http_body_util::Full::new(grpc::frame(&message)));
    let (reply_headers, mut messages) = match grpc_call(gateway, method, headers, body).await {
        Ok(reply) => reply,
        Err(status) => return Ok(status_error(form, &status)),
    };
    let reply = match messages.message().await {
        Ok(Some(reply)) => reply,
        Ok(None) => {
            let status = tonic::Status::internal("the upstream sent no reply message");
            return Ok(with_headers(status_error(form, &status), &reply_headers));
        }
        Err(status) => return Ok(with_headers(status_error(form, &status), &reply_headers)),
    };
    let trailers = match messages.trailers().await {
        Ok(trailers) => trailers.map(|t| t.into_headers()).unwrap_or_default(),
        Err(status) => return Ok(status_error(form, &status)),
    };
    let body = if json {
        Bytes::from((method.reply_to_json)(options, gateway.types, &reply)?)
    } else {
        reply
    };
    let mut response = Response::new(Body::from(body));
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, Form { json, ..form }.content_type());
    copy_metadata(&reply_headers, out, "");
    copy_metadata(&trailers, out, "trailer-");
    Ok(response)
}

/// The message of a `GET` call and whether it is JSON, from the query.
fn get_message(parts: &Parts, max: usize) -> Result<(Bytes, bool), Error> {
    let mut message = None;
    let mut encoding = None;
    let mut base64 = false;
    let mut compression = None;
    for (key, value) in form_urlencoded(parts.uri.query().unwrap_or_default()) {
        match key.as_str() {
            "message" => message = Some(value),
            "encoding" => encoding = Some(value),
            "base64" => base64 = value == "1",
            "connect" if value != "v1" => {
                return Err(Error::bad_request(format!(
                    "connect={} is not supported: this server speaks v1",
                    super::error::quote(&value)
                )));
            }
            "compression" => compression = Some(value),
            _ => {}
        }
    }
    let json = match encoding.as_deref() {
        Some("json") => true,
        Some("proto") => false,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "encoding {} is not supported: use json or proto",
                super::error::quote(other)
            )));
        }
        None => return Err(Error::bad_request("a Connect GET needs `encoding`")),
    };
    let message = message.unwrap_or_default();
    let bytes = if base64 {
        URL_SAFE_NO_PAD
            .decode(message.trim_end_matches('='))
            .map_err(|e| Error::bad_request(format!("`message` is not base64url: {e}")))?
    } else {
        message.into_bytes()
    };
    let bytes = if gzipped(compression.as_deref().map(str::as_bytes))? {
        gunzip(&bytes, max)?
    } else {
        bytes.into()
    };
    Ok((bytes, json))
}

/// The key-value pairs of a query string, percent-decoded (`+` is a space).
fn form_urlencoded(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(&text.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (decode(key), decode(value))
    })
}

/// Copies the metadata among `from` to `to`, names prefixed with `prefix`: not the gRPC
/// protocol's own headers, nor those of the upstream's HTTP framing.
fn copy_metadata(from: &HeaderMap, to: &mut HeaderMap, prefix: &str) {
    for (name, value) in from {
        let name = name.as_str();
        if name.starts_with("grpc-") || metadata::not_echoed(name) {
            continue;
        }
        if let Ok(name) = HeaderName::from_bytes(format!("{prefix}{name}").as_bytes()) {
            to.append(name, value.clone());
        }
    }
}

/// Connect's name of a code: `not_found`.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "canceled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// Connect's error JSON: `{"code":…,"message":…,"details":[{"type":…,"value":…}]}`.
fn error_json(code: Code, message: &str, details: &[prost_types::Any]) -> Vec<u8> {
    let options = JsonOptions::default();
    json::write(&options, &[], 64 + message.len(), &mut |w| {
        write_error(w, code, message, details);
    })
    .unwrap_or_default()
}

fn write_error(w: &mut json::Writer<'_>, code: Code, message: &str, details: &[prost_types::Any]) {
    w.begin_object();
    w.key("code", "code");
    w.string(code_name(code));
    if !message.is_empty() {
        w.key("message", "message");
        w.string(message);
    }
    if !details.is_empty() {
        w.key("details", "details");
        w.begin_array();
        for detail in details {
            w.item();
            w.begin_object();
            w.key("type", "type");
            let name = detail.type_url.rsplit('/').next().unwrap_or_default();
            w.string(name);
            w.key("value", "value");
            w.string(&STANDARD_NO_PAD.encode(&detail.value));
            w.end_object();
        }
        w.end_array();
    }
    w.end_object();
}

/// `response` with the upstream's header metadata too (a unary error after its headers).
fn with_headers(mut response: Response, reply_headers: &HeaderMap) -> Response {
    copy_metadata(reply_headers, response.headers_mut(), "");
    response
}

/// An upstream status as the client's error, with its metadata.
fn status_error(form: Form, status: &tonic::Status) -> Response {
    let details = status_details(status.details());
    let metadata = status.metadata().clone().into_headers();
    let (code, message) = plain(status);
    error_response(form, code, message, &details, &metadata)
}

/// A status's code and message, an expired deadline as DEADLINE_EXCEEDED.
fn plain(status: &tonic::Status) -> (Code, &str) {
    if super::upstream::is_timeout(status) {
        (Code::DeadlineExceeded, "upstream deadline exceeded")
    } else {
        (status.code(), status.message())
    }
}

/// An error in the call's form: the status of its code and the error JSON for a unary call;
/// for a streaming one, 200 and an end-of-stream envelope that holds the error.
pub(super) fn error_response(
    form: Form,
    code: Code,
    message: &str,
    details: &[prost_types::Any],
    metadata: &HeaderMap,
) -> Response {
    let mut response = if form.streaming {
        let end = end_stream(Some((code, message, details)), metadata);
        let mut response = Response::new(Body::from(end));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, form.content_type());
        response
    } else {
        let mut response = Response::new(Body::from(error_json(code, message, details)));
        *response.status_mut() = http_status(code);
        let out = response.headers_mut();
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        copy_metadata(metadata, out, "");
        response
    };
    response.extensions_mut().insert(ErrorCode(code));
    response
}

/// The end-of-stream envelope: the error, if the call failed, and the trailer metadata.
fn end_stream(error: Option<(Code, &str, &[prost_types::Any])>, trailers: &HeaderMap) -> Bytes {
    let options = JsonOptions::default();
    let json = json::write(&options, &[], 64, &mut |w| {
        w.begin_object();
        if let Some((code, message, details)) = error {
            w.key("error", "error");
            write_error(w, code, message, details);
        }
        let mut names: Vec<&str> = trailers
            .keys()
            .map(HeaderName::as_str)
            .filter(|n| !n.starts_with("grpc-") && !metadata::not_echoed(n))
            .collect();
        names.dedup();
        if !names.is_empty() {
            w.key("metadata", "metadata");
            w.begin_object();
            for name in names {
                w.key(name, name);
                w.begin_array();
                for value in trailers.get_all(name) {
                    w.item();
                    w.string(&String::from_utf8_lossy(value.as_bytes()));
                }
                w.end_array();
            }
            w.end_object();
        }
        w.end_object();
    })
    .unwrap_or_else(|_| b"{}".to_vec());
    envelope(END_STREAM, &json)
}

fn envelope(flags: u8, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + data.len());
    out.put_u8(flags);
    out.put_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
    out.put_slice(data);
    out.freeze()
}

/// A streaming call: the client's envelopes become gRPC frames (JSON messages transcoded),
/// the upstream's messages become envelopes, and an end-of-stream envelope ends the reply.
async fn streaming(
    gateway: &Gateway,
    method: &'static GrpcMethod,
    parts: &Parts,
    body: Body,
    form: Form,
) -> Result<Response, Error> {
    let headers = call_headers(gateway, parts)?;
    let gzip = gzipped(
        parts
            .headers
            .get(CONTENT_ENCODING)
            .map(HeaderValue::as_bytes),
    )?;
    let options = gateway.options().json.clone();
    let types = gateway.types;
    let max = gateway.options().max_body_bytes;
    // What went wrong with the client's messages, if anything did: the call is reset, and
    // the client is told this rather than what the reset looked like upstream.
    let refused = RequestFailure::default();
    let transcode = {
        let (options, refused) = (options.clone(), refused.clone());
        move |message: Result<Bytes, Error>| {
            let message = match message {
                Ok(m) if form.json => (method.request_from_json)(&options, types, &m),
                other => other,
            };
            message.map(|m| grpc::frame(&m)).map_err(|e| {
                let text = e.to_string();
                refused.set(e);
                std::io::Error::new(std::io::ErrorKind::InvalidData, text)
            })
        }
    };
    let request =
        tonic::body::Body::new(Body::from_stream(envelopes(body, max, gzip).map(transcode)));
    let (reply_headers, messages) = match grpc_call(gateway, method, headers, request).await {
        Ok(reply) => reply,
        Err(status) => return Ok(refused.or_status(form, &status)),
    };
    let json = form.json;
    let replies = futures_util::stream::unfold(Some(messages), move |state| {
        let options = options.clone();
        let refused = refused.clone();
        async move {
            let mut messages = state?;
            let end = match messages.message().await {
                Ok(Some(message)) if !json => {
                    return Some((Ok(envelope(0, &message)), Some(messages)));
                }
                Ok(Some(message)) => match (method.reply_to_json)(&options, types, &message) {
                    Ok(data) => return Some((Ok(envelope(0, &data)), Some(messages))),
                    Err(e) => {
                        let details = e.details().to_vec();
                        end_stream(Some((e.code(), e.message(), &details)), &HeaderMap::new())
                    }
                },
                Ok(None) => {
                    let trailers = match messages.trailers().await {
                        Ok(trailers) => trailers.map(|t| t.into_headers()).unwrap_or_default(),
                        Err(status) => status.metadata().clone().into_headers(),
                    };
                    end_stream(None, &trailers)
                }
                Err(status) => match refused.take() {
                    Some((code, message)) => {
                        end_stream(Some((code, &message, &[])), &HeaderMap::new())
                    }
                    None => {
                        let details = status_details(status.details());
                        let trailers = status.metadata().clone().into_headers();
                        let (code, message) = plain(&status);
                        end_stream(Some((code, message, &details)), &trailers)
                    }
                },
            };
            Some((Ok::<_, std::convert::Infallible>(end), None))
        }
    });
    let mut response = Response::new(Body::from_stream(replies));
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, form.content_type());
    copy_metadata(&reply_headers, out, "");
    Ok(response)
}

/// Where a streaming call's request side records why it failed.
#[derive(Debug, Clone, Default)]
struct RequestFailure(std::sync::Arc<std::sync::Mutex<Option<(Code, String)>>>);

impl RequestFailure {
    fn set(&self, e: Error) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert((e.code(), e.message().to_string()));
    }

    fn take(&self) -> Option<(Code, String)> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// The client's error when there was one, else the upstream's `status`.
    fn or_status(&self, form: Form, status: &tonic::Status) -> Response {
        match self.take() {
            Some((code, message)) => error_response(form, code, &message, &[], &HeaderMap::new()),
            None => status_error(form, status),
        }
    }
}

/// The messages of a body of 5-byte-prefixed envelopes (Connect's, or gRPC's frames, which
/// are the same), each at most `max` bytes; compressed ones (flag 1) are gunzipped when
/// `gzip`. A malformed envelope (an unknown flag, a body that ends inside one) is an error.
pub(super) fn envelopes(
    body: Body,
    max: usize,
    gzip: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, Error>> + Send {
    let frames = body.into_data_stream();
    futures_util::stream::unfold(
        (frames, BytesMut::new(), false),
        move |(mut frames, mut buffer, done)| async move {
            if done {
                return None;
            }
            loop {
                if buffer.len() >= 5 {
                    let flags = buffer[0];
                    let len =
                        u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
                    let problem = if flags == 0x01 && !gzip {
                        Some("a compressed message, but no compression was agreed".to_string())
                    } else if flags & !0x01 != 0 {
                        Some(format!("envelope flags {flags:#04x} are not a message's"))
                    } else {
                        None
                    };
                    if let Some(problem) = problem {
                        let e = Error::bad_request(format!("malformed request: {problem}"));
                        return Some((Err(e), (frames, buffer, true)));
                    }
                    if len > max {
                        let e = Error::new(
                            Code::ResourceExhausted,
                            format!(
                                "a message of {len} bytes, larger than the limit of {max} bytes"
                            ),
                        );
                        return Some((Err(e), (frames, buffer, true)));
                    }
                    if buffer.len() >= 5 + len {
                        buffer.advance(5);
                        let message = buffer.split_to(len).freeze();
                        let message = if flags == 0x01 {
                            gunzip(&message, max)
                        } else {
                            Ok(message)
                        };
                        let done = message.is_err();
                        return Some((message, (frames, buffer, done)));
                    }
                }
                match frames.next().await {
                    Some(Ok(data)) => buffer.extend_from_slice(&data),
                    Some(Err(e)) => {
                        let e = Error::bad_request(format!("could not read the request body: {e}"));
                        return Some((Err(e), (frames, buffer, true)));
                    }
                    None if buffer.is_empty() => return None,
                    None => {
                        let e = Error::bad_request(
                            "malformed request: the body ends inside an envelope",
                        );
                        return Some((Err(e), (frames, buffer, true)));
                    }
                }
            }
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_connect_json() {
        let details = [prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.ErrorInfo".to_string(),
            value: vec![1, 2, 3],
        }];
        let json = error_json(Code::NotFound, "no shelf", &details);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"code":"not_found","message":"no shelf","details":[{"type":"google.rpc.ErrorInfo","value":"AQID"}]}"#
        );
        assert_eq!(
            String::from_utf8(error_json(Code::Cancelled, "", &[])).unwrap(),
            r#"{"code":"canceled"}"#
        );
    }

    #[test]
    fn the_end_of_a_stream_holds_the_error_and_the_trailers() {
        let mut trailers = HeaderMap::new();
        trailers.append("x-a", HeaderValue::from_static("1"));
        trailers.append("x-a", HeaderValue::from_static("2"));
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let end = end_stream(None, &trailers);
        assert_eq!(end[0], END_STREAM);
        assert_eq!(&end[5..], br#"{"metadata":{"x-a":["1","2"]}}"#);
        let end = end_stream(Some((Code::Aborted, "stop", &[])), &HeaderMap::new());
        assert_eq!(
            &end[5..],
            br#"{"error":{"code":"aborted","message":"stop"}}"#
        );
    }
}
