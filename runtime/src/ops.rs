//! What the router does around the API's routes: liveness, readiness and metrics endpoints,
//! the API docs page ([`super::docs`]), the request limits, CORS, one access-log line and the
//! metrics of every request.
//!
//! The operation endpoints are matched before the API's routes, and must lie outside them:
//! [`Ops::new`] refuses a path that an API template matches. They are not counted as requests,
//! not limited (a probe must answer while the proxy is busy), and logged at `debug` only.
//!
//! The access log is one `info` event per request, target `protogate::access`, when its
//! response has ended: `method`, `route` (the template), `grpc_method`, `status`,
//! `grpc_status`, `latency_ms`, and `complete` (`false` when the client left before the end).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Code;
use tonic::codegen::Body as HttpBody;

use super::compression::{self, Coding, Compression};
use super::cors::CorsPolicy;
use super::docs::{self, Docs};
use super::error::Error;
use super::limits::{self, BodyProgress};
use super::metrics::{Metrics, RouteLabel, code_name};
use super::otel::{self, Outcome, ServerSpan, Tracer};
use super::passthrough;
use super::request_id;
use super::service::{CALL, Call};
use super::upstream::{Gateway, Options, ReadyCheck};

/// The `tracing` target of the access log.
pub const ACCESS_LOG: &str = "protogate::access";

pub use super::binding::{Binding, ErrorCode, GrpcMethod, Kind, Matched, Routes, reply};

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    /// `ServingStatus`: UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3.
    #[prost(int32, tag = "1")]
    status: i32,
}

const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

/// An operation endpoint.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
    Ready,
    Metrics,
    Docs(docs::File),
}

/// The operations layer of one router, built from its [`Options`].
#[derive(Debug)]
pub struct Ops {
    health_path: Option<String>,
    ready_path: Option<String>,
    metrics_path: Option<String>,
    openapi_path: Option<String>,
    /// The docs page, when it and the OpenAPI document are served.
    docs: Option<Docs>,
    ready_check: ReadyCheck,
    ready_service: String,
    ready_timeout: Duration,
    /// Set once the log has said that readiness falls back to the connection.
    said_no_health_service: AtomicBool,
    max_uri_bytes: usize,
    max_header_bytes: usize,
    request_timeout: Option<Duration>,
    max_concurrent: usize,
    slots: Option<Arc<Semaphore>>,
    cors: Option<CorsPolicy>,
    compression: Option<Compression>,
    tracer: Option<Tracer>,
    metrics: Arc<Metrics>,
    routes: Routes,
}

impl Ops {
    /// Checks the options: each endpoint path is absolute and outside the API's routes, no two
    /// are the same, the CORS settings are consistent.
    pub fn new(options: &Options, routes: Routes) -> Result<Self, String> {
        let paths = [
            ("health_path", &options.health_path),
            ("ready_path", &options.ready_path),
            ("metrics_path", &options.metrics_path),
            ("openapi_path", &options.openapi_path),
            ("docs_path", &options.docs_path),
        ];
        for (i, (name, path)) in paths.iter().enumerate() {
            let Some(path) = path else { continue };
            if !path.starts_with('/') || path.contains(['?', '#']) {
                return Err(format!(
                    "{name} {path:?} is not an absolute URL path such as /healthz"
                ));
            }
            if let Some(b) = (routes.claims)(path) {
                return Err(format!(
                    "{name} {path} is inside the API: its route `{} {}` ({}) matches it; choose a path outside the API's routes",
                    b.method, b.template, b.grpc_method
                ));
            }
            if let Some((other, _)) = paths[..i].iter().find(|(_, p)| p.as_ref() == Some(path)) {
                return Err(format!("{name} and {other} are both {path}"));
            }
        }
        if options.max_concurrent_requests == Some(0) {
            return Err("max_concurrent_requests must be at least 1".to_string());
        }
        if options
            .compression
            .as_ref()
            .is_some_and(|c| c.codings.is_empty())
        {
            return Err("compression lists no coding: list some, or set it to None".to_string());
        }
        let docs = match (&options.docs_path, &options.openapi_path) {
            (Some(path), Some(openapi)) => Some(Docs::new(path, openapi, &routes, &paths)?),
            _ => None,
        };
        let cors = match &options.cors {
            Some(cors) => Some(CorsPolicy::new(cors, routes.methods)?),
            None => None,
        };
        Ok(Ops {
            health_path: options.health_path.clone(),
            ready_path: options.ready_path.clone(),
            metrics_path: options.metrics_path.clone(),
            openapi_path: options.openapi_path.clone(),
            docs,
            ready_check: options.ready_check,
            ready_service: options.ready_service.clone(),
            said_no_health_service: AtomicBool::new(false),
            ready_timeout: options.ready_timeout,
            max_uri_bytes: options.max_uri_bytes,
            max_header_bytes: options.max_header_bytes,
            request_timeout: options.request_timeout,
            max_concurrent: options.max_concurrent_requests.unwrap_or(0),
            slots: options
                .max_concurrent_requests
                .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS)))),
            cors,
            compression: options.compression.clone(),
            tracer: options.tracing.clone(),
            metrics: Arc::new(Metrics::new(
                options.openapi_path.as_deref(),
                options.upstream_addresses.clone(),
            )),
            routes,
        })
    }

    /// The router's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Serves one request: CORS, the operation endpoints, the limits, then `api`.
    pub async fn handle<F, Fut>(&self, request: Request, gateway: &Gateway, api: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let Some(cors) = &self.cors else {
            return self.serve(request, gateway, api).await;
        };
        if CorsPolicy::is_preflight(request.method(), request.headers()) {
            return cors.preflight(request.headers());
        }
        let origin = request.headers().get(header::ORIGIN).cloned();
        let mut response = self.serve(request, gateway, api).await;
        cors.decorate(origin.as_ref(), &mut response);
        response
    }

    fn endpoint(&self, path: &str) -> Option<Endpoint> {
        let is = |p: &Option<String>| p.as_deref() == Some(path);
        if is(&self.health_path) {
            Some(Endpoint::Health)
        } else if is(&self.ready_path) {
            Some(Endpoint::Ready)
        } else if is(&self.metrics_path) {
            Some(Endpoint::Metrics)
        } else {
            self.docs.as_ref()?.find(path).map(Endpoint::Docs)
        }
    }

    async fn serve<F, Fut>(&self, mut request: Request, gateway: &Gateway, api: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let start = Instant::now();
        let coding = self
            .compression
            .as_ref()
            .and_then(|c| c.negotiate(request.headers()));
        if let Some(endpoint) = self.endpoint(request.uri().path()) {
            let response = self
                .endpoint_response(
                    endpoint,
                    request.method(),
                    request.uri().path(),
                    request.headers(),
                    gateway,
                )
                .await;
            tracing::debug!(
                target: ACCESS_LOG,
                method = %request.method(),
                path = request.uri().path(),
                status = response.status().as_u16(),
                "operations endpoint"
            );
            return self.compress(coding, request.method(), response);
        }
        self.metrics.started();
        // Until the response starts, a request whose client goes away is dropped here.
        let mut started = Started(Some(self.metrics.clone()));
        let request_id = request_id::take_or_make(request.headers_mut());
        let client = Client::of(&request);
        // The span's context replaces the client's in the headers the upstream gets.
        let span = self
            .tracer
            .as_ref()
            .map(|tracer| tracer.start(&mut request));
        // Kept (a shared buffer, not a copy) for the log, read only if it is written.
        let client_trace = match &span {
            None => request.headers().get(otel::TRACE_CONTEXT[0]).cloned(),
            Some(_) => None,
        };
        let (request, body) = limits::track_body(request);
        let grpc = passthrough::protocol(&request, &self.routes);
        let method = request.method().clone();
        let openapi = self.openapi_path.as_deref() == Some(request.uri().path());
        let mut permit = None;
        let rejected = match limits::check_head(&request, self.max_uri_bytes, self.max_header_bytes)
        {
            Some(response) => Some(response),
            None => match &self.slots {
                Some(slots) => match slots.clone().try_acquire_owned() {
                    Ok(p) => {
                        permit = Some(p);
                        None
                    }
                    Err(_) => Some(limits::too_busy(self.max_concurrent)),
                },
                None => None,
            },
        };
        let call = Arc::new(Call::new());
        let (response, route) = match rejected {
            Some(response) => {
                let route = match (self.routes.find)(&method, request.uri().path()) {
                    Some(binding) => RouteLabel::Binding(binding),
                    None if openapi => RouteLabel::OpenApi,
                    None => RouteLabel::Unmatched,
                };
                (response, route)
            }
            None => {
                let response = if let Some(protocol) = grpc {
                    let methods = self.routes.grpc;
                    let forward =
                        |request| passthrough::forward(gateway, request, methods, protocol);
                    CALL.scope(call.clone(), self.respond(request, &body, forward))
                        .await
                } else {
                    let taken = self.compression.as_ref().map_or(&[][..], |c| &c.codings);
                    match compression::decode_request(taken, request) {
                        Ok(request) => {
                            CALL.scope(call.clone(), self.respond(request, &body, api))
                                .await
                        }
                        Err(refused) => *refused,
                    }
                };
                let route = match response.extensions().get::<Matched>() {
                    Some(Matched(binding)) => RouteLabel::Binding(binding),
                    None if openapi => RouteLabel::OpenApi,
                    None => RouteLabel::Unmatched,
                };
                (response, route)
            }
        };
        // gRPC, gRPC-Web and Connect code their messages themselves.
        let mut response = match grpc {
            Some(protocol) => passthrough::grpc_form(response, protocol),
            None => self.compress(coding, &method, response),
        };
        response
            .headers_mut()
            .insert(request_id::X_REQUEST_ID, request_id.clone());
        started.0 = None;
        let completion = Completion {
            metrics: self.metrics.clone(),
            start,
            status: response.status().as_u16(),
            error_code: response.extensions().get::<ErrorCode>().map(|c| c.0),
            method,
            route,
            call,
            request_id,
            client,
            span,
            client_trace,
            body,
            sent: 0,
            _permit: permit,
        };
        response.map(|body| {
            Body::new(Finish {
                body,
                completion: Some(completion),
            })
        })
    }

    /// The response compressed in `coding`, when compression is on and the response suits it.
    fn compress(&self, coding: Option<Coding>, method: &Method, response: Response) -> Response {
        match &self.compression {
            Some(compression) => compression.respond(coding, method, response),
            None => response,
        }
    }

    /// `api`, within the request timeout.
    async fn respond<F, Fut>(&self, request: Request, body: &BodyProgress, api: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let Some(limit) = self.request_timeout else {
            return api(request).await;
        };
        match tokio::time::timeout(limit, api(request)).await {
            Ok(response) => response,
            Err(_) => limits::timed_out(limit, body.whole.load(Ordering::Relaxed)),
        }
    }

    async fn endpoint_response(
        &self,
        endpoint: Endpoint,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        gateway: &Gateway,
    ) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return Error::method_not_allowed(method, path, &["GET", "HEAD"]).into_response();
        }
        match endpoint {
            Endpoint::Health => serving(),
            Endpoint::Ready => self.readiness(gateway).await,
            Endpoint::Metrics => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                )],
                self.metrics.render(),
            )
                .into_response(),
            Endpoint::Docs(file) => match &self.docs {
                Some(docs) => docs.respond(file, headers),
                None => Error::not_found(method, path).into_response(),
            },
        }
    }

    /// Answers a readiness probe as [`ReadyCheck`] says: 200, or 503 with a status body
    /// saying why.
    async fn readiness(&self, gateway: &Gateway) -> Response {
        let unready = |message: String| Error::new(Code::Unavailable, message).into_response();
        let check = self.ready_check;
        if check == ReadyCheck::None {
            return serving();
        }
        let answer = match self.health_check(gateway).await {
            Ok(answer) => answer,
            Err(why) => return unready(why),
        };
        match (answer, check) {
            (Ok(1), _) => serving(),
            // The upstream answered a gRPC call: the connection serves.
            (Ok(_), ReadyCheck::Connection) => serving(),
            (Err(status), ReadyCheck::Connection) if status.code() != Code::Unavailable => {
                serving()
            }
            (Err(status), ReadyCheck::Auto) if status.code() == Code::Unimplemented => {
                if !self.said_no_health_service.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        "the upstream does not implement grpc.health.v1.Health: readiness follows \
                         whether it answers gRPC calls (choose with --ready-check)"
                    );
                }
                serving()
            }
            (Ok(status), _) => unready(format!(
                "upstream health check: {}",
                match status {
                    2 => "NOT_SERVING",
                    3 => "SERVICE_UNKNOWN",
                    _ => "UNKNOWN",
                }
            )),
            (Err(status), _) => unready(format!(
                "upstream health check failed: {}: {}",
                code_name(status.code() as i32),
                status.message()
            )),
        }
    }

    /// Asks the upstream's `grpc.health.v1.Health/Check`: its serving status or the call's
    /// status, or why no answer came (no reply in time, a malformed one).
    async fn health_check(&self, gateway: &Gateway) -> Result<Result<i32, tonic::Status>, String> {
        let mut grpc = tonic::client::Grpc::new(gateway.upstream.clone());
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: self.ready_service.clone(),
        });
        request.set_timeout(self.ready_timeout);
        let check = async move {
            grpc.ready().await.map_err(|e| {
                let e: tonic::codegen::StdError = e.into();
                tonic::Status::unavailable(format!("upstream unavailable: {e}"))
            })?;
            let codec =
                tonic_prost::ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default();
            grpc.unary(
                request,
                http::uri::PathAndQuery::from_static(HEALTH_CHECK),
                codec,
            )
            .await
        };
        // tonic panics on some malformed replies; a broken upstream is not ready, nothing more.
        let check = std::panic::AssertUnwindSafe(check).catch_unwind();
        match tokio::time::timeout(self.ready_timeout, check).await {
            Err(_) => Err(format!(
                "upstream health check: no answer within {:?}",
                self.ready_timeout
            )),
            Ok(Err(_)) => Err("upstream health check: malformed reply".to_string()),
            Ok(Ok(answer)) => Ok(answer.map(|response| response.into_inner().status)),
        }
    }
}

/// `{"status":"SERVING"}`.
fn serving() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        "{\"status\":\"SERVING\"}",
    )
        .into_response()
}

/// The metrics label of a request method: the standard ones, the route's own custom method,
/// or `OTHER`, so that clients cannot mint label values.
fn method_label(method: &Method, route: RouteLabel) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => match route {
            RouteLabel::Binding(b) if b.method == method.as_str() => b.method,
            _ => "OTHER",
        },
    }
}

/// What is known of a request once its response has started; recorded when it ends.
/// A request counted in flight whose response has not started: counted out when dropped.
struct Started(Option<Arc<Metrics>>);

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(metrics) = self.0.take() {
            metrics.abandoned();
        }
    }
}

struct Completion {
    metrics: Arc<Metrics>,
    start: Instant,
    method: Method,
    route: RouteLabel,
    status: u16,
    error_code: Option<Code>,
    call: Arc<Call>,
    request_id: HeaderValue,
    client: Client,
    /// The request's server span, when tracing.
    span: Option<ServerSpan>,
    /// The client's `traceparent`, for the log's trace id when not tracing.
    client_trace: Option<HeaderValue>,
    /// The request body's bytes, as read.
    body: Arc<BodyProgress>,
    /// The response body's bytes, as sent.
    sent: u64,
    /// The request's slot under `max_concurrent_requests`, free again when this is dropped.
    _permit: Option<OwnedSemaphorePermit>,
}

/// Who sent a request, for the access log: the peer's address (the listener's, when it
/// accepted the connection) and the `User-Agent`.
struct Client {
    peer: Option<std::net::SocketAddr>,
    user_agent: Option<HeaderValue>,
}

impl Client {
    fn of(request: &Request) -> Self {
        Client {
            peer: request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
            user_agent: request.headers().get(header::USER_AGENT).cloned(),
        }
    }
}

/// A header's text for the log: `-` when absent or not text.
fn log_text(value: Option<&HeaderValue>) -> &str {
    value.and_then(|v| v.to_str().ok()).unwrap_or("-")
}

impl Completion {
    /// Records the request in the metrics, writes its access-log line and ends its span.
    fn finish(mut self, complete: bool) {
        let elapsed = self.start.elapsed();
        let label = method_label(&self.method, self.route);
        self.metrics
            .finished(self.route, label, self.status, elapsed);
        let call = &self.call;
        let upstream = call.status();
        let called = call.called.load(Ordering::Relaxed);
        // The upstream's own error status; else a transport failure, as the proxy reported it
        // (a deadline the client's side enforced, or UNAVAILABLE); else a deadline that passed
        // before the upstream answered.
        let failed = if let Some(code) = upstream.filter(|c| *c != 0) {
            Some(code)
        } else if call.broken.load(Ordering::Relaxed) {
            Some(
                self.error_code
                    .map_or(Code::Unavailable as i32, |c| c as i32),
            )
        } else if called && upstream.is_none() && self.error_code == Some(Code::DeadlineExceeded) {
            Some(Code::DeadlineExceeded as i32)
        } else {
            None
        };
        if let Some(code) = failed {
            self.metrics.upstream_error(self.route, label, code);
        }
        // The upstream's own time, for a call that ended with a status or failed in transport.
        if let (Some(took), Some(code)) = (call.upstream_time(), upstream.or(failed)) {
            self.metrics.upstream_call(self.route, code, took);
        }
        let grpc = match (self.error_code, upstream) {
            (Some(code), _) => Some(code as i32),
            (None, Some(code)) => Some(code),
            (None, None) if called && !complete => Some(Code::Cancelled as i32),
            (None, None) => failed,
        };
        let (route, grpc_method) = match self.route {
            RouteLabel::Binding(b) => (b.template, b.grpc_method),
            RouteLabel::OpenApi => ("openapi", "-"),
            RouteLabel::Unmatched => ("unmatched", "-"),
        };
        if tracing::enabled!(target: ACCESS_LOG, tracing::Level::INFO) {
            self.log(elapsed, route, grpc_method, grpc, complete);
        }
        if let Some(span) = self.span.take() {
            let binding = match self.route {
                RouteLabel::Binding(b) => Some(b),
                _ => None,
            };
            span.end(&Outcome {
                route: binding.map(|b| b.template),
                grpc_method: binding.map(|b| b.grpc_method),
                status: self.status,
                grpc_code: grpc,
                complete,
                method: self.method.as_str(),
            });
        }
    }

    /// The access-log line: with the span's trace and span ids when tracing, else with the
    /// client's trace id.
    fn log(
        &self,
        elapsed: Duration,
        route: &str,
        grpc_method: &str,
        grpc: Option<i32>,
        complete: bool,
    ) {
        let (trace_id, span_id) = match &self.span {
            Some(span) => {
                let (trace, span) = span.ids();
                (Some(trace), Some(span))
            }
            None => (
                self.client_trace
                    .as_ref()
                    .and_then(otel::trace_id)
                    .map(str::to_string),
                None,
            ),
        };
        tracing::info!(
            target: ACCESS_LOG,
            request_id = log_text(Some(&self.request_id)),
            method = %self.method,
            route = %route,
            grpc_method = %grpc_method,
            status = self.status,
            grpc_status = %grpc.map_or("-", code_name),
            latency_ms = elapsed.as_micros() as f64 / 1000.0,
            bytes_in = self.body.bytes.load(Ordering::Relaxed),
            bytes_out = self.sent,
            peer = %self.client.peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
            user_agent = log_text(self.client.user_agent.as_ref()),
            trace_id = trace_id.as_deref().unwrap_or("-"),
            span_id = span_id.as_deref().unwrap_or("-"),
            complete,
            "request"
        );
    }
}

/// A response body that completes its request when it ends or is dropped.
struct Finish {
    body: Body,
    completion: Option<Completion>,
}

impl Finish {
    fn done(&mut self, complete: bool) {
        if let Some(completion) = self.completion.take() {
            completion.finish(complete);
        }
    }
}

impl HttpBody for Finish {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(completion)) = (frame.data_ref(), &mut self.completion) {
                    completion.sent += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.done(true),
            Poll::Ready(Some(Err(_))) => self.done(false),
            Poll::Pending => {}
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

impl Drop for Finish {
    fn drop(&mut self) {
        // A body the server never polled to its end is whole when nothing was left of it (an
        // empty reply, a reply to HEAD).
        let complete = self.body.is_end_stream()
            || self
                .completion
                .as_ref()
                .is_some_and(|c| c.method == Method::HEAD);
        self.done(complete);
    }
}
