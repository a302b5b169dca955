//! Errors on the request path. Every failure, the proxy's own or the upstream's, becomes one
//! response: the HTTP status mapped from the gRPC code and a `google.rpc.Status` JSON body.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tonic::Code;

use super::json::{self, AnyType, JsonError, JsonOptions};
use super::scalar::ScalarError;

/// Longest offending value quoted back in an error message.
const MAX_QUOTED: usize = 64;

/// A failed request: a gRPC status code, a message for the client, and extra response headers.
/// Boxed, so the `Result`s of the request path stay one pointer wide.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    code: Code,
    message: String,
    /// Overrides the status mapped from `code` (405, 413).
    http_status: Option<StatusCode>,
    headers: HeaderMap,
    /// `google.rpc.Status.details` from the upstream, and the types to render them with.
    details: Vec<prost_types::Any>,
    types: &'static [AnyType],
}

/// In the extensions of an error response: its code and message, so that a layer answering a
/// gRPC client can say the error in gRPC's form rather than as JSON.
#[derive(Debug, Clone)]
pub struct ErrorStatus {
    /// The gRPC status code.
    pub code: Code,
    /// The status message.
    pub message: String,
}

/// `google.rpc.Status` as carried in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

impl Error {
    /// An error with the HTTP status the code maps to.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            code,
            message: message.into(),
            http_status: None,
            headers: HeaderMap::new(),
            details: Vec::new(),
            types: &[],
        }))
    }

    /// A client error in the request itself (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::new(Code::InvalidArgument, message)
    }

    /// No template matches the path (404).
    pub fn not_found(method: &http::Method, path: &str) -> Self {
        Error::new(
            Code::NotFound,
            format!("no route for {method} {}", quote(path)),
        )
    }

    /// Templates match the path, but only for other methods (405 with `Allow`).
    pub fn method_not_allowed(method: &http::Method, path: &str, allow: &[&str]) -> Self {
        // Each method once: a GET route and a HEAD binding of its own both allow HEAD.
        let mut methods: Vec<&str> = Vec::with_capacity(allow.len());
        for m in allow {
            if !methods.contains(m) {
                methods.push(m);
            }
        }
        let allow = methods.join(", ");
        let mut e = Error::new(
            Code::Unimplemented,
            format!(
                "method {method} is not allowed for {}; allowed: {allow}",
                quote(path),
            ),
        );
        e.0.http_status = Some(StatusCode::METHOD_NOT_ALLOWED);
        if let Ok(value) = HeaderValue::from_str(&allow) {
            e.0.headers.insert(header::ALLOW, value);
        }
        e
    }

    /// The request body is larger than the configured limit (413).
    pub fn payload_too_large(limit: usize) -> Self {
        let mut e = Error::new(
            Code::ResourceExhausted,
            format!("request body is larger than the limit of {limit} bytes"),
        );
        e.0.http_status = Some(StatusCode::PAYLOAD_TOO_LARGE);
        e
    }

    /// A path variable whose text does not parse as its field's type.
    pub fn path_variable(name: &str, value: &str, error: &ScalarError) -> Self {
        Error::bad_request(format!(
            "path variable `{name}`: {}",
            mismatch(error, value)
        ))
    }

    /// A query parameter whose value does not parse as its field's type.
    pub fn query_parameter(name: &str, value: &str, error: &ScalarError) -> Self {
        Error::bad_request(format!(
            "query parameter `{name}`: {}",
            mismatch(error, value)
        ))
    }

    /// The request body is not valid ProtoJSON for the request message.
    pub fn body(error: &JsonError) -> Self {
        Error::bad_request(format!("invalid JSON body: {error}"))
    }

    /// An error the upstream returned, or the call failing to reach it. Its details
    /// (`grpc-status-details-bin`) are kept and rendered with `types` (the google.rpc error
    /// types and the API's own messages); details that do not decode are dropped.
    pub fn from_status(status: &tonic::Status, types: &'static [AnyType]) -> Self {
        let mut e = Error::new(status.code(), status.message());
        if status.code() == Code::Unauthenticated {
            e.0.headers
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        e.0.details = status_details(status.details());
        e.0.types = types;
        e
    }

    /// Adds a response header (metadata of a failed upstream call, for instance).
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.0.headers.extend(headers);
        self
    }

    /// The gRPC status code of the error.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The error's message, as the client reads it.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The upstream's `google.rpc.Status` details, if it sent any.
    pub fn details(&self) -> &[prost_types::Any] {
        &self.0.details
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.0
            .http_status
            .unwrap_or_else(|| http_status(self.0.code))
    }

    /// The `google.rpc.Status` JSON body. Details with no JSON form (a Timestamp out of range
    /// inside one, say) are left out rather than losing the error itself.
    pub fn body_json(&self) -> Vec<u8> {
        let options = JsonOptions::default();
        let capacity = 64 + self.0.message.len();
        let body = |details: &[prost_types::Any]| {
            json::write(&options, self.0.types, capacity, &mut |w| {
                w.begin_object();
                w.key("code", "code");
                w.int32(&(self.0.code as i32));
                w.key("message", "message");
                w.string(&self.0.message);
                w.key("details", "details");
                w.begin_array();
                for detail in details {
                    w.item();
                    w.message(detail);
                }
                w.end_array();
                w.end_object();
            })
        };
        body(&self.0.details)
            .or_else(|_| body(&[]))
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.0.code, self.0.message)
    }
}

impl std::error::Error for Error {}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = self.body_json();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.extend(self.0.headers);
        response.extensions_mut().insert(ErrorStatus {
            code: self.0.code,
            message: self.0.message,
        });
        response
    }
}

/// The details of a `grpc-status-details-bin` value (an encoded `google.rpc.Status`); none
/// when it does not decode.
pub(super) fn status_details(bytes: &[u8]) -> Vec<prost_types::Any> {
    if bytes.is_empty() {
        return Vec::new();
    }
    <RpcStatus as prost::Message>::decode(bytes)
        .map(|status| status.details)
        .unwrap_or_default()
}

/// The HTTP status for a gRPC code, as in `google.rpc.Code` and grpc-gateway.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

/// `expected a 32-bit integer, got "x" (out of range)`.
fn mismatch(error: &ScalarError, value: &str) -> String {
    if error.detail.is_empty() {
        format!("expected {}, got {}", error.expected, quote(value))
    } else {
        format!(
            "expected {}, got {} ({})",
            error.expected,
            quote(value),
            error.detail
        )
    }
}

/// Quotes a client-supplied value for an error message, truncated so errors stay small.
pub fn quote(value: &str) -> String {
    let mut end = value.len().min(MAX_QUOTED);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    if end < value.len() {
        format!("{:?}…", &value[..end])
    } else {
        format!("{value:?}")
    }
}
