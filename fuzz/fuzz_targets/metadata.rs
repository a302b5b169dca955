//! Request headers as the proxy reads them (`runtime/src/metadata.rs`, `system_params.rs`):
//! `Grpc-Timeout`, headers turned into gRPC metadata with the forward and drop lists, the
//! lists themselves, the `--default-timeout` duration, system parameters, and upstream metadata
//! echoed back as headers. Never a panic; `Grpc-Timeout` agrees with an independent reading of
//! the gRPC spec; forwarded metadata never holds a reserved, hop-by-hop, unlisted or dropped
//! name nor a value that is not printable ASCII.
//!
//! Input: a byte of flags, then lines: the forward list, the drop list, a query string, a
//! duration, then `name: value` header lines.
#![no_main]

use std::time::Duration;

use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use protogate_fuzz::Input;
use protogate_fuzz::runtime::{metadata, system_params};
use tonic::metadata::{KeyAndValueRef, MetadataMap};

/// `Grpc-Timeout` as the gRPC HTTP/2 spec words it: 1 to 8 ASCII digits and a unit.
fn grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 60 * 60),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

const NEVER_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "accept-encoding",
];

fn listed(list: &[String], key: &str) -> bool {
    list.iter().any(|item| match item.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => item == key,
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.byte();
    let forward_text = text(input.field(b'\n'));
    let drop_text = text(input.field(b'\n'));
    let query = text(input.field(b'\n'));
    let duration = text(input.field(b'\n'));

    // The lists and the duration, as the binary's flags give them.
    let forward = match metadata::header_names(&forward_text) {
        Ok(names) => {
            for name in &names {
                assert!(!name.is_empty() && !name.starts_with("grpc-"), "{name:?}");
                assert_eq!(name, &name.to_ascii_lowercase());
            }
            (flags & 1 != 0).then_some(names)
        }
        Err(e) => {
            assert!(!e.is_empty());
            None
        }
    };
    let drop = metadata::header_names(&drop_text).unwrap_or_default();
    if let Ok(d) = metadata::parse_duration(&duration) {
        assert!(!d.is_zero(), "{duration:?} is a zero timeout");
    }

    let mut request = http::Request::builder().method("GET");
    let target = if query.is_empty() {
        "/v1/shelves".to_string()
    } else {
        format!("/v1/shelves?{query}")
    };
    if http::Uri::try_from(target.as_str()).is_ok() {
        request = request.uri(target);
    }
    let mut raw = Vec::new();
    while !input.is_empty() {
        let line = input.field(b'\n');
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            raw.push((name.clone(), value.clone()));
            request = request.header(name, value);
        }
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (mut parts, ()) = request.into_parts();

    // Grpc-Timeout.
    let timeout = metadata::timeout(&parts);
    match parts.headers.get("grpc-timeout") {
        None => assert!(matches!(timeout, Ok(None))),
        Some(value) => match grpc_timeout(value.as_bytes()) {
            Some(expected) => assert_eq!(timeout.ok(), Some(Some(expected)), "{value:?}"),
            None => assert!(timeout.is_err(), "{value:?} accepted as {timeout:?}"),
        },
    }

    // Headers as metadata.
    let connection: Vec<String> = parts
        .headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    match metadata::request_metadata(&parts, forward.as_deref(), &drop) {
        Ok(map) => {
            for entry in map.iter() {
                let (key, ascii_value) = match entry {
                    KeyAndValueRef::Ascii(k, v) => (k.as_str(), Some(v)),
                    KeyAndValueRef::Binary(k, _) => (k.as_str(), None),
                };
                assert!(
                    !NEVER_FORWARDED.contains(&key)
                        && !key.starts_with("grpc-")
                        && !key.starts_with("proxy-")
                        && !connection.iter().any(|c| c == key),
                    "{key:?} forwarded"
                );
                assert!(
                    key.bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.')),
                    "{key:?} is not a metadata key"
                );
                if let Some(value) = ascii_value {
                    assert!(
                        value.as_bytes().iter().all(|b| (0x20..=0x7e).contains(b)),
                        "{key:?}: {value:?} is not printable ASCII"
                    );
                }
                if key == "x-forwarded-host" || key == "x-forwarded-for" {
                    continue;
                }
                if let Some(list) = &forward {
                    assert!(listed(list, key), "{key:?} forwarded, but not listed");
                }
                assert!(!listed(&drop, key), "{key:?} forwarded, but dropped");
            }
        }
        Err(_) => assert!(
            raw.iter().any(|(name, _)| name.as_str().ends_with("-bin")),
            "a request without `-bin` headers refused"
        ),
    }

    // What the upstream sends back, echoed.
    let mut headers = http::HeaderMap::new();
    for (name, value) in &raw {
        headers.append(name.clone(), value.clone());
    }
    let upstream = MetadataMap::from_headers(headers);
    for (prefix, echoed) in [
        ("grpc-metadata-", metadata::response_headers(&upstream)),
        ("grpc-trailer-", metadata::trailer_headers(&upstream)),
    ] {
        for name in echoed.keys() {
            let key = name.as_str().strip_prefix(prefix).expect("prefixed");
            assert!(
                !key.starts_with("grpc-") && key != "content-type",
                "{key:?} echoed"
            );
        }
    }
    if let Some(code) = metadata::http_code(&upstream) {
        assert!((200..=599).contains(&code.as_u16()));
    }

    // System parameters: taken off the query, or a 400. A query that names none (`$alt`, and
    // `alt` when the API has no such field; with a value or without) is left as it is.
    let before = parts.uri.clone();
    let plain_alt = flags & 2 != 0;
    if system_params::take(&mut parts, plain_alt).is_ok() {
        assert_eq!(parts.uri.path(), before.path());
        let names_alt = before.query().unwrap_or_default().split('&').any(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            name == "$alt" || name == "%24alt" || (plain_alt && name == "alt")
        });
        if !names_alt {
            assert_eq!(parts.uri, before);
        }
    }
});
