//! HTTP compression through the proxy: replies in each coding a client accepts, decoded by
//! curl's own zlib, brotli and zstd; streamed replies decodable message by message; coded
//! request bodies, and clear errors for bad ones; and gzip with the upstream, both ways, against
//! tonic's own gRPC compression.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use protogate_tests::streaming::release;
use protogate_tests::{
    Address, EchoUpstream, Server, assert_echo_serves, echo_stack, echo_upstream_tcp, gateway,
    http1, pool, send, serve_tcp, spawn,
};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::ChildStdout;

const CODINGS: [&str; 3] = ["gzip", "br", "zstd"];

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn encode(coding: &str, data: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => gzip(data),
        "br" => {
            let mut out = Vec::new();
            let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            writer.write_all(data).unwrap();
            drop(writer);
            out
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        other => panic!("no encoder for {other}"),
    }
}

/// curl's reply to `args`: its response headers (lowercase names) and its decoded body.
async fn curl(args: &[&str]) -> (String, String) {
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "--compressed", "-D", "/dev/stderr"])
        .args(args)
        .output()
        .await
        .expect("curl runs (it is in every Debian and macOS install)");
    assert!(output.status.success(), "curl {args:?}: {output:?}");
    (
        String::from_utf8_lossy(&output.stderr).to_ascii_lowercase(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

fn big_echo() -> String {
    format!(
        r#"{{"id":"big","name":"{}"}}"#,
        "a compressible name ".repeat(200)
    )
}

#[tokio::test]
async fn curl_decodes_a_reply_in_each_coding_it_accepts() {
    let (proxy, _upstream) = echo_stack().await;
    let url = format!("{}/v1/echo", proxy.url());
    let plain = send(
        http1()
            .post(&url)
            .header("content-type", "application/json")
            .body(big_echo()),
    )
    .await;
    assert_eq!(plain.status, 200, "{plain:?}");
    assert!(plain.headers.get("content-encoding").is_none());
    assert_eq!(plain.headers["vary"], "accept-encoding");
    for coding in CODINGS {
        for version in ["--http1.1", "--http2-prior-knowledge"] {
            let accept = format!("accept-encoding: {coding}");
            let body = big_echo();
            let (headers, text) = curl(&[
                version,
                "-H",
                &accept,
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body,
                &url,
            ])
            .await;
            assert!(
                headers.contains(&format!("content-encoding: {coding}\r\n")),
                "{coding} {version}: {headers}"
            );
            assert!(headers.contains("vary: accept-encoding\r\n"), "{headers}");
            assert!(!headers.contains("content-length"), "{headers}");
            assert_eq!(text, plain.text, "{coding} {version}");
        }
    }
    // A small reply is not worth coding; curl's default list gets the proxy's first choice.
    let (headers, text) = curl(&[&format!("{}/v1/echo/small", proxy.url())]).await;
    assert!(!headers.contains("content-encoding"), "{headers}");
    assert!(text.contains("\"id\":\"small\""), "{text}");
    let list = format!("{}/v1/echo/x?name={}", proxy.url(), "n".repeat(2000));
    let (headers, _) = curl(&[&list]).await;
    assert!(headers.contains("content-encoding: zstd\r\n"), "{headers}");
}

/// Each message of a stream reaches the client decodable before the next is sent: the proxy
/// flushes its compressor per message, for NDJSON and for Server-Sent Events.
#[tokio::test]
async fn a_streamed_reply_decodes_message_by_message() {
    let (proxy, _upstream) = echo_stack().await;
    for coding in CODINGS {
        for (form, accept) in [
            ("ndjson", "application/x-ndjson"),
            ("sse", "text/event-stream"),
        ] {
            let id = format!("compressed-{coding}-{form}");
            let url = format!("{}/v1/stream/{id}?count=3&gated=true", proxy.url());
            let mut child = tokio::process::Command::new("curl")
                .args(["-sS", "-N", "--compressed", "-H"])
                .arg(format!("accept-encoding: {coding}"))
                .args(["-H", &format!("accept: {accept}"), &url])
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let what = format!("{coding} {form}");
            // The upstream holds the second message until released: the first must decode now.
            let first = next_message(&mut lines, &what).await;
            assert_eq!(first["id"], id, "{first}");
            assert_eq!(first["index"], 0, "{first}");
            release(&id, 2);
            assert_eq!(next_message(&mut lines, &what).await["index"], 1);
            assert_eq!(next_message(&mut lines, &what).await["index"], 2);
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .unwrap()
                .unwrap();
            assert!(status.success(), "{coding} {form}: curl {status}");
        }
    }
}

/// The next message on curl's output: an NDJSON line's `result`, or an SSE event's data.
async fn next_message(lines: &mut Lines<BufReader<ChildStdout>>, what: &str) -> serde_json::Value {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{what}: no message within 10 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: the stream ended early"));
        if let Some(data) = line.strip_prefix("data: ") {
            return serde_json::from_str(data).unwrap();
        }
        if line.starts_with('{') {
            let mut json: serde_json::Value = serde_json::from_str(&line).unwrap();
            return json["result"].take();
        }
    }
}

#[tokio::test]
async fn a_coded_request_body_is_read_in_each_coding() {
    let (proxy, _upstream) = echo_stack().await;
    let json = big_echo();
    for coding in CODINGS.iter().chain(&["x-gzip", "GZIP", "identity"]) {
        let body = match coding.to_ascii_lowercase().as_str() {
            "identity" => json.clone().into_bytes(),
            "x-gzip" => gzip(json.as_bytes()),
            lower => encode(lower, json.as_bytes()),
        };
        let reply = send(
            http1()
                .post(format!("{}/v1/echo", proxy.url()))
                .header("content-type", "application/json")
                .header("content-encoding", *coding)
                .body(body),
        )
        .await;
        assert_eq!(reply.status, 200, "{coding}: {reply:?}");
        assert_eq!(reply.json["id"], "big", "{coding}");
        assert!(reply.json["name"].as_str().unwrap().len() > 3000);
    }
    // A client stream, gzipped as a whole, is decoded as it arrives.
    let ndjson = "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n";
    let reply = send(
        http1()
            .post(format!("{}/v1/collect", proxy.url()))
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .body(gzip(ndjson.as_bytes())),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["count"], 3, "{reply:?}");
}

#[tokio::test]
async fn bad_coded_bodies_get_clear_errors_and_the_proxy_serves_on() {
    let (proxy, _upstream) = echo_stack().await;
    let post = |coding: &'static str, body: Vec<u8>| {
        send(
            http1()
                .post(format!("{}/v1/echo", proxy.url()))
                .header("content-type", "application/json")
                .header("content-encoding", coding)
                .body(body),
        )
    };
    post("gzip", b"{\"id\":\"not gzip\"}".to_vec())
        .await
        .assert_error(400, 3, "not valid gzip");
    let coded = encode("zstd", big_echo().as_bytes());
    post("zstd", coded[..coded.len() / 2].to_vec())
        .await
        .assert_error(400, 3, "not valid zstd: the stream ends early");
    let coded = encode("br", big_echo().as_bytes());
    post("br", [&coded[..], b"tail"].concat())
        .await
        .assert_error(400, 3, "not valid br");
    let refused = post("compress", b"{}".to_vec()).await;
    refused.assert_error(415, 3, "Content-Encoding \"compress\" is not accepted");
    assert_eq!(refused.headers["accept-encoding"], "zstd, br, gzip");
    // 64 MiB of zeros in 64 KiB of gzip: decoded only up to the 4 MiB body limit.
    let bomb = gzip(&vec![0; 64 << 20]);
    assert!(bomb.len() < 128 << 10, "{}", bomb.len());
    post("gzip", bomb).await.assert_error(413, 8, "4194304");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn with_compression_off_replies_are_identity_and_coded_bodies_415() {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.compression = None;
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let reply = send(
        http1()
            .post(format!("{}/v1/echo", proxy.url()))
            .header("content-type", "application/json")
            .header("accept-encoding", "gzip, br, zstd")
            .body(big_echo()),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("content-encoding").is_none(), "{reply:?}");
    assert!(reply.headers.get("vary").is_none(), "{reply:?}");
    let refused = send(
        http1()
            .post(format!("{}/v1/echo", proxy.url()))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzip(b"{}")),
    )
    .await;
    refused.assert_error(415, 3, "send it uncoded");
    assert_eq!(refused.headers["accept-encoding"], "identity");
    assert_echo_serves(&proxy).await;
}

/// What the upstream saw of its calls' compression: the requests' `grpc-encoding` and the
/// replies'.
static SEEN: Mutex<Vec<(Option<String>, Option<String>)>> = Mutex::new(Vec::new());

/// The echo service compressing its replies with gzip when the client accepts it, and taking
/// gzipped requests, as tonic does; each call's codings recorded in [`SEEN`].
async fn gzip_upstream() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = Address::Tcp(listener.local_addr().unwrap());
    let service = protogate_tests::pb::echo_service_server::EchoServiceServer::new(EchoUpstream)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let record = tower::ServiceBuilder::new()
        .map_request(|request: http::Request<tonic::body::Body>| {
            let coding = request
                .headers()
                .get("grpc-encoding")
                .map(|v| v.to_str().unwrap().to_string());
            SEEN.lock().unwrap().push((coding, None));
            request
        })
        .map_response(|response: http::Response<tonic::body::Body>| {
            let coding = response
                .headers()
                .get("grpc-encoding")
                .map(|v| v.to_str().unwrap().to_string());
            if let Some(last) = SEEN.lock().unwrap().last_mut() {
                last.1 = coding;
            }
            response
        });
    spawn(address, None, |stop| async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let _ = tonic::transport::Server::builder()
            .layer(record)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop.await;
            })
            .await;
    })
}

#[tokio::test]
async fn gzip_with_the_upstream_both_ways() {
    let upstream = gzip_upstream().await;
    let call = async |proxy: &Server| {
        SEEN.lock().unwrap().clear();
        let reply = send(
            http1()
                .post(format!("{}/v1/echo", proxy.url()))
                .header("content-type", "application/json")
                .body(big_echo()),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["id"], "big");
        let stream =
            send(http1().get(format!("{}/v1/stream/gz?count=3&padding=2000", proxy.url()))).await;
        assert_eq!(stream.status, 200, "{stream:?}");
        assert_eq!(stream.text.lines().count(), 3, "{stream:?}");
        let seen = SEEN.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], seen[1], "{seen:?}");
        seen[0].clone()
    };
    let proxy_with = |send_gzip: bool, accept_gzip: bool| {
        let mut options = gateway::options();
        options.upstream_compression = gateway::runtime::UpstreamCompression {
            send_gzip,
            accept_gzip,
        };
        serve_tcp(gateway::router_with_options(
            pool(&upstream.address),
            options,
        ))
    };
    // The default: replies gzipped by an upstream that compresses, requests sent as they are.
    let proxy = proxy_with(false, true).await;
    assert_eq!(call(&proxy).await, (None, Some("gzip".into())));
    let proxy = proxy_with(true, true).await;
    assert_eq!(
        call(&proxy).await,
        (Some("gzip".into()), Some("gzip".into()))
    );
    let proxy = proxy_with(true, false).await;
    assert_eq!(call(&proxy).await, (Some("gzip".into()), None));
    assert_echo_serves(&proxy).await;
}
