//! Replies from a hostile upstream (`runtime/src/grpc.rs`: the frame decoder, statuses and
//! trailers; `upstream.rs` and `stream/write.rs`: the reply as JSON, NDJSON or Server-Sent Events;
//! `error.rs`: `grpc-status-details-bin`). The upstream answers with fuzzed HTTP status,
//! headers, DATA bytes and trailers, to unary and server-streaming bindings of the example API.
//! Never a panic the proxy does not catch; and the reply the client gets does not depend on how
//! the upstream's bytes were cut into DATA frames.
//!
//! Input: a byte choosing the request, a byte of flags, the HTTP status, header lines up to an
//! empty line, trailer lines up to an empty line, a count of cuts and the cuts (chunk lengths),
//! then the body bytes.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use protogate_fuzz::{Input, Reply, chunks, router, serve};

/// `name: value` lines up to an empty line (or the end); malformed ones are skipped.
fn header_lines(input: &mut Input<'_>) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = Vec::new();
    while !input.is_empty() {
        let line = input.field(b'\n');
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.push((name, value));
        }
    }
    headers
}

fn request(which: u8) -> http::Request<axum::body::Body> {
    let (path, accept, te) = match which % 8 {
        0 => ("/v1/shelves/s1", None, false),
        1 => ("/v1/shelves/s1/books", None, false),
        2 => ("/v1/shelves/s1/books:stream", None, false),
        3 => (
            "/v1/shelves/s1/books:stream",
            Some("text/event-stream"),
            false,
        ),
        4 => ("/v1/shelves/s1/books/b1/author", None, false),
        5 => ("/v1/shelves/s1/books", None, true),
        6 => ("/v1/shelves/s1/books:stream", None, true),
        _ => ("/v1/attachments/a/b", None, false),
    };
    let mut request = http::Request::builder().method("GET").uri(path);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if te {
        request = request.header("te", "trailers");
    }
    request.body(axum::body::Body::empty()).expect("a request")
}

fuzz_target!(|data: &[u8]| {
    protogate_fuzz::tolerate_caught_tonic_panics();
    let mut input = Input::new(data);
    let which = input.byte();
    let flags = input.byte();
    let status = match input.byte() {
        0..=199 => StatusCode::OK,
        b => StatusCode::from_u16(u16::from(b) + 300).unwrap_or(StatusCode::OK),
    };
    let mut headers = header_lines(&mut input);
    if flags & 1 == 0 {
        headers.insert(
            0,
            (
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            ),
        );
    }
    let trailer_lines = header_lines(&mut input);
    let trailers = (flags & 2 == 0).then(|| {
        let mut map = HeaderMap::new();
        for (name, value) in trailer_lines {
            map.append(name, value);
        }
        map
    });
    let cut_count = usize::from(input.byte() % 8);
    let cuts: Vec<u8> = (0..cut_count).map(|_| input.byte()).collect();
    let body = input.rest();
    let reply = |frames: Vec<Bytes>| Reply {
        status: (flags & 4 == 0).then_some(status),
        headers: headers.clone(),
        frames,
        trailers: trailers.clone(),
        body_error: flags & 8 != 0,
    };
    let (router, upstream) = router();

    upstream.script(reply(vec![Bytes::copy_from_slice(body)]));
    let whole = serve(router, request(which));
    upstream.script(reply(chunks(body, &cuts)));
    let cut = serve(router, request(which));
    assert_eq!(
        whole, cut,
        "the reply depends on the DATA frames' boundaries"
    );
});
