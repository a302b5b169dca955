//! One port for every client: real clients that nobody here wrote, pinned from the npm registry
//! (tests/clients/package-lock.json), call the echo upstream through the proxy.
//!
//! - @connectrpc/connect-node, with its gRPC transport (HTTP/2), its gRPC-Web and Connect
//!   transports (HTTP/1.1 and HTTP/2), each with binary and JSON messages: unary and every
//!   streaming kind the transport has, metadata both ways, error details, deadlines
//!   (tests/clients/node-clients.mjs, the cases in tests/clients/cases.mjs).
//! - In a real headless Chromium, a page on another origin: Google's gRPC-Web client (npm
//!   `grpc-web`, `application/grpc-web-text` and `+proto`) and @connectrpc/connect-web's
//!   gRPC-Web and Connect transports over fetch() (tests/clients/browser/page.mjs).
//!
//! tests/clients/install.sh installs the packages under target/ on first use. The tests skip,
//! saying so, when Node.js or npm is missing, and the browser test when Chromium is
//! (tests/prerequisites.sh installs it).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use protogate_tests::{echo_stack, echo_upstream_tcp, gateway, pool, serve_tcp};

/// One case of a driver's report.
#[derive(Debug)]
struct Case {
    name: String,
    ok: bool,
    ms: u64,
    error: Option<String>,
}

/// Whether a program answers `--version`.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The directory tests/clients/install.sh set up, once per process; `None` (the test skips)
/// when Node.js or npm is missing. A failed install fails the test.
fn clients() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if !installed("node") || !installed("npm") {
            eprintln!(
                "SKIPPED: the protocol client tests need Node.js and npm (node and npm on PATH)"
            );
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/install.sh");
        let output = Command::new("bash").arg(script).output().unwrap();
        assert!(
            output.status.success(),
            "tests/clients/install.sh failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        Some(PathBuf::from(stdout.lines().last().unwrap().trim()))
    })
    .clone()
}

/// Parses a driver's report, `{"cases": [...]}`.
fn parse_report(json: &str) -> Vec<Case> {
    let report: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("report {json:?}: {e}"));
    if let Some(error) = report.get("error") {
        panic!("the driver failed: {error}");
    }
    report["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("no cases in {report}"))
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            ok: c["ok"].as_bool().unwrap(),
            ms: c["ms"].as_u64().unwrap_or(0),
            error: c["error"].as_str().map(str::to_string),
        })
        .collect()
}

/// Prints every case and fails the test, listing them, if any failed.
fn assert_all_passed(what: &str, cases: &[Case]) {
    assert!(!cases.is_empty(), "{what}: no cases ran");
    for case in cases {
        match &case.error {
            None => println!("ok    {} ({} ms)", case.name, case.ms),
            Some(error) => println!("FAIL  {} ({} ms): {error}", case.name, case.ms),
        }
    }
    let failed: Vec<String> = cases
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("  {}: {}", c.name, c.error.as_deref().unwrap_or("")))
        .collect();
    println!(
        "{what}: {} passed, {} failed",
        cases.len() - failed.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{what}: {} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// Runs node-clients.mjs against a fresh echo stack for the transports named by `prefix`.
async fn node_clients(prefix: &str) {
    let Some(dir) = tokio::task::spawn_blocking(clients).await.unwrap() else {
        return;
    };
    let (proxy, _upstream) = echo_stack().await;
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("node")
            .arg(dir.join("node-clients.mjs"))
            .arg(proxy.url())
            .arg(prefix)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the node driver finishes in time")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node-clients.mjs failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout.lines().last().unwrap_or_default();
    assert_all_passed(&format!("connect-node {prefix}"), &parse_report(report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_node_grpc_transport() {
    node_clients("grpc/proto/").await;
}

/// `application/grpc+json`: the gRPC transport with JSON messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_node_grpc_transport_with_json() {
    node_clients("grpc/json/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_node_grpc_web_transport() {
    node_clients("grpc-web/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_node_connect_transport() {
    node_clients("connect/").await;
}

/// Debian's chromium, which `tests/prerequisites.sh` installs; `None` (the test skips, saying
/// so) when it is missing. The CORS test fails without it, so a run of the whole suite still
/// notices.
fn chromium() -> Option<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/install-chromium.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg("--find-only")
        .output()
        .unwrap();
    if !output.status.success() {
        eprintln!(
            "SKIPPED: the browser client test needs a chromium browser: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8(output.stdout).unwrap().trim().to_string())
}

const PAGE: &str = r#"<!doctype html>
<html><head><title>protocol clients</title></head>
<body><pre id="out">pending</pre><script type="module" src="/page.js"></script></body></html>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_clients_in_chromium() {
    let Some(dir) = tokio::task::spawn_blocking(clients).await.unwrap() else {
        return;
    };
    let Some(chromium) = tokio::task::spawn_blocking(chromium).await.unwrap() else {
        return;
    };

    // The page's origin is its own loopback port, another origin than the proxies'. The
    // gRPC-Web clients call a proxy that allows the origin and says nothing else about CORS:
    // it must expose gRPC-Web's status and metadata headers by itself. Connect's metadata are
    // the API's own headers, which an operator exposes (as Connect's documentation says): the
    // Connect transport calls a proxy configured so.
    let page_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", page_listener.local_addr().unwrap());
    let upstream = echo_upstream_tcp().await;
    let proxy_with = |expose: &[&str]| {
        let mut options = gateway::options();
        options.cors = Some(gateway::Cors {
            allow_origins: vec![origin.clone()],
            expose_headers: expose.iter().map(|h| h.to_string()).collect(),
            ..gateway::Cors::default()
        });
        serve_tcp(gateway::router_with_options(
            pool(&upstream.address),
            options,
        ))
    };
    let proxy = proxy_with(&[]).await;
    let connect_proxy = proxy_with(&["x-echo", "x-trail", "trailer-x-trail"]).await;

    let script = std::fs::read_to_string(dir.join("browser/page.js")).unwrap();
    let (report_tx, mut report_rx) = tokio::sync::mpsc::channel::<String>(1);
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    PAGE,
                )
            }),
        )
        .route(
            "/page.js",
            axum::routing::get(move || async move {
                ([(http::header::CONTENT_TYPE, "text/javascript")], script)
            }),
        )
        .route(
            "/report",
            axum::routing::post(move |body: String| async move {
                let _ = report_tx.send(body).await;
            }),
        );
    let page_server = tokio::spawn(async move {
        axum::serve(page_listener, app).await.unwrap();
    });

    let profile = tempfile::tempdir().unwrap();
    let log = profile.path().join("chromium.log");
    let url = format!(
        "{origin}/?proxy={}&connect={}",
        proxy.url(),
        connect_proxy.url()
    );
    let mut browser = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            // The page's console lines, for a failure's message.
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let report = tokio::select! {
        report = report_rx.recv() => report,
        status = browser.wait() => panic!(
            "chromium exited ({status:?}) before the page reported:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ),
        () = tokio::time::sleep(Duration::from_secs(300)) => None,
    };
    let _ = browser.kill().await;
    page_server.abort();
    let report = report.unwrap_or_else(|| {
        panic!(
            "the page did not report in time:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    assert_all_passed("browser", &parse_report(&report));
}
