//! The API docs page (`runtime::docs`): Swagger UI over the served OpenAPI document at `/docs`,
//! its assets below it with their content types and cache headers, a Content-Security-Policy
//! that allows only the page's own origin, relative URLs that work behind a path prefix, paths
//! checked like the other operation endpoints, the binary's `--docs-path` and `--no-docs`; and
//! a real headless Chromium, driven by Playwright, that loads the page, reads the example API's
//! operations from it and makes "Try it out" calls through the proxy.
#![allow(clippy::unwrap_used)]

mod ops_support;

use std::process::Command;
use std::time::Duration;

use ops_support::Binary;
use protogate_tests::{Reply, Server, example_upstream_tcp, gateway, http1, pool, send, serve_tcp};

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} in {reply:?}"))
}

async fn get(url: &str) -> Reply {
    send(http1().get(url)).await
}

/// The example proxy with `options` over a fresh example upstream, served under `prefix` (`""`
/// for none) with axum's `nest`, as an application that mounts it would.
async fn example(options: protogate_example::Options, prefix: &str) -> (Server, Server) {
    let upstream = example_upstream_tcp().await;
    let router = protogate_example::router_with_options(pool(&upstream.address), options);
    let app = if prefix.is_empty() {
        router
    } else {
        axum::Router::new().nest(prefix, router)
    };
    (serve_tcp(app).await, upstream)
}

/// The values of every `attribute="…"` in `html`.
fn attributes(html: &str, attribute: &str) -> Vec<String> {
    let needle = format!("{attribute}=\"");
    html.split(&needle)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|v| v.replace("&amp;", "&"))
        .collect()
}

/// `reference` resolved against the page at `page` (an absolute URL).
fn resolve(page: &str, reference: &str) -> String {
    reqwest::Url::parse(page)
        .unwrap()
        .join(reference)
        .unwrap()
        .to_string()
}

/// The page at `page` and the files it loads: each answered with its type and cache headers.
async fn check_page(page: &str, openapi: &str) {
    let reply = get(page).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(header(&reply, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&reply, "x-content-type-options"), "nosniff");
    assert_eq!(header(&reply, "cache-control"), "no-cache");
    let policy = header(&reply, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    for loose in ["unsafe-inline", "unsafe-eval", "http:", "https:", "*"] {
        assert!(!policy.contains(loose), "{loose} in {policy}");
    }
    // No CDN, nothing absolute, no inline script for the policy to forbid.
    assert!(!reply.text.contains("//"), "{}", reply.text);
    assert!(!reply.text.contains("<script>"), "{}", reply.text);
    assert!(!reply.text.contains("style="), "{}", reply.text);
    let spec = attributes(&reply.text, "data-openapi");
    assert_eq!(spec.len(), 1, "{}", reply.text);
    assert_eq!(resolve(page, &spec[0]), openapi);
    let document = get(openapi).await;
    assert_eq!(document.json["openapi"], "3.1.0", "{document:?}");

    let mut files: Vec<String> = attributes(&reply.text, "src");
    files.extend(
        attributes(&reply.text, "href")
            .into_iter()
            .filter(|h| h.contains("?v=")),
    );
    assert_eq!(files.len(), 4, "{}", reply.text);
    for file in files {
        let url = resolve(page, &file);
        let asset = get(&url).await;
        assert_eq!(asset.status, 200, "{url}: {asset:?}");
        let expected = if url.contains(".css?") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(header(&asset, "content-type"), expected, "{url}");
        assert_eq!(
            header(&asset, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(header(&asset, "x-content-type-options"), "nosniff");
        // The page names each asset by its entity tag.
        let tag = header(&asset, "etag");
        assert!(
            url.ends_with(&format!("?v={}", tag.trim_matches('"'))),
            "{url} {tag}"
        );
        assert!(!asset.text.is_empty());
    }
}

#[tokio::test]
async fn the_page_and_its_assets_are_served() {
    let (proxy, _upstream) = example(protogate_example::options(), "").await;
    assert_eq!(
        protogate_example::options().docs_path.as_deref(),
        Some("/docs")
    );
    let base = proxy.url();
    check_page(&format!("{base}/docs"), &format!("{base}/openapi.json")).await;

    let bundle = get(&format!("{base}/docs/swagger-ui-bundle.js")).await;
    assert!(bundle.text.contains("SwaggerUIBundle"));
    assert_eq!(
        bundle.text.len(),
        include_bytes!("../../runtime/assets/swagger-ui/swagger-ui-bundle.js").len()
    );

    // HEAD: the headers alone.
    let head = send(http1().head(format!("{base}/docs/swagger-ui.css"))).await;
    assert_eq!(head.status, 200);
    assert_eq!(header(&head, "content-type"), "text/css; charset=utf-8");
    assert!(head.text.is_empty());
    let head = send(http1().head(format!("{base}/docs"))).await;
    assert_eq!(head.status, 200);
    assert_eq!(header(&head, "content-type"), "text/html; charset=utf-8");

    // A browser's copy that is still current: 304, no body.
    for path in ["/docs", "/docs/swagger-ui.css"] {
        let first = get(&format!("{base}{path}")).await;
        let tag = header(&first, "etag").to_string();
        let again = send(
            http1()
                .get(format!("{base}{path}"))
                .header("if-none-match", &tag),
        )
        .await;
        assert_eq!(again.status, 304, "{path}: {again:?}");
        assert_eq!(header(&again, "etag"), tag);
        assert!(again.text.is_empty());
        let stale = send(
            http1()
                .get(format!("{base}{path}"))
                .header("if-none-match", "\"0000000000000000\""),
        )
        .await;
        assert_eq!(stale.status, 200, "{path}");
    }

    // Other methods, and names that are not the page's.
    let post = send(http1().post(format!("{base}/docs"))).await;
    assert_eq!(post.status, 405, "{post:?}");
    assert_eq!(header(&post, "allow"), "GET, HEAD");
    for path in ["/docs/", "/docs/nothing.js", "/docs/swagger-ui.css/x"] {
        get(&format!("{base}{path}"))
            .await
            .assert_error(404, 5, "no route");
    }
}

#[tokio::test]
async fn the_docs_are_not_counted_in_the_metrics() {
    let (proxy, _upstream) = example(protogate_example::options(), "").await;
    let base = proxy.url();
    let counted = |metrics: &str| {
        metrics
            .lines()
            .filter(|l| l.starts_with("protogate_http_requests_total"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let before = get(&format!("{base}/metrics")).await.text;
    for path in ["/docs", "/docs/swagger-ui.css", "/docs/docs-page.js"] {
        assert_eq!(get(&format!("{base}{path}")).await.status, 200);
    }
    let after = get(&format!("{base}/metrics")).await.text;
    assert_eq!(counted(&before), counted(&after), "{after}");
    assert!(!after.contains("docs"), "{after}");
}

#[tokio::test]
async fn a_moved_page_and_document_and_a_path_prefix() {
    let mut options = protogate_example::options();
    options.docs_path = Some("/reference/api".to_string());
    options.openapi_path = Some("/spec/openapi.json".to_string());
    let (proxy, _upstream) = example(options, "").await;
    let base = proxy.url();
    check_page(
        &format!("{base}/reference/api"),
        &format!("{base}/spec/openapi.json"),
    )
    .await;
    get(&format!("{base}/docs"))
        .await
        .assert_error(404, 5, "no route");

    // Mounted under /api by the application: every URL of the page keeps the prefix.
    let (nested, _upstream) = example(protogate_example::options(), "/api").await;
    let base = nested.url();
    check_page(
        &format!("{base}/api/docs"),
        &format!("{base}/api/openapi.json"),
    )
    .await;
    let page = get(&format!("{base}/api/docs")).await;
    assert_eq!(attributes(&page.text, "data-root"), ["./"]);
}

#[tokio::test]
async fn no_page_when_it_or_the_document_is_off() {
    for off in ["docs_path", "openapi_path"] {
        let mut options = protogate_example::options();
        match off {
            "docs_path" => options.docs_path = None,
            _ => options.openapi_path = None,
        }
        let (proxy, _upstream) = example(options, "").await;
        for path in [
            "/docs",
            "/docs/swagger-ui-bundle.js",
            "/docs/swagger-ui.css",
        ] {
            get(&format!("{}{path}", proxy.url()))
                .await
                .assert_error(404, 5, "no route");
        }
    }
}

#[test]
fn paths_inside_the_api_or_taken_are_refused() {
    let refused = |change: &dyn Fn(&mut gateway::Options), needle: &str| {
        let mut options = gateway::options();
        change(&mut options);
        let error = gateway::check(&options).unwrap_err();
        assert!(
            error.contains(needle),
            "{error:?} should contain {needle:?}"
        );
    };
    // The page itself inside a route (`POST /v1/echo`).
    refused(
        &|o| o.docs_path = Some("/v1/echo".to_string()),
        "docs_path /v1/echo is inside the API",
    );
    // Its assets inside a route (`GET /v1/download/{name}`).
    refused(
        &|o| o.docs_path = Some("/v1/download".to_string()),
        "docs_path /v1/download: its asset /v1/download/swagger-ui.css is inside the API: its route `GET /v1/download/{name}`",
    );
    refused(
        &|o| o.docs_path = Some("/healthz".to_string()),
        "docs_path and health_path are both /healthz",
    );
    refused(
        &|o| o.openapi_path = Some("/docs/index.css".to_string()),
        "openapi_path /docs/index.css is the path of an asset of the docs page at /docs",
    );
    refused(
        &|o| o.docs_path = Some("docs".to_string()),
        "is not an absolute URL path",
    );
    // A default `/docs` is fine for the echo API, and so is another free path.
    gateway::check(&gateway::options()).unwrap();
    let mut options = gateway::options();
    options.docs_path = Some("/ops/docs".to_string());
    gateway::check(&options).unwrap();
}

#[tokio::test]
async fn the_binary_moves_the_page_or_leaves_it_out() {
    let upstream = example_upstream_tcp().await;
    let url = upstream.url();
    let status = |binary: &Binary, path: &str| {
        let url = format!("{}{path}", binary.url());
        async move { get(&url).await.status }
    };

    let moved = Binary::start(&["--upstream", &url, "--docs-path", "/reference"], None)
        .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    assert_eq!(status(&moved, "/reference").await, 200);
    assert_eq!(status(&moved, "/reference/swagger-ui-bundle.js").await, 200);
    assert_eq!(status(&moved, "/docs").await, 404);

    for flags in [&["--no-docs"][..], &["--no-openapi"]] {
        let off = Binary::start(&[&["--upstream", url.as_str()][..], flags].concat(), None)
            .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
        assert_eq!(status(&off, "/docs").await, 404, "{flags:?}");
        assert_eq!(status(&off, "/docs/swagger-ui.css").await, 404, "{flags:?}");
        let openapi = if flags == ["--no-docs"] { 200 } else { 404 };
        assert_eq!(status(&off, "/openapi.json").await, openapi, "{flags:?}");
    }

    // The environment, as the other flags.
    let mut binary = Command::new(env!("CARGO_BIN_EXE_example-proxy"));
    binary
        .env("PROTOGATE_DOCS_PATH", "/x")
        .args(["--no-openapi"]);
    let output = binary.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--docs-path"), "{stderr}");
    assert!(stderr.contains("--no-openapi"), "{stderr}");
}

/// Debian's chromium, which `tests/prerequisites.sh` installs (the test suite changes nothing
/// on the machine). Fails the test, saying what to run, when it is missing, as the CORS browser
/// test does: a browser test that passed without a browser would hide a missing install step.
fn chromium() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/install-chromium.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg("--find-only")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the docs page's browser test needs a chromium browser: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The summaries of some of the example API's operations, as the page must list them.
const OPERATIONS: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/v1/greeter/{name}",
        "Greets the caller by name: `GET /v1/greeter/{name}`.",
    ),
    ("GET", "/v1/shelves", "Lists shelves, a page at a time."),
    (
        "POST",
        "/v1/shelves",
        "Creates a shelf from the request body.",
    ),
    (
        "POST",
        "/v1/shelves/{shelf}/books/{book}:move",
        "Moves a book to another shelf: a custom `:move` verb.",
    ),
    (
        "PATCH",
        "/v1/shelves/{shelf}/books/{book}",
        "Updates the fields of a book named by the update mask.",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_operations_and_calls_the_api_from_the_page() {
    let chromium = tokio::task::spawn_blocking(chromium).await.unwrap();
    // One upstream behind two proxies: one at the root, one mounted under /api.
    let upstream = example_upstream_tcp().await;
    let root = serve_tcp(protogate_example::router(pool(&upstream.address))).await;
    let nested = serve_tcp(
        axum::Router::new().nest("/api", protogate_example::router(pool(&upstream.address))),
    )
    .await;
    let pages = [
        format!("{}/docs", root.url()),
        format!("{}/api/docs", nested.url()),
    ];

    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{workspace}/target"));
    let screenshot = format!("{target}/docs-page.png");
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/browser/playwright.sh"
            ))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/browser/docs-page.mjs"
            ))
            .arg(&chromium)
            .arg(&screenshot)
            .args(&pages)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser finishes in time")
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser script failed: {stderr}"
    );
    let results: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&output.stdout)));

    let document: serde_json::Value =
        serde_json::from_str(protogate_example::OPENAPI_JSON).unwrap();
    // Swagger UI lists the standard methods, not a custom one (the SEARCH of
    // `x-additionalOperations`).
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let operations = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().keys())
        .filter(|method| methods.contains(&method.as_str()))
        .count();
    for (page, result) in pages.iter().zip(results.as_array().unwrap()) {
        let origin = reqwest::Url::parse(page)
            .unwrap()
            .origin()
            .ascii_serialization();
        let prefix = page.strip_suffix("/docs").unwrap();
        assert_eq!(result["status"], 200, "{result:#}");
        assert_eq!(
            result["documentTitle"], "protogate-example · API reference",
            "{result:#}"
        );
        assert!(
            result["title"]
                .as_str()
                .unwrap()
                .starts_with("protogate-example"),
            "{result:#}"
        );
        // Every operation of the document is on the page, these with their summaries.
        let listed = result["operations"].as_array().unwrap();
        assert_eq!(listed.len(), operations, "{result:#}");
        for (method, path, summary) in OPERATIONS {
            assert!(
                listed.iter().any(|o| o["method"] == *method
                    && o["path"] == *path
                    && o["summary"] == *summary),
                "{method} {path} is not listed as {summary:?}: {listed:#?}"
            );
        }
        // "Try it out": a GET with a path parameter and a POST with a body, through the proxy.
        let greet = &result["greet"];
        assert_eq!(greet["status"], "200", "{result:#}");
        assert_eq!(
            greet["requestUrl"],
            format!("{prefix}/v1/greeter/docs%20page"),
            "{result:#}"
        );
        let body: serde_json::Value =
            serde_json::from_str(greet["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["message"], "Hello docs page", "{result:#}");
        let create = &result["create"];
        assert_eq!(create["status"], "200", "{result:#}");
        assert_eq!(create["requestUrl"], format!("{prefix}/v1/shelves"));
        let shelf: serde_json::Value =
            serde_json::from_str(create["body"].as_str().unwrap()).unwrap();
        assert_eq!(shelf["theme"], "Made on the docs page", "{result:#}");
        // Nothing the policy refused, no script error, nothing fetched from elsewhere.
        for list in ["cspViolations", "pageErrors", "consoleErrors"] {
            assert_eq!(result[list], serde_json::json!([]), "{list}: {result:#}");
        }
        let requests = result["requests"].as_array().unwrap();
        assert!(
            requests
                .iter()
                .all(|r| r.as_str().unwrap().starts_with(&origin)),
            "{requests:#?}"
        );
        assert!(
            requests
                .iter()
                .any(|r| r == &format!("{prefix}/openapi.json")),
            "{requests:#?}"
        );
    }
    // The shelves the pages made are the upstream's.
    let shelves = get(&format!("{}/v1/shelves", root.url())).await;
    let made = shelves.json["shelves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["theme"] == "Made on the docs page")
        .count();
    assert_eq!(made, 2, "{shelves:?}");
    eprintln!("the docs page's screenshot: {screenshot}");
}
