//! CORS (DESIGN.md §3.10): preflights answered by the router, allowed origins marked on every
//! reply, configuration mistakes refused; and a real headless Chromium whose page, served from
//! one origin, calls the proxy on another with `fetch()`.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use protogate_tests::{echo_upstream_tcp, gateway, http1, pool, send, serve_tcp};

const PAGE_ORIGIN: &str = "http://page.example";

fn cors(origins: &[&str]) -> gateway::Cors {
    gateway::Cors {
        allow_origins: origins.iter().map(|o| o.to_string()).collect(),
        max_age: Some(Duration::from_secs(600)),
        ..gateway::Cors::default()
    }
}

async fn proxy_with(cors: gateway::Cors) -> (protogate_tests::Server, protogate_tests::Server) {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.cors = Some(cors);
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    (proxy, upstream)
}

fn header<'a>(reply: &'a protogate_tests::Reply, name: &str) -> Option<&'a str> {
    reply.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_only() {
    let mut policy = cors(&[PAGE_ORIGIN]);
    policy.expose_headers = vec!["grpc-metadata-x-echo".to_string()];
    let (proxy, _upstream) = proxy_with(policy).await;
    let preflight = |origin: &str| {
        http1()
            .request(reqwest::Method::OPTIONS, format!("{}/v1/echo", proxy.url()))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-user")
    };

    let reply = send(preflight(PAGE_ORIGIN)).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(
        header(&reply, "access-control-allow-origin"),
        Some(PAGE_ORIGIN)
    );
    // The API's methods, and the headers the browser asked for.
    let methods = header(&reply, "access-control-allow-methods").unwrap();
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(
            methods.split(", ").any(|m| m == method),
            "{method} in {methods}"
        );
    }
    assert_eq!(
        header(&reply, "access-control-allow-headers"),
        Some("content-type,x-user")
    );
    assert_eq!(header(&reply, "access-control-max-age"), Some("600"));
    assert_eq!(header(&reply, "access-control-allow-credentials"), None);
    let vary: Vec<_> = reply
        .headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(vary.iter().any(|v| v.contains("origin")), "{vary:?}");

    // Another origin: an answer without the CORS headers, which the browser refuses.
    let reply = send(preflight("http://evil.example")).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(header(&reply, "access-control-allow-origin"), None);
    assert_eq!(header(&reply, "access-control-allow-methods"), None);

    // The actual request: marked for the allowed origin, exposing the listed headers.
    let reply = send(
        http1()
            .post(format!("{}/v1/echo", proxy.url()))
            .header("origin", PAGE_ORIGIN)
            .body(r#"{"id":"cors"}"#),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["id"], "cors");
    assert_eq!(
        header(&reply, "access-control-allow-origin"),
        Some(PAGE_ORIGIN)
    );
    assert_eq!(
        header(&reply, "access-control-expose-headers"),
        Some("grpc-metadata-x-echo")
    );
    // Errors too, so that the page can read them.
    let reply = send(
        http1()
            .get(format!("{}/v1/fail/5", proxy.url()))
            .header("origin", PAGE_ORIGIN),
    )
    .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(
        header(&reply, "access-control-allow-origin"),
        Some(PAGE_ORIGIN)
    );
    // Not a CORS request, not CORS headers.
    let reply = send(http1().get(format!("{}/v1/echo/plain", proxy.url()))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(header(&reply, "access-control-allow-origin"), None);
    // An OPTIONS request that is no preflight is routed like any other (no OPTIONS binding).
    let reply =
        send(http1().request(reqwest::Method::OPTIONS, format!("{}/v1/echo", proxy.url()))).await;
    assert_eq!(reply.status, 405, "{reply:?}");
}

#[tokio::test]
async fn credentials_any_origin_and_fixed_lists() {
    let mut policy = cors(&[PAGE_ORIGIN, "https://other.example:8443"]);
    policy.allow_credentials = true;
    policy.allow_methods = vec!["GET".to_string(), "POST".to_string()];
    policy.allow_headers = vec!["Content-Type".to_string(), "Authorization".to_string()];
    let (proxy, _upstream) = proxy_with(policy).await;
    let reply = send(
        http1()
            .request(reqwest::Method::OPTIONS, format!("{}/v1/echo", proxy.url()))
            .header("origin", "https://other.example:8443")
            .header("access-control-request-method", "POST"),
    )
    .await;
    assert_eq!(
        header(&reply, "access-control-allow-origin"),
        Some("https://other.example:8443")
    );
    assert_eq!(
        header(&reply, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        header(&reply, "access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(
        header(&reply, "access-control-allow-headers"),
        Some("content-type, authorization")
    );

    let (proxy, _upstream) = proxy_with(cors(&["*"])).await;
    let reply = send(
        http1()
            .get(format!("{}/v1/echo/any", proxy.url()))
            .header("origin", "http://anyone.example"),
    )
    .await;
    assert_eq!(header(&reply, "access-control-allow-origin"), Some("*"));
    assert!(reply.headers.get("vary").is_none(), "{reply:?}");
}

#[test]
fn inconsistent_settings_are_refused() {
    let refused = |policy: gateway::Cors, needle: &str| {
        let mut options = gateway::options();
        options.cors = Some(policy);
        let error = gateway::check(&options).unwrap_err();
        assert!(
            error.contains(needle),
            "{error:?} should mention {needle:?}"
        );
    };
    let mut any_with_credentials = cors(&["*"]);
    any_with_credentials.allow_credentials = true;
    refused(any_with_credentials, "cannot be combined with credentials");
    let mut headers_with_credentials = cors(&[PAGE_ORIGIN]);
    headers_with_credentials.allow_credentials = true;
    headers_with_credentials.allow_headers = vec!["*".to_string()];
    refused(headers_with_credentials, "`*` headers");
    refused(cors(&[]), "no allowed origins");
    refused(
        cors(&["http://page.example/"]),
        "is not `scheme://host[:port]`",
    );
    refused(cors(&["page.example"]), "is not `scheme://host[:port]`");
    let mut bad_method = cors(&[PAGE_ORIGIN]);
    bad_method.allow_methods = vec!["GE T".to_string()];
    refused(bad_method, "is not an HTTP method");
}

/// Debian's chromium, which `tests/prerequisites.sh` installs (the test suite changes nothing
/// on the machine). Fails the test, saying what to run, when it is missing: this test never
/// passes without a browser.
fn chromium() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/install-chromium.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg("--find-only")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the CORS browser test needs a chromium browser: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The page: from its own origin, calls the proxy that allows it and the one that does not.
fn page(allowed: &str, denied: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><title>CORS test</title></head>
<body><pre id="out">pending</pre>
<script>
const ALLOWED = "{allowed}";
const DENIED = "{denied}";
async function attempt(name, results, call) {{
  try {{
    results[name] = await call();
  }} catch (e) {{
    results[name] = {{ blocked: e.name }};
  }}
}}
(async () => {{
  const results = {{}};
  // JSON body: a preflighted request.
  await attempt("post", results, async () => {{
    const r = await fetch(ALLOWED + "/v1/echo", {{
      method: "POST",
      headers: {{ "content-type": "application/json" }},
      body: JSON.stringify({{ id: "from-browser", name: "fetch" }}),
    }});
    return {{ status: r.status, body: await r.json() }};
  }});
  // A custom request header (preflighted, then forwarded as metadata) and response metadata,
  // one header exposed and one not.
  await attempt("headers", results, async () => {{
    const r = await fetch(ALLOWED + "/v1/headers?reply_headers[x-echo]=shown&reply_headers[x-hidden]=secret", {{
      headers: {{ "x-user": "browser-user" }},
    }});
    const body = await r.json();
    return {{
      status: r.status,
      user: body.received.filter((e) => e.key === "x-user").map((e) => e.value),
      exposed: r.headers.get("grpc-metadata-x-echo"),
      hidden: r.headers.get("grpc-metadata-x-hidden"),
    }};
  }});
  // An error reply is readable too.
  await attempt("error", results, async () => {{
    const r = await fetch(ALLOWED + "/v1/fail/5");
    return {{ status: r.status, body: await r.json() }};
  }});
  // The other proxy does not allow this origin: the browser refuses to show the reply.
  await attempt("denied", results, async () => {{
    const r = await fetch(DENIED + "/v1/echo/denied");
    return {{ status: r.status }};
  }});
  document.getElementById("out").textContent = JSON.stringify(results);
}})();
</script></body></html>
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_calls_the_proxy_with_fetch_in_chromium() {
    let chromium = tokio::task::spawn_blocking(chromium).await.unwrap();

    // The page's origin is its own loopback port: reserve it first, so that the proxies can be
    // built to allow it.
    let page_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_addr = page_listener.local_addr().unwrap();
    drop(page_listener);
    let origin = format!("http://{page_addr}");

    let mut allowed = cors(&[&origin]);
    allowed.expose_headers = vec!["grpc-metadata-x-echo".to_string()];
    let (allowed_proxy, _upstream) = proxy_with(allowed).await;
    let (denied_proxy, _upstream2) = proxy_with(cors(&["http://somewhere-else.example"])).await;

    let html = page(&allowed_proxy.url(), &denied_proxy.url());
    let listener = tokio::net::TcpListener::bind(page_addr).await.unwrap();
    let page_server = tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let html = html.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        html,
                    )
                }
            }),
        );
        axum::serve(listener, app).await.unwrap();
    });

    let profile = tempfile::tempdir().unwrap();
    let url = format!("{origin}/");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                // Virtual time waits for the page's fetches before the DOM is dumped.
                "--virtual-time-budget=30000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes in time")
    .unwrap();
    page_server.abort();
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chromium failed: {}\n{dom}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = dom
        .split("<pre id=\"out\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("no results in the page:\n{dom}"))
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"");
    let results: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| {
        panic!(
            "results {json:?}: {e}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });

    assert_eq!(results["post"]["status"], 200, "{results:#}");
    assert_eq!(results["post"]["body"]["id"], "from-browser", "{results:#}");
    assert_eq!(results["post"]["body"]["name"], "fetch", "{results:#}");
    assert_eq!(results["headers"]["status"], 200, "{results:#}");
    assert_eq!(
        results["headers"]["user"],
        serde_json::json!(["browser-user"]),
        "{results:#}"
    );
    assert_eq!(results["headers"]["exposed"], "shown", "{results:#}");
    assert_eq!(
        results["headers"]["hidden"],
        serde_json::Value::Null,
        "{results:#}"
    );
    assert_eq!(results["error"]["status"], 404, "{results:#}");
    assert_eq!(results["error"]["body"]["code"], 5, "{results:#}");
    assert_eq!(results["denied"]["blocked"], "TypeError", "{results:#}");
}
