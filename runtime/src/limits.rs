//! The router's request limits: URI length (414), header size (431), concurrent requests (503
//! at once, never queued) and the time to start a response (408 or 504). Each answer is a
//! `google.rpc.Status` JSON body, like every other error of the proxy.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body::Frame;
use tonic::Code;

use super::error::Error;

/// An error reply with a status of its own (the code alone would map to another).
fn reply(status: StatusCode, code: Code, message: String) -> Response {
    let mut response = Error::new(code, message).into_response();
    *response.status_mut() = status;
    response
        .extensions_mut()
        .insert(super::binding::ErrorCode(code));
    response
}

/// The bytes the request's header fields take: name, value and 4 (`: ` and CRLF) each.
pub fn header_bytes(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// 414 or 431 when the request target or the header fields are over their limits.
pub fn check_head(
    request: &Request,
    max_uri_bytes: usize,
    max_header_bytes: usize,
) -> Option<Response> {
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri > max_uri_bytes {
        return Some(reply(
            StatusCode::URI_TOO_LONG,
            Code::ResourceExhausted,
            format!("the request target is {uri} bytes long, over the limit of {max_uri_bytes}"),
        ));
    }
    let headers = header_bytes(request.headers());
    if headers > max_header_bytes {
        return Some(reply(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Code::ResourceExhausted,
            format!(
                "the request's header fields take {headers} bytes, over the limit of {max_header_bytes}"
            ),
        ));
    }
    None
}

/// 503 when `max` requests are already being served: the client should retry later.
pub fn too_busy(max: usize) -> Response {
    let mut response = reply(
        StatusCode::SERVICE_UNAVAILABLE,
        Code::Unavailable,
        format!("the proxy is serving its limit of {max} concurrent requests; retry later"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The reply when no response started within the request timeout: 408 when the client had not
/// finished sending its body, else 504 (the upstream was too slow). The connection is closed
/// after it, as its request body may be half read.
pub fn timed_out(limit: Duration, body_received: bool) -> Response {
    let mut response = if body_received {
        reply(
            StatusCode::GATEWAY_TIMEOUT,
            Code::DeadlineExceeded,
            format!("no response within the proxy's request timeout of {limit:?}"),
        )
    } else {
        reply(
            StatusCode::REQUEST_TIMEOUT,
            Code::DeadlineExceeded,
            format!(
                "the request body did not arrive within the proxy's request timeout of {limit:?}"
            ),
        )
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Wraps the request body to learn whether it arrived whole; the flag is set at its end.
pub fn track_body(request: Request) -> (Request, Arc<AtomicBool>) {
    let received = Arc::new(AtomicBool::new(false));
    let flag = received.clone();
    let request = request.map(|body| {
        if http_body::Body::is_end_stream(&body) {
            flag.store(true, Ordering::Relaxed);
            body
        } else {
            Body::new(Tracked {
                body,
                received: flag,
            })
        }
    });
    (request, received)
}

/// A request body that sets its flag when it ends.
struct Tracked {
    body: Body,
    received: Arc<AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.received.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
