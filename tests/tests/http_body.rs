#![allow(clippy::unwrap_used)]
//! `google.api.HttpBody` (DESIGN.md §3.9): raw responses and downloads (byte-identical, chunk
//! after chunk), raw request bodies and streaming uploads (never buffered whole), and
//! backpressure: a slow reader slows the upstream, and the proxy's memory stays bounded while
//! more than 100 MB go through it (measured on the proxy in a child process).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use protogate_tests::streaming::{
    self, Connection, Fnv, Version, addr, exchange, fed_body, full_body, request, unique,
};
use protogate_tests::{assert_echo_serves, echo_stack};
use serde_json::Value;

/// The whole body as bytes, and whether it ended well (not reset or cut off).
async fn read_all(body: hyper::body::Incoming) -> (Vec<u8>, bool) {
    let mut body = body;
    let mut data = Vec::new();
    loop {
        match body.frame().await {
            None => return (data, true),
            Some(Err(_)) => return (data, false),
            Some(Ok(frame)) => {
                if let Ok(chunk) = frame.into_data() {
                    data.extend_from_slice(&chunk);
                }
            }
        }
    }
}

async fn get(
    proxy: &protogate_tests::Server,
    version: Version,
    path: &str,
) -> (http::response::Parts, Vec<u8>, bool) {
    let mut conn = Connection::open(addr(proxy), version).await;
    let response = conn
        .send(request(
            "GET",
            addr(proxy),
            version,
            path,
            &[],
            full_body(""),
        ))
        .await;
    let (parts, body) = response.into_parts();
    let (data, ok) = read_all(body).await;
    (parts, data, ok)
}

#[tokio::test]
async fn a_raw_response_is_its_data_with_its_content_type() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let (parts, data, ok) = get(
            &proxy,
            version,
            "/v1/raw/f?size=5000&contentType=image%2Fpng",
        )
        .await;
        assert!(ok);
        assert_eq!(parts.status, 200);
        assert_eq!(parts.headers["content-type"], "image/png");
        assert_eq!(data, streaming::pattern(0, 5000));
    }
    let (parts, data, _) = get(&proxy, Version::Http1, "/v1/raw/empty?size=0").await;
    assert_eq!(parts.status, 200);
    assert_eq!(parts.headers["content-type"], "application/octet-stream");
    assert!(data.is_empty());
}

#[tokio::test]
async fn a_download_streams_byte_identical_chunks() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let path = "/v1/download/d?size=1000003&chunk=65536&contentType=application%2Fzip";
        let (parts, data, ok) = get(&proxy, version, path).await;
        assert!(ok, "{version:?}");
        assert_eq!(parts.status, 200);
        assert_eq!(parts.headers["content-type"], "application/zip");
        assert_eq!(data.len(), 1_000_003);
        assert!(
            data == streaming::pattern(0, 1_000_003),
            "nothing inserted between chunks"
        );
    }
}

#[tokio::test]
async fn download_errors() {
    let (proxy, _upstream) = echo_stack().await;
    // Before the first chunk: an ordinary error reply.
    let (status, headers, body) = exchange(
        addr(&proxy),
        Version::Http1,
        "GET",
        "/v1/download/missing-file",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], 5);

    // After it: the download is cut off (nothing can be added to raw bytes), never completed.
    for version in Version::BOTH {
        let name = unique("broken");
        let path = format!("/v1/download/{name}?size=10000&chunk=1000&failAfter=2");
        let (parts, data, ok) = get(&proxy, version, &path).await;
        assert_eq!(parts.status, 200);
        assert!(!ok, "{version:?}: the body must fail, not end well");
        assert_eq!(data, streaming::pattern(0, 2000));
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn a_raw_request_body_is_the_whole_message_or_its_field() {
    let (proxy, _upstream) = echo_stack().await;
    let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for version in Version::BOTH {
        let headers = [("content-type", "application/pdf")];
        let (status, _, reply) = exchange(
            addr(&proxy),
            version,
            "POST",
            "/v1/raw",
            &headers,
            data.clone(),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        let reply: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["contentType"], "application/pdf");
        assert_eq!(reply["size"], "70000");
        assert_eq!(reply["checksum"], Fnv::of(&data));

        let headers = [("content-type", "text/plain; charset=utf-8")];
        let (status, _, reply) = exchange(
            addr(&proxy),
            version,
            "PUT",
            "/v1/raw/report?note=hi",
            &headers,
            "not { json",
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        let reply: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["name"], "report");
        assert_eq!(reply["note"], "hi");
        assert_eq!(reply["contentType"], "text/plain; charset=utf-8");
        assert_eq!(reply["checksum"], Fnv::of(b"not { json"));
    }
    // A raw body within one message is still bounded by the body limit.
    let big = vec![7u8; 4 * 1024 * 1024 + 1];
    let (status, _, reply) =
        exchange(addr(&proxy), Version::Http1, "POST", "/v1/raw", &[], big).await;
    assert_eq!(status, 413, "{reply}");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn a_streaming_upload_goes_through_without_being_buffered_whole() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let name = unique("upload");
        let (feed, body) = fed_body();
        let mut conn = Connection::open(addr(&proxy), version).await;
        let path = format!("/v1/upload/named?name={name}&note=big");
        let headers = [("content-type", "video/mp4")];
        let request = request("POST", addr(&proxy), version, &path, &headers, body);
        let call = tokio::spawn(async move { conn.send(request).await });
        let mut sum = Fnv::default();
        let mut sent = 0u64;
        let chunk = 256 * 1024u64;
        // 1 MiB first: the upstream has it while the body is still open.
        for _ in 0..4 {
            let data = streaming::pattern(sent, chunk);
            sum.update(&data);
            feed.send(data).await;
            sent += chunk;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while streaming::uploaded(&name) < sent && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            streaming::uploaded(&name),
            sent,
            "{version:?}: sent upstream as it arrives"
        );
        // 8 MiB in all: twice the body limit, so it cannot have been buffered whole.
        while sent < 8 * 1024 * 1024 {
            let data = streaming::pattern(sent, chunk);
            sum.update(&data);
            feed.send(data).await;
            sent += chunk;
        }
        drop(feed);
        let response = call.await.unwrap();
        assert_eq!(response.status(), 200);
        let (data, _) = read_all(response.into_body()).await;
        let reply: Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(reply["name"], name.as_str());
        assert_eq!(reply["note"], "big");
        assert_eq!(reply["contentType"], "video/mp4");
        assert_eq!(reply["size"], sent.to_string());
        assert_eq!(reply["checksum"], sum.hex());
        assert!(reply["chunks"].as_u64().unwrap() > 1, "{reply}");
    }
}

#[tokio::test]
async fn a_whole_http_body_stream_and_raw_bidi() {
    let (proxy, _upstream) = echo_stack().await;
    let data = streaming::pattern(0, 300_000);
    let headers = [("content-type", "application/octet-stream")];
    let (status, _, reply) = exchange(
        addr(&proxy),
        Version::Http2,
        "POST",
        "/v1/upload",
        &headers,
        data.clone(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["size"], "300000");
    assert_eq!(reply["contentType"], "application/octet-stream");
    assert_eq!(reply["checksum"], Fnv::of(&data));

    // An empty upload is no message at all.
    let (status, _, reply) =
        exchange(addr(&proxy), Version::Http1, "POST", "/v1/upload", &[], "").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(serde_json::from_str::<Value>(&reply).unwrap()["chunks"], 0);

    for version in Version::BOTH {
        let mut conn = Connection::open(addr(&proxy), version).await;
        let headers = [("content-type", "text/csv")];
        let response = conn
            .send(request(
                "POST",
                addr(&proxy),
                version,
                "/v1/echo-raw",
                &headers,
                full_body(Bytes::from(data.clone())),
            ))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/csv");
        let (echoed, ok) = read_all(response.into_body()).await;
        assert!(ok);
        assert!(echoed == data, "{version:?}: raw bytes back unchanged");
    }
}

// ---------------------------------------------------------------------------------------------
// Backpressure, with the proxy in a child process so that its memory can be measured alone.

/// Tells [`proxy_child_process`] which upstream to call.
const CHILD_UPSTREAM: &str = "PROTOGATE_TEST_CHILD_UPSTREAM";

/// The line the child prints when it serves.
const LISTENING: &str = "PROXY_LISTENING ";

/// The proxy of [`backpressure_bounds_the_proxy_memory`], run as its child process: the
/// generated router over a channel to the parent's upstream, served as the generated binary
/// serves it, until its standard input closes.
#[test]
#[ignore = "the proxy process of `backpressure_bounds_the_proxy_memory`, which runs it"]
fn proxy_child_process() {
    let Ok(upstream) = std::env::var(CHILD_UPSTREAM) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // The pool the deployed proxy uses: its flow control is what is measured.
        use protogate_tests::gateway::runtime::pool;
        let pool = pool::Pool::new(&pool::UpstreamConfig::new([upstream])).unwrap();
        let app = protogate_tests::gateway::router(pool);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{LISTENING}{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            let _ = tx.send(());
        });
        axum::serve(listener, app.into_make_service())
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
}

/// A field of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

/// The upstream produces as fast as it is allowed to; the client reads slowly. With
/// backpressure end to end, the upstream only ever runs a few buffers ahead of the reader, and
/// the proxy's peak memory stays far below the 128 MiB that go through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_bounds_the_proxy_memory() {
    use tokio::io::AsyncBufReadExt as _;
    const TOTAL: u64 = 128 * 1024 * 1024;
    const MIB: u64 = 1024 * 1024;

    let upstream = protogate_tests::echo_upstream_tcp().await;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "proxy_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_UPSTREAM, upstream.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let proxy_addr: std::net::SocketAddr = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("the child proxy starts")
            .unwrap()
            .expect("the child proxy prints its address");
        // The harness prints the test's name on the same line.
        if let Some(at) = line.split(LISTENING).nth(1) {
            break at.trim().parse().unwrap();
        }
    };
    let proxy = protogate_tests::Server::external(proxy_addr);

    // Warm up (connections, buffers, allocator), then take the baseline.
    let (parts, _, ok) = get(&proxy, Version::Http1, "/v1/download/warm?size=4000000").await;
    assert!(ok && parts.status == 200);
    let baseline = proc_status_kib(pid, "VmRSS:");

    for version in Version::BOTH {
        let name = unique("backpressure");
        let path = format!("/v1/download/{name}?size={TOTAL}&chunk=65536");
        let mut conn = Connection::open(proxy_addr, version).await;
        let response = conn
            .send(request(
                "GET",
                proxy_addr,
                version,
                &path,
                &[],
                full_body(""),
            ))
            .await;
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let (mut read, mut next_pause, mut max_ahead) = (0u64, MIB, 0u64);
        while let Some(frame) = body.frame().await {
            let Ok(chunk) = frame.unwrap().into_data() else {
                continue;
            };
            assert!(
                chunk
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == streaming::pattern_byte(read + i as u64)),
                "byte-identical at {read}"
            );
            read += chunk.len() as u64;
            if read >= next_pause {
                // A slow reader: 1 MiB at a time, with a pause.
                next_pause += MIB;
                tokio::time::sleep(Duration::from_millis(8)).await;
                max_ahead = max_ahead.max(streaming::produced(&name) - read);
            }
        }
        assert_eq!(read, TOTAL, "{version:?}");
        let peak = proc_status_kib(pid, "VmHWM:");
        eprintln!(
            "backpressure {version:?}: {} MiB through the proxy; upstream at most {:.1} MiB ahead of the reader; proxy RSS baseline {:.1} MiB, peak {:.1} MiB",
            TOTAL / MIB,
            max_ahead as f64 / MIB as f64,
            baseline as f64 / 1024.0,
            peak as f64 / 1024.0,
        );
        assert!(
            max_ahead < 32 * MIB,
            "{version:?}: the upstream ran {max_ahead} bytes ahead of a slow reader"
        );
        assert!(
            peak < baseline + 32 * 1024,
            "{version:?}: proxy peak RSS {peak} KiB from a baseline of {baseline} KiB"
        );
    }
    drop(child.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}
