//! The proxy serves its OpenAPI document (`GET /openapi.json`), generated from the same model as
//! its routes; the `openapi_path` option moves it or turns it off. Both the committed example
//! crate and the build.rs proxy, over real sockets.
#![allow(clippy::unwrap_used)]

use protogate_tests::{
    Reply, Server, echo_stack, example_stack, example_upstream_tcp, gateway, h2c, http1, pool,
    send, serve_tcp,
};

async fn request(proxy: &Server, method: &str, path: &str) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    send(http1().request(method, format!("{}{path}", proxy.url()))).await
}

fn committed_document() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../generated-example/openapi.json"
    ))
    .unwrap()
}

#[tokio::test]
async fn the_example_proxy_serves_its_document() {
    let (proxy, _upstream) = example_stack().await;
    let reply = request(&proxy, "GET", "/openapi.json").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.headers["content-type"], "application/json");
    // Byte for byte the generated file, which the library embeds.
    assert!(reply.text == committed_document(), "served != openapi.json");
    assert_eq!(reply.text, protogate_example::OPENAPI_JSON);
    assert_eq!(reply.json["openapi"], "3.1.0");
    assert!(reply.json["paths"]["/v1/greeter/{name}"]["get"].is_object());
    // Over HTTP/2 too, and HEAD.
    let reply = send(h2c().get(format!("{}/openapi.json", proxy.url()))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["info"]["title"], "protogate-example");
    let reply = request(&proxy, "HEAD", "/openapi.json").await;
    assert_eq!(reply.status, 200);
    assert!(reply.text.is_empty());
    // Only GET and HEAD.
    let reply = request(&proxy, "POST", "/openapi.json").await;
    reply.assert_error(405, 12, "POST");
    assert_eq!(reply.headers["allow"], "GET, HEAD");
    // Exactly that path; the API is untouched.
    request(&proxy, "GET", "/openapi.json/x")
        .await
        .assert_error(404, 5, "no route for GET");
    let reply = request(&proxy, "GET", "/v1/greeter/doc").await;
    assert_eq!(reply.json["message"], "Hello doc", "{reply:?}");
    assert_eq!(
        protogate_example::options().openapi_path.as_deref(),
        Some("/openapi.json")
    );
}

#[tokio::test]
async fn the_option_moves_or_turns_off_the_document() {
    let upstream = example_upstream_tcp().await;
    let mut options = protogate_example::options();
    options.openapi_path = Some("/docs/api.json".to_string());
    let moved = serve_tcp(protogate_example::router_with_options(
        pool(&upstream.address),
        options.clone(),
    ))
    .await;
    let reply = request(&moved, "GET", "/docs/api.json").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.text, protogate_example::OPENAPI_JSON);
    request(&moved, "GET", "/openapi.json")
        .await
        .assert_error(404, 5, "no route for GET");

    options.openapi_path = None;
    let off = serve_tcp(protogate_example::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    request(&off, "GET", "/openapi.json")
        .await
        .assert_error(404, 5, "no route for GET");
    let reply = request(&off, "GET", "/v1/greeter/off").await;
    assert_eq!(reply.json["message"], "Hello off", "{reply:?}");
}

#[tokio::test]
async fn the_build_rs_proxy_serves_its_embedded_document() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = request(&proxy, "GET", "/openapi.json").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.text, gateway::OPENAPI_JSON);
    assert!(reply.text.ends_with("}\n"));
    assert_eq!(reply.json["openapi"], "3.1.0");
    // Titled with the services it serves (an include! module has no crate name).
    let title = reply.json["info"]["title"].as_str().unwrap();
    for service in gateway::SERVICES {
        assert!(title.contains(service), "{title}");
    }
    // Every operation the document lists is a route of the proxy: its path, filled in, is
    // never a 404 or 405 from the router.
    let paths = reply.json["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if method.starts_with("x-") || method == "description" {
                continue;
            }
            let mut concrete = path.clone();
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().unwrap();
                    let value = sample(p);
                    concrete = concrete.replace(&format!("{{{name}}}"), &value);
                }
            }
            let reply = request(&proxy, &method.to_ascii_uppercase(), &concrete).await;
            let message = reply.json["message"].as_str().unwrap_or_default();
            let unrouted =
                reply.status == 405 || (reply.status == 404 && message.starts_with("no route for"));
            assert!(!unrouted, "{method} {concrete}: {reply:?}");
        }
    }
}

/// A value for a path parameter that reaches its route: any one segment, or for a capture a
/// path its pattern accepts (the value need not parse; only routing is checked).
fn sample(param: &serde_json::Value) -> String {
    match param["schema"]["pattern"].as_str() {
        Some(pattern) if pattern.contains('/') => pattern
            .trim_start_matches('^')
            .trim_end_matches('$')
            .replace("[^/]+(/[^/]+)*", "a/b")
            .replace("(/[^/]+)*", "/c")
            .replace("[^/]+", "x")
            .replace('\\', ""),
        _ => "x".into(),
    }
}
