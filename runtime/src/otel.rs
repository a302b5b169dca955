//! OpenTelemetry tracing (the `otel` feature): one server span per request, continued from the
//! client's W3C trace context (`traceparent`, `tracestate`) and passed on to the upstream, with
//! the semantic conventions' HTTP and RPC attributes, exported over OTLP.
//!
//! Off unless configured: without a [`Tracer`] in `Options::tracing` nothing of OpenTelemetry
//! runs per request (not even a no-op tracer, which would still cost a parse and a format of
//! `traceparent`, about 1 µs), and the client's trace context goes upstream as it came.
//! [`Tracer::from_env`] reads the standard `OTEL_*` variables, as every OpenTelemetry SDK does.

use http::HeaderValue;

#[cfg(feature = "otel")]
pub use with_otel::{ServerSpan, Tracer};
#[cfg(not(feature = "otel"))]
pub use without_otel::{ServerSpan, Tracer};

/// The W3C trace context headers: forwarded to the upstream whatever the header lists say, as
/// they are the trace's, not the application's.
pub const TRACE_CONTEXT: [&str; 2] = ["traceparent", "tracestate"];

/// The trace id of a well-formed `traceparent` (version 00), for the access log.
pub fn trace_id(traceparent: &HeaderValue) -> Option<&str> {
    let value = traceparent.to_str().ok()?;
    let mut parts = value.split('-');
    let (version, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (version == "00" && hex(trace, 32) && hex(span, 16) && trace.bytes().any(|b| b != b'0'))
        .then_some(trace)
}

/// What a finished request adds to its span.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The route template (`/v1/{name=shelves/*}`), if a route matched.
    pub route: Option<&'static str>,
    /// The gRPC method called (`/pkg.Service/Method`), if any.
    pub grpc_method: Option<&'static str>,
    /// The HTTP status answered.
    pub status: u16,
    /// The gRPC status code of the call, if one was made.
    pub grpc_code: Option<i32>,
    /// Whether the response was sent whole (else the client left first).
    pub complete: bool,
    /// The HTTP method, for the span's name.
    pub method: &'a str,
}

#[cfg(feature = "otel")]
mod with_otel {
    use std::borrow::Cow;

    use http::{HeaderMap, HeaderName, HeaderValue};
    use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
    use opentelemetry::trace::{
        Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
    };
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span};

    use super::Outcome;

    /// The tracer of one process: its spans, their export, and the trace context format.
    #[derive(Debug, Clone)]
    pub struct Tracer {
        provider: SdkTracerProvider,
        tracer: SdkTracer,
        propagator: TraceContextPropagator,
    }

    impl Tracer {
        /// A tracer over `provider` (a program that sets up OpenTelemetry itself): its sampler,
        /// resource and exporters apply.
        pub fn new(provider: SdkTracerProvider) -> Self {
            let tracer = provider.tracer_with_scope(
                opentelemetry::InstrumentationScope::builder("protogate")
                    .with_version(crate::VERSION)
                    .build(),
            );
            Tracer {
                provider,
                tracer,
                propagator: TraceContextPropagator::new(),
            }
        }

        /// The tracer the `OTEL_*` variables describe, or `None` when they name no OTLP
        /// endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), or
        /// say `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
        ///
        /// The exporter reads the endpoint, `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the
        /// default, or `grpc`), headers, timeout and compression; the SDK reads
        /// `OTEL_TRACES_SAMPLER` and its argument (parent-based always-on by default),
        /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and the batch settings. Spans are
        /// exported in batches from a thread of their own; a full queue drops spans, never
        /// delays a request. Must be called within a Tokio runtime.
        ///
        /// # Errors
        ///
        /// A protocol or endpoint the exporter cannot use.
        pub fn from_env() -> Result<Option<Self>, String> {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            let is =
                |name: &str, value: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case(value));
            if is("OTEL_SDK_DISABLED", "true") || is("OTEL_TRACES_EXPORTER", "none") {
                return Ok(None);
            }
            let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"));
            let Some(endpoint) = endpoint else {
                return Ok(None);
            };
            let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
                .unwrap_or_else(|| "http/protobuf".to_string());
            let exporter = match protocol.as_str() {
                "grpc" => opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .build(),
                "http/protobuf" => {
                    use opentelemetry_otlp::WithHttpConfig as _;
                    if endpoint.starts_with("https:") {
                        return Err(format!(
                            "the OTLP endpoint {endpoint} is https, which this proxy exports to over gRPC only: set OTEL_EXPORTER_OTLP_PROTOCOL=grpc, or use an http:// collector"
                        ));
                    }
                    opentelemetry_otlp::SpanExporter::builder()
                        .with_http()
                        .with_http_client(super::export::Client::new())
                        .build()
                }
                other => {
                    return Err(format!(
                        "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: use http/protobuf or grpc"
                    ));
                }
            }
            .map_err(|e| format!("cannot export traces to {endpoint} ({protocol}): {e}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .build();
            tracing::info!(%endpoint, %protocol, "exporting traces over OTLP");
            Ok(Some(Tracer::new(provider)))
        }

        /// Starts the server span of a request: a child of the client's trace context in its
        /// headers (a new trace without one), whose own context then replaces it there, so
        /// that the upstream's spans are its children.
        pub fn start<B>(&self, request: &mut http::Request<B>) -> ServerSpan {
            let method = request.method().to_string();
            let attributes = vec![
                KeyValue::new("http.request.method", method.clone()),
                KeyValue::new("url.path", request.uri().path().to_string()),
            ];
            let headers = request.headers_mut();
            let parent = self.propagator.extract(&Extract(headers));
            let span = self
                .tracer
                .span_builder(Cow::Owned(method))
                .with_kind(SpanKind::Server)
                .with_attributes(attributes)
                .start_with_context(&self.tracer, &parent);
            let context = Context::new().with_remote_span_context(span.span_context().clone());
            for name in super::TRACE_CONTEXT {
                headers.remove(name);
            }
            self.propagator
                .inject_context(&context, &mut Inject(headers));
            ServerSpan(span)
        }

        /// Exports what is queued and stops. Blocks: call it off the async runtime's threads.
        ///
        /// # Errors
        ///
        /// The exporter's, when the last spans could not be sent.
        pub fn shutdown(&self) -> Result<(), String> {
            self.provider.shutdown().map_err(|e| e.to_string())
        }
    }

    /// The server span of one request, ended with its [`Outcome`].
    #[derive(Debug)]
    pub struct ServerSpan(Span);

    impl ServerSpan {
        /// The span's trace and span ids, for the access log.
        pub fn ids(&self) -> (String, String) {
            let context = self.0.span_context();
            (
                context.trace_id().to_string(),
                context.span_id().to_string(),
            )
        }

        /// Names the span after its route, sets the response's attributes and ends it.
        pub fn end(mut self, outcome: &Outcome<'_>) {
            let span = &mut self.0;
            if let Some(route) = outcome.route {
                span.update_name(format!("{} {route}", outcome.method));
                span.set_attribute(KeyValue::new("http.route", route));
            }
            if let Some(grpc_method) = outcome.grpc_method {
                let (service, method) = grpc_method
                    .trim_start_matches('/')
                    .split_once('/')
                    .unwrap_or((grpc_method, ""));
                span.set_attribute(KeyValue::new("rpc.system", "grpc"));
                span.set_attribute(KeyValue::new("rpc.service", service));
                span.set_attribute(KeyValue::new("rpc.method", method));
            }
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(outcome.status),
            ));
            if let Some(code) = outcome.grpc_code {
                span.set_attribute(KeyValue::new("rpc.grpc.status_code", i64::from(code)));
            }
            // A server span is an error for 5xx only: 4xx are the client's (semantic
            // conventions, HTTP spans).
            if outcome.status >= 500 {
                span.set_attribute(KeyValue::new("error.type", outcome.status.to_string()));
                span.set_status(Status::error(format!("HTTP {}", outcome.status)));
            } else if !outcome.complete {
                span.set_attribute(KeyValue::new("error.type", "client_disconnected"));
            }
            span.end();
        }
    }

    struct Extract<'a>(&'a HeaderMap);

    impl Extractor for Extract<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(HeaderName::as_str).collect()
        }
    }

    struct Inject<'a>(&'a mut HeaderMap);

    impl Injector for Inject<'_> {
        fn set(&mut self, key: &str, value: String) {
            // An empty `tracestate` is sent as none.
            if value.is_empty() {
                return;
            }
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::try_from(value),
            ) {
                self.0.insert(name, value);
            }
        }
    }
}

/// The OTLP/HTTP client: hyper's, on the proxy's Tokio runtime. The SDK's batch thread has no
/// runtime of its own, so each export is spawned onto the one captured when the tracer is made.
#[cfg(feature = "otel")]
mod export {
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::client::legacy::Client as Hyper;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use opentelemetry_http::{HttpClient, HttpError, Request, Response};

    /// Longest an export may take (`OTEL_EXPORTER_OTLP_TIMEOUT` bounds it too).
    const TIMEOUT: Duration = Duration::from_secs(10);

    #[derive(Debug, Clone)]
    pub(super) struct Client {
        client: Hyper<HttpConnector, Full<Bytes>>,
        runtime: tokio::runtime::Handle,
    }

    impl Client {
        pub(super) fn new() -> Self {
            Client {
                client: Hyper::builder(TokioExecutor::new()).build_http(),
                runtime: tokio::runtime::Handle::current(),
            }
        }
    }

    #[async_trait::async_trait]
    impl HttpClient for Client {
        async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
            let client = self.client.clone();
            let request = request.map(Full::new);
            self.runtime
                .spawn(async move {
                    let exchange = async {
                        let response = client.request(request).await?;
                        let (parts, body) = response.into_parts();
                        let body = body.collect().await?.to_bytes();
                        Ok::<_, HttpError>(Response::from_parts(parts, body))
                    };
                    tokio::time::timeout(TIMEOUT, exchange)
                        .await
                        .map_err(|_| -> HttpError { "the OTLP export timed out".into() })?
                })
                .await?
        }
    }
}

/// Without the `otel` feature: types that cannot be made, so that `Options::tracing` is always
/// `None` and the request path has nothing to do.
#[cfg(not(feature = "otel"))]
mod without_otel {
    use super::Outcome;

    /// Tracing needs the `otel` feature; without it there is no tracer.
    #[derive(Debug, Clone)]
    pub enum Tracer {}

    impl Tracer {
        /// Always `None`: this build has no OpenTelemetry.
        ///
        /// # Errors
        ///
        /// Never.
        pub fn from_env() -> Result<Option<Self>, String> {
            Ok(None)
        }

        /// Never called: there is no tracer.
        pub fn start<B>(&self, _: &mut http::Request<B>) -> ServerSpan {
            match *self {}
        }

        /// Never called: there is no tracer.
        ///
        /// # Errors
        ///
        /// Never.
        pub fn shutdown(&self) -> Result<(), String> {
            match *self {}
        }
    }

    /// Never made: there is no tracer.
    #[derive(Debug)]
    pub enum ServerSpan {}

    impl ServerSpan {
        /// Never called.
        pub fn ids(&self) -> (String, String) {
            match *self {}
        }

        /// Never called.
        pub fn end(self, _: &Outcome<'_>) {
            match self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_come_from_well_formed_traceparents_only() {
        let with = |value: &str| {
            let value = HeaderValue::from_str(value).unwrap_or_else(|_| unreachable!());
            trace_id(&value).map(str::to_string)
        };
        assert_eq!(
            with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(with(bad), None, "{bad}");
        }
    }
}
