//! The generated route matcher: any method and any request target (path and query) through the
//! example API's router, in-process, over an upstream that answers every call well. Never a
//! panic, never a 5xx (the upstream is healthy, so every failure is the client's: 4xx); a 404
//! only for a path no API template claims, a 405 only with an `Allow` header, and a call
//! upstream only for a path some template claims.
//!
//! Input: the method, a space, the request target; the rest (after a newline) is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protogate_fuzz::{Reply, router, serve};

fuzz_target!(|data: &[u8]| {
    let mut input = protogate_fuzz::Input::new(data);
    let method = input.field(b' ');
    let target = input.field(b'\n');
    let body = input.rest();
    let Ok(method) = http::Method::from_bytes(method) else {
        return;
    };
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    // Only origin-form targets reach the router from a server.
    if uri.scheme().is_some() || uri.authority().is_some() {
        return;
    }
    let path = uri.path().to_string();
    let request = http::Request::builder()
        .method(method.clone())
        .uri(uri)
        .body(axum::body::Body::from(body.to_vec()))
        .expect("a request");
    let (router, upstream) = router();
    upstream.script(Reply::empty_ok());
    let response = serve(router, request);
    let status = response.status;
    let probe = path == "/readyz" && status == http::StatusCode::SERVICE_UNAVAILABLE;
    assert!(
        !status.is_server_error() || probe,
        "{method} {target:?}: {status} {:?}",
        response.body
    );
    let claimed = protogate_example::claimed(&path);
    let called = !upstream.calls().is_empty();
    if called {
        assert!(
            claimed.is_some() || path == "/readyz",
            "{method} {path:?}: called upstream, but no template claims the path"
        );
    }
    if status == http::StatusCode::NOT_FOUND && claimed.is_some() && !called {
        panic!("{method} {path:?}: 404, but {claimed:?} claims the path");
    }
    if status == http::StatusCode::METHOD_NOT_ALLOWED {
        assert!(
            response.headers.contains_key(http::header::ALLOW),
            "{method} {path:?}: 405 without Allow"
        );
    }
});
