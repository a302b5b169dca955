//! OpenTelemetry tracing through the proxy, into a real OTLP receiver (the collector's own
//! protocol, from opentelemetry-proto): a server span per request with the semantic
//! conventions' attributes, continued from the client's `traceparent` and passed on to the
//! upstream; the binary configured by the standard `OTEL_*` variables alone, over OTLP/HTTP,
//! with the ids in its access log; and no span, and the client's context untouched, when off.
#![allow(clippy::unwrap_used)]

mod ops_support;

use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use ops_support::Binary;
use prost::Message as _;
use protogate_tests::{
    Server, echo_upstream_tcp, example_upstream_tcp, gateway, http1, pool, send, serve_tcp,
};
use tokio::sync::mpsc;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE}-{PARENT}-01")
}

/// What a receiver got: each export's resource attributes and spans.
type Exports = mpsc::UnboundedReceiver<ExportTraceServiceRequest>;

struct GrpcReceiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The collector's gRPC TraceService on a free port.
async fn grpc_receiver() -> (SocketAddr, Exports) {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(GrpcReceiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (addr, rx)
}

/// The collector's OTLP/HTTP endpoint, `POST /v1/traces` in protobuf, on a free port.
async fn http_receiver() -> (SocketAddr, Exports) {
    let (tx, rx) = mpsc::unbounded_channel::<ExportTraceServiceRequest>();
    let route = axum::routing::post(|body: bytes::Bytes| async move {
        let request = ExportTraceServiceRequest::decode(body).unwrap();
        let _ = tx.send(request);
        (
            [("content-type", "application/x-protobuf")],
            ExportTraceServiceResponse::default().encode_to_vec(),
        )
    });
    let app = axum::Router::new().route("/v1/traces", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attribute(span, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(span: &Span, key: &str) -> Option<i64> {
    match attribute(span, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// Spans from `exports` until `done` holds for the set, each with its service name.
async fn spans_until(
    exports: &mut Exports,
    done: impl Fn(&[(String, Span)]) -> bool,
) -> Vec<(String, Span)> {
    let mut spans = Vec::new();
    while !done(&spans) {
        let export = tokio::time::timeout(Duration::from_secs(15), exports.recv())
            .await
            .unwrap_or_else(|_| panic!("no more spans within 15 s; got {spans:#?}"))
            .unwrap();
        for resource_spans in export.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                assert_eq!(scope.scope.as_ref().unwrap().name, "protogate");
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
    }
    spans
}

/// The echo proxy with a tracer exporting to `receiver` over OTLP/gRPC, and an allow-list of
/// forwarded headers that does not name the trace context.
async fn traced_echo_proxy(
    receiver: SocketAddr,
) -> (Server, Server, gateway::runtime::otel::Tracer) {
    use opentelemetry_otlp::WithExportConfig as _;
    let upstream = echo_upstream_tcp().await;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{receiver}"))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let tracer = gateway::runtime::otel::Tracer::new(provider);
    let mut options = gateway::options();
    options.tracing = Some(tracer.clone());
    options.forward_headers = Some(vec!["x-user".to_string()]);
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    (proxy, upstream, tracer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_a_server_span_continued_from_the_client_and_passed_upstream() {
    let (receiver, mut exports) = grpc_receiver().await;
    let (proxy, _upstream, tracer) = traced_echo_proxy(receiver).await;
    let reply = send(
        http1()
            .get(format!("{}/v1/headers", proxy.url()))
            .header("traceparent", traceparent())
            .header("tracestate", "congo=t61rcWkgMzE")
            .header("x-user", "ada"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = |key: &str| {
        reply.json["received"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .map(|e| e["value"].as_str().unwrap().to_string())
    };
    // The allow-list names only x-user: the trace context still reaches the upstream, now
    // naming the proxy's span as the parent.
    assert_eq!(seen("x-user").as_deref(), Some("ada"));
    let upstream_parent = seen("traceparent").expect("traceparent upstream");
    assert_eq!(seen("tracestate").as_deref(), Some("congo=t61rcWkgMzE"));
    let (version, rest) = upstream_parent.split_at(3);
    assert_eq!(version, "00-");
    assert!(rest.starts_with(TRACE), "{upstream_parent}");
    let proxy_span = &rest[TRACE.len() + 1..TRACE.len() + 17];
    assert_ne!(proxy_span, PARENT);
    assert!(upstream_parent.ends_with("-01"), "{upstream_parent}");

    // A failing call and a request without a trace context: an error span, a new trace.
    let failed = send(http1().get(format!("{}/v1/fail/14", proxy.url()))).await;
    assert_eq!(failed.status, 503, "{failed:?}");

    tokio::task::spawn_blocking(move || tracer.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = spans_until(&mut exports, |s| s.len() >= 2).await;
    let (_, headers) = spans
        .iter()
        .find(|(_, s)| hex(&s.trace_id) == TRACE)
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(
        hex(&headers.parent_span_id),
        PARENT,
        "the client's span is the parent"
    );
    assert_eq!(
        hex(&headers.span_id),
        proxy_span,
        "the span the upstream was told of"
    );
    assert_eq!(headers.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(headers.name, "GET /v1/headers");
    assert_eq!(headers.trace_state, "congo=t61rcWkgMzE");
    assert_eq!(text(headers, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(text(headers, "http.route").as_deref(), Some("/v1/headers"));
    assert_eq!(text(headers, "url.path").as_deref(), Some("/v1/headers"));
    assert_eq!(text(headers, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        text(headers, "rpc.service").as_deref(),
        Some("echo.v1.EchoService")
    );
    assert_eq!(text(headers, "rpc.method").as_deref(), Some("Headers"));
    assert_eq!(int(headers, "http.response.status_code"), Some(200));
    assert_eq!(int(headers, "rpc.grpc.status_code"), Some(0));
    assert_eq!(headers.status.as_ref().map_or(0, |s| s.code), 0, "unset");

    let (_, fail) = spans
        .iter()
        .find(|(_, s)| s.name == "GET /v1/fail/{code}")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert!(fail.parent_span_id.is_empty(), "a root span");
    assert_ne!(hex(&fail.trace_id), TRACE);
    assert_eq!(int(fail, "http.response.status_code"), Some(503));
    assert_eq!(int(fail, "rpc.grpc.status_code"), Some(14));
    assert_eq!(text(fail, "error.type").as_deref(), Some("503"));
    assert_eq!(
        fail.status.as_ref().map(|s| s.code),
        Some(2),
        "STATUS_CODE_ERROR"
    );
}

#[tokio::test]
async fn without_a_tracer_the_clients_context_goes_upstream_as_it_came() {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.forward_headers = Some(vec!["x-user".to_string()]);
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let reply = send(
        http1()
            .get(format!("{}/v1/headers", proxy.url()))
            .header("traceparent", traceparent()),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let forwarded = reply.json["received"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "traceparent")
        .map(|e| e["value"].as_str().unwrap().to_string());
    assert_eq!(forwarded, Some(traceparent()));
}

/// The binary, configured by `OTEL_*` alone, exports over OTLP/HTTP (the default protocol) and
/// logs the ids of each request's span; without them it exports nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_as_the_otel_variables_say_and_logs_the_ids() {
    let (receiver, mut exports) = http_receiver().await;
    let upstream = example_upstream_tcp().await;
    let endpoint = format!("http://{receiver}");
    let upstream = upstream.url();
    // The example proxy with a JSON access log and `env`, after one traced GET: its log line,
    // whether it said it exports, and the proxy (which exports while it runs).
    let traced_get = async |env: &[(&str, &str)]| {
        let args = [
            "--upstream",
            &upstream,
            "--access-log",
            "--log-format",
            "json",
        ];
        let binary = Binary::start_with_env(&args, None, env)
            .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
        let reply = send(
            http1()
                .get(format!("{}/v1/greeter/ada", binary.url()))
                .header("traceparent", traceparent()),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let request_line = || {
            binary
                .lines()
                .into_iter()
                .find(|l| l.contains("\"message\":\"request\""))
        };
        ops_support::eventually(Duration::from_secs(5), || request_line().is_some()).await;
        let line = request_line().unwrap_or_else(|| panic!("{:#?}", binary.lines()));
        let exporting = binary
            .lines()
            .iter()
            .any(|l| l.contains("exporting traces over OTLP"));
        let line = serde_json::from_str::<serde_json::Value>(&line).unwrap();
        (line, exporting, binary)
    };

    let (line, exporting, _binary) = traced_get(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_SERVICE_NAME", "gateway-under-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    assert!(exporting);
    let spans = spans_until(&mut exports, |s| !s.is_empty()).await;
    let (service, span) = &spans[0];
    assert_eq!(service, "gateway-under-test");
    assert_eq!(hex(&span.trace_id), TRACE);
    assert_eq!(hex(&span.parent_span_id), PARENT);
    assert_eq!(span.name, "GET /v1/greeter/{name}");
    assert_eq!(
        text(span, "rpc.service").as_deref(),
        Some("helloworld.v1.Greeter")
    );
    assert_eq!(line["trace_id"], TRACE, "{line}");
    assert_eq!(line["span_id"], hex(&span.span_id), "{line}");

    // Unset: no tracer, and the log carries the client's trace id.
    let (line, exporting, _plain) = traced_get(&[]).await;
    assert!(!exporting);
    assert_eq!(line["trace_id"], TRACE);
    assert_eq!(line["span_id"], "-");

    // Sampled out by OTEL_TRACES_SAMPLER: no span sent, even with a sampled parent.
    let _sampled_out = traced_get(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_TRACES_SAMPLER", "always_off"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        exports.try_recv().is_err(),
        "nothing exported without OTEL_* or when sampled out"
    );
}
