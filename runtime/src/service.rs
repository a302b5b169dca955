//! The upstream service as the router calls it: whatever tonic service it was given, observed
//! (for logs and metrics) and boxed into one type, [`BoxUpstream`].
//!
//! Boxing costs an allocation per call and per reply body; in exchange every handler, and all
//! the code under them, is compiled once in this crate instead of once for each upstream type a
//! program uses, which is what keeps an API of a thousand methods quick to build.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use tonic::client::GrpcService;
use tonic::codegen::{Body as HttpBody, StdError};

use super::metadata::GRPC_STATUS;

/// Any tonic gRPC service can be the upstream: a `Channel` to a remote server, or a tonic server
/// (`Routes`, a generated `…Server`) called in-process with no network hop.
pub trait Upstream:
    GrpcService<
        tonic::body::Body,
        ResponseBody: HttpBody<Data = Bytes, Error: Into<StdError>> + Send + 'static,
        Future: Send,
        Error: Into<StdError>,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Upstream for T where
    T: GrpcService<
            tonic::body::Body,
            ResponseBody: HttpBody<Data = Bytes, Error: Into<StdError>> + Send + 'static,
            Future: Send,
            Error: Into<StdError>,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The upstream of a router, whatever its type.
pub type BoxUpstream = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<ObservedBody>,
    UpstreamError,
>;

/// The upstream's own error, unchanged (tonic reads a `Status` in it back as that status).
///
/// A newtype rather than `StdError` itself: with a boxed trait object as the service's error,
/// rustc cannot prove the handlers' futures `Send` for every lifetime.
#[derive(Debug)]
pub struct UpstreamError(StdError);

impl From<UpstreamError> for StdError {
    fn from(error: UpstreamError) -> Self {
        error.0
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `upstream`, observed and boxed.
pub fn boxed<T: Upstream>(upstream: T) -> BoxUpstream {
    BoxUpstream::new(Observed(upstream))
}

tokio::task_local! {
    /// The upstream call of the request being served, for [`Observed`].
    pub(super) static CALL: Arc<Call>;
}

/// How the request's upstream call went, as [`Observed`] saw it.
#[derive(Debug)]
pub(super) struct Call {
    pub(super) called: AtomicBool,
    /// The call failed in transport: no connection, or a broken stream.
    pub(super) broken: AtomicBool,
    /// The `grpc-status` it ended with; -1 until known.
    status: AtomicI32,
    /// When the call was sent, and when its status (or its failure) came.
    pub(super) sent: std::sync::OnceLock<std::time::Instant>,
    pub(super) ended: std::sync::OnceLock<std::time::Instant>,
}

impl Call {
    pub(super) fn new() -> Self {
        Call {
            called: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            status: AtomicI32::new(-1),
            sent: std::sync::OnceLock::new(),
            ended: std::sync::OnceLock::new(),
        }
    }

    /// How long the upstream took, from sending the call to its status, once both are known.
    pub(super) fn upstream_time(&self) -> Option<std::time::Duration> {
        Some(
            self.ended
                .get()?
                .saturating_duration_since(*self.sent.get()?),
        )
    }

    /// The call ended with the `grpc-status` `code`.
    fn end(&self, code: i32) {
        self.status.store(code, Ordering::Relaxed);
        let _ = self.ended.set(std::time::Instant::now());
    }

    /// The call failed in transport once sent: no reply, or a broken stream.
    fn break_off(&self) {
        self.broken.store(true, Ordering::Relaxed);
        let _ = self.ended.set(std::time::Instant::now());
    }

    pub(super) fn status(&self) -> Option<i32> {
        Some(self.status.load(Ordering::Relaxed)).filter(|s| *s >= 0)
    }
}

/// `grpc-status` in headers or trailers.
fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers.get(&GRPC_STATUS)?.to_str().ok()?.parse().ok()
}

/// The upstream as the router calls it: records, for the request being served, whether the
/// call could be made and the status it ended with.
#[derive(Debug, Clone)]
struct Observed<T>(T);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<T: Upstream> tower::Service<http::Request<tonic::body::Body>> for Observed<T> {
    type Response = http::Response<ObservedBody>;
    type Error = UpstreamError;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match GrpcService::poll_ready(&mut self.0, cx) {
            Poll::Ready(Err(e)) => {
                let _ = CALL.try_with(|call| call.broken.store(true, Ordering::Relaxed));
                Poll::Ready(Err(UpstreamError(e.into())))
            }
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let call = CALL.try_with(Arc::clone).ok();
        if let Some(call) = &call {
            call.called.store(true, Ordering::Relaxed);
            let _ = call.sent.set(std::time::Instant::now());
        }
        let response = GrpcService::call(&mut self.0, request);
        Box::pin(async move {
            match response.await {
                Ok(response) => {
                    if let (Some(call), Some(code)) = (&call, grpc_status(response.headers())) {
                        call.end(code);
                    }
                    Ok(response.map(|body| ObservedBody {
                        body: tonic::body::Body::new(body),
                        call,
                    }))
                }
                Err(e) => {
                    if let Some(call) = &call {
                        call.break_off();
                    }
                    Err(UpstreamError(e.into()))
                }
            }
        })
    }
}

/// An upstream response body, noting the status in its trailers.
pub struct ObservedBody {
    body: tonic::body::Body,
    call: Option<Arc<Call>>,
}

impl HttpBody for ObservedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Some(call) = &this.call {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                        call.end(code);
                    }
                }
                Poll::Ready(Some(Err(_))) => call.break_off(),
                _ => {}
            }
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
