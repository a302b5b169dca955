//! Path variables and query strings decoded into the example API's request messages
//! (`runtime/src/path.rs`, `query.rs`, `scalar.rs`, through the generated handlers): a request
//! to one of the example's bindings with fuzzed variables and query, in-process. Besides never
//! panicking, what reaches the upstream must be what an independent decoder makes of the
//! request: single-segment variables fully percent-decoded, multi-segment ones with `%2F` kept,
//! query values with `+` as a space, digits as numbers; and a path that is well-formed for a
//! string variable, with no query, must be served.
//!
//! Input: a byte choosing the binding, then the variables and the query string, separated by
//! newlines.
#![no_main]

use std::collections::BTreeMap;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use protogate_example::proto::helloworld::v1::HelloRequest;
use protogate_example::proto::library::v1 as library;
use protogate_fuzz::{Call, Reply, router, serve};

/// Strict percent-decoding: `None` for a malformed escape or invalid UTF-8. With `keep_slash`,
/// `%2F` stays as written.
fn decode(raw: &str, keep_slash: bool) -> Option<String> {
    let mut out = Vec::new();
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let (h, l) = (bytes.next()?, bytes.next()?);
        let hex = |c: u8| (c as char).to_digit(16);
        let byte = (hex(h)? * 16 + hex(l)?) as u8;
        if keep_slash && byte == b'/' {
            out.extend_from_slice(&[b'%', h, l]);
        } else {
            out.push(byte);
        }
    }
    String::from_utf8(out).ok()
}

/// A query string's pairs as the binding sees them: system parameters (`alt`) taken off,
/// `+` a space, names and values decoded; `None` when one does not decode.
fn query_pairs(query: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if matches!(name, "$alt" | "%24alt" | "alt") {
            continue;
        }
        let form = |s: &str| decode(&s.replace('+', " "), false);
        pairs.push((form(name)?, form(value)?));
    }
    Some(pairs)
}

/// The value of a decimal text of at most 9 digits (no sign), which every integer field takes.
fn small_number(text: &str) -> Option<u32> {
    (!text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Whether a query name is a key of the list request's one map, `labels`, written bare
/// (`lang=en`): it starts with no field of the request, is not a `$` system parameter and not
/// a `map[key]` entry.
fn is_bare_label(name: &str) -> bool {
    const FIELDS: [&str; 12] = [
        "filter",
        "includeBorrowed",
        "include_borrowed",
        "isbn13s",
        "labels",
        "pageSize",
        "pageToken",
        "page_size",
        "page_token",
        "parent",
        "readMask",
        "read_mask",
    ];
    let head = name.split('.').next().unwrap_or_default();
    let map_entry = name.contains('[') && name.ends_with(']');
    !name.starts_with('$') && !map_entry && !FIELDS.contains(&head)
}

/// Checks the string and integer parameters of a list request against `pairs`.
fn check_list_query(request: &library::ListBooksRequest, pairs: &[(String, String)]) {
    let mut labels = BTreeMap::new();
    let mut isbns = 0;
    for (name, value) in pairs {
        match name.as_str() {
            "page_token" | "pageToken" => assert_eq!(&request.page_token, value),
            "page_size" | "pageSize" => {
                if let Some(n) = small_number(value) {
                    assert_eq!(request.page_size as u32, n);
                }
            }
            "filter.author" => {
                assert_eq!(&request.filter.as_ref().expect("a filter").author, value)
            }
            "isbn13s" => isbns += 1,
            _ => {
                if let Some(key) = name
                    .strip_prefix("labels[")
                    .and_then(|k| k.strip_suffix(']'))
                {
                    labels.insert(key.to_string(), value.clone());
                } else if is_bare_label(name) {
                    labels.insert(name.clone(), value.clone());
                }
            }
        }
    }
    assert_eq!(request.labels, labels);
    assert_eq!(request.isbn13s.len(), isbns);
}

/// The raw segments of `path` after `/v1/`.
fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix("/v1/")
        .map(|p| p.split('/').collect())
        .unwrap_or_default()
}

fn only_call(calls: &[Call], method: &str) -> Option<Bytes> {
    match calls {
        [call] if call.method == method => {
            assert!(call.trailing.is_empty() && call.messages.len() == 1);
            Some(call.messages[0].clone())
        }
        [] => None,
        other => panic!("unexpected calls {other:?}"),
    }
}

const LIBRARY: &str = "/library.v1.LibraryService/";

fuzz_target!(|data: &[u8]| {
    let mut input = protogate_fuzz::Input::new(data);
    let case = input.byte() % 10;
    let vars: Vec<String> = (0..3)
        .map(|_| String::from_utf8_lossy(input.field(b'\n')).into_owned())
        .collect();
    let query = String::from_utf8_lossy(input.rest()).into_owned();
    let (method, path) = match case {
        0 => ("GET", format!("/v1/greeter/{}", vars[0])),
        1 => ("GET", format!("/v1/shelves/{}", vars[0])),
        2 => ("DELETE", format!("/v1/shelves/{}", vars[0])),
        3 => (
            "GET",
            format!(
                "/v1/shelves/{}/books/{}/pages/{}",
                vars[0], vars[1], vars[2]
            ),
        ),
        4 => ("GET", format!("/v1/shelves/{}/books/{}", vars[0], vars[1])),
        5 => ("GET", format!("/v1/attachments/{}", vars[0])),
        6 => ("GET", format!("/v1/shelves/{}/books", vars[0])),
        7 => ("SEARCH", format!("/v1/shelves/{}/books", vars[0])),
        8 => ("GET", format!("/v1/shelves/{}/books:stream", vars[0])),
        _ => (
            "GET",
            format!("/v1/shelves/{}/books/{}/details", vars[0], vars[1]),
        ),
    };
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let Ok(uri) = http::Uri::try_from(target.as_str()) else {
        return;
    };
    if uri.scheme().is_some() || uri.authority().is_some() {
        return;
    }
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(axum::body::Body::empty())
        .expect("a request");
    let (router, upstream) = router();
    upstream.script(Reply::empty_ok());
    let response = serve(router, request);
    assert!(
        !response.status.is_server_error(),
        "{method} {target:?}: {response:?}"
    );
    let calls = upstream.calls();
    let segs = segments(&path);
    // Served: no query, no empty segment, and a request target within the limit (longer ones
    // are 414, whatever they hold).
    let served_plain = query.is_empty()
        && segs.iter().all(|s| !s.is_empty())
        && path.len() <= protogate_example::options().max_uri_bytes;
    let pairs = query_pairs(&query);
    match case {
        0 | 1 | 2 if segs.len() == 2 => {
            let raw = segs[1];
            let expected = decode(raw, false);
            let grpc = match (case, segs[0]) {
                (0, "greeter") => "/helloworld.v1.Greeter/SayHello",
                (1, "shelves") if raw != "default" => "/library.v1.LibraryService/GetShelf",
                (2, "shelves") => "/library.v1.LibraryService/DeleteShelf",
                _ => return,
            };
            match only_call(&calls, grpc) {
                Some(message) => {
                    let value = match case {
                        0 => HelloRequest::decode(message).expect("valid").name,
                        1 => {
                            library::GetShelfRequest::decode(message)
                                .expect("valid")
                                .shelf_id
                        }
                        _ => {
                            library::DeleteShelfRequest::decode(message)
                                .expect("valid")
                                .shelf_id
                        }
                    };
                    assert_eq!(Some(value), expected, "{target:?}");
                }
                None => assert!(
                    !(served_plain && expected.is_some()),
                    "{method} {target:?} not served: {response:?}"
                ),
            }
        }
        3 if segs.len() == 6
            && segs[0] == "shelves"
            && segs[2] == "books"
            && segs[4] == "pages" =>
        {
            let number = decode(segs[5], false);
            match only_call(&calls, &format!("{LIBRARY}GetPage")) {
                Some(message) => {
                    let page = library::GetPageRequest::decode(message).expect("valid");
                    assert_eq!(Some(page.shelf_id), decode(segs[1], false));
                    assert_eq!(Some(page.book_id), decode(segs[3], false));
                    let number = number.expect("a decoded number");
                    assert!(
                        number.bytes().all(|b| b.is_ascii_digit()),
                        "{number:?} taken as a number"
                    );
                    assert_eq!(number.parse::<u64>().ok(), Some(u64::from(page.number)));
                }
                None => {
                    let well_formed = decode(segs[1], false).is_some()
                        && decode(segs[3], false).is_some()
                        && number.as_deref().and_then(small_number).is_some();
                    assert!(
                        !(served_plain && well_formed),
                        "{target:?} not served: {response:?}"
                    );
                }
            }
        }
        4 if segs.len() == 4 && segs[0] == "shelves" && segs[2] == "books" => {
            let expected = decode(segs[1], true)
                .zip(decode(segs[3], true))
                .map(|(s, b)| format!("shelves/{s}/books/{b}"));
            match only_call(&calls, &format!("{LIBRARY}GetBook")) {
                Some(message) => {
                    let request = library::GetBookRequest::decode(message).expect("valid");
                    assert_eq!(Some(request.name), expected, "{target:?}");
                }
                None => assert!(
                    !(served_plain && expected.is_some()),
                    "{target:?} not served: {response:?}"
                ),
            }
        }
        5 if path == "/v1/attachments" || path.starts_with("/v1/attachments/") => {
            let rest = path.strip_prefix("/v1/attachments").unwrap_or_default();
            let rest = rest.strip_prefix('/').unwrap_or(rest);
            let expected = decode(rest, true);
            match only_call(&calls, &format!("{LIBRARY}GetAttachment")) {
                Some(message) => {
                    let request = library::GetAttachmentRequest::decode(message).expect("valid");
                    assert_eq!(Some(request.path), expected, "{target:?}");
                }
                None => assert!(
                    !(served_plain
                        && expected.is_some()
                        && !path.contains("//")
                        && !path.ends_with('/')),
                    "{target:?} not served: {response:?}"
                ),
            }
        }
        6..=8 if segs.len() == 3 && segs[0] == "shelves" => {
            let grpc = if case == 8 {
                "StreamBooks"
            } else {
                "ListBooks"
            };
            if case == 8 && segs[2] != "books:stream" || case != 8 && segs[2] != "books" {
                return;
            }
            if let Some(message) = only_call(&calls, &format!("{LIBRARY}{grpc}")) {
                let request = library::ListBooksRequest::decode(message).expect("valid");
                assert_eq!(
                    Some(request.parent.clone()),
                    decode(segs[1], true).map(|s| format!("shelves/{s}")),
                    "{target:?}"
                );
                let pairs = pairs.expect("a query the proxy decoded");
                check_list_query(&request, &pairs);
            }
        }
        9 if segs.len() == 5 && segs[0] == "shelves" && segs[4] == "details" => {
            if let Some(message) = only_call(&calls, &format!("{LIBRARY}GetBook")) {
                let request = library::GetBookRequest::decode(message).expect("valid");
                assert_eq!(Some(request.shelf_id.clone()), decode(segs[1], false));
                assert_eq!(Some(request.book_id.clone()), decode(segs[3], false));
                for (name, value) in pairs.expect("a query the proxy decoded") {
                    if name == "name" {
                        assert_eq!(request.name, value);
                    }
                }
            }
        }
        _ => {}
    }
});
