//! The router's request limits: URI length (414), header size (431), concurrent requests (503
//! at once, never queued) and the time to start a response (408 or 504). Each answer is a
//! `google.rpc.Status` JSON body, like every other error of the proxy.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// How much of a request body has arrived: its bytes so far (for the access log), and whether
/// it arrived whole (a timeout is then the upstream's, 504, else the client's, 408).
#[derive(Debug, Default)]
pub struct BodyProgress {
    /// Bytes of the body read so far.
    pub bytes: AtomicU64,
    /// Set when the body has ended.
    pub whole: AtomicBool,
}

/// Wraps the request body to follow its [`BodyProgress`].
pub fn track_body(request: Request) -> (Request, Arc<BodyProgress>) {
    let progress = Arc::new(BodyProgress::default());
    let tracked = progress.clone();
    let request = request.map(|body| {
        if http_body::Body::is_end_stream(&body) {
            tracked.whole.store(true, Ordering::Relaxed);
            body
        } else {
            Body::new(Tracked {
                body,
                progress: tracked,
            })
        }
    });
    (request, progress)
}

/// A request body that counts its bytes and marks its end.
struct Tracked {
    body: Body,
    progress: Arc<BodyProgress>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.progress
                .bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.progress.whole.store(true, Ordering::Relaxed);
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
