//! HTTP headers ⇄ gRPC metadata, as a reverse proxy forwards them, and the upstream deadline.
//!
//! In: request headers become metadata under their own lowercase names (`Grpc-Metadata-X` as
//! `x`), `-bin` values base64-decoded; hop-by-hop, framing and reserved gRPC headers never are.
//! Out: header metadata comes back as `Grpc-Metadata-<key>` headers and trailer metadata as
//! `Grpc-Trailer-<key>`, which [`trailers_after_body`] turns into HTTP trailers when the client
//! accepts them.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::header::{self, Entry};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt as _;
use tonic::metadata::{BinaryMetadataKey, BinaryMetadataValue, MetadataMap};

use super::error::{Error, quote};

/// Request headers that describe one HTTP hop or the framing of the body: never metadata, also
/// not when spelled `Grpc-Metadata-<name>`. `Proxy-*` and `grpc-*` names are reserved as well.
const NOT_FORWARDED: &[&str] = &[
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

/// Upstream metadata never echoed to the client: the gRPC protocol's own headers (`grpc-*` is
/// reserved too) and the upstream hop's HTTP framing.
const NOT_ECHOED: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "host",
    "date",
    HTTP_CODE,
];

/// Whether upstream metadata named `name` is the upstream hop's own (framing, `content-type`):
/// never echoed to a client.
pub(super) fn not_echoed(name: &str) -> bool {
    NOT_ECHOED.contains(&name)
}

/// The prefix grpc-gateway clients use to send metadata explicitly, and the prefix of the
/// response headers that carry the upstream's header metadata.
const METADATA_PREFIX: &str = "grpc-metadata-";

/// The prefix of the response headers (or trailers) that carry the upstream's trailer metadata.
const TRAILER_PREFIX: &str = "grpc-trailer-";

/// Upstream header metadata that sets the HTTP status of a successful reply (grpc-gateway's
/// convention), consumed by the proxy.
const HTTP_CODE: &str = "x-http-code";

/// Request headers as gRPC metadata, for the options' allow-list (`forward`, `None`: every
/// header) and deny-list (`drop`).
///
/// - Every header is forwarded under its own lowercase name, `Grpc-Metadata-X` as `x`, with
///   every value of a multi-valued header. Both lists name metadata keys, so `x-user` covers
///   `X-User` and `Grpc-Metadata-X-User` alike.
/// - `-bin` headers are base64-decoded (standard or URL-safe, padded or not; comma-separated
///   values are several values); bad base64 is a 400.
/// - Hop-by-hop headers (`Connection` and the headers it names, `Keep-Alive`, `TE`, `Trailer`,
///   `Transfer-Encoding`, `Upgrade`, `Proxy-*`), framing headers (`Host`, `Content-Length`,
///   `Content-Type`, `Content-Encoding`, `Accept-Encoding`) and `grpc-*` names are never
///   forwarded, whatever the lists say.
/// - A name or value that is not valid gRPC metadata (a key other than `0-9 a-z _ - .`, a value
///   other than printable ASCII) is skipped with a debug log line; the request is served.
/// - `X-Forwarded-Host` and `X-Forwarded-For` are always sent. The host is the client's own
///   `X-Forwarded-Host` (its first value: a proxy in front of this one saw the original host)
///   when `x-forwarded-host` passes the lists, else `Host` (or the HTTP/2 authority), as
///   grpc-gateway does. The peer address is appended to the client's `X-Forwarded-For` chain
///   when `x-forwarded-for` passes the lists, else starts a new one. Dropping either name makes
///   the proxy trust nothing the client says of it.
pub fn request_metadata(
    parts: &Parts,
    forward: Option<&[String]>,
    drop: &[String],
) -> Result<MetadataMap, Error> {
    let headers = &parts.headers;
    // Built as a header map, whose names and values are cloned (shared, not copied) from the
    // request's; binary values are decoded and added once it is metadata.
    let mut ascii = HeaderMap::with_capacity(headers.len() + 2);
    let mut binary = Vec::new();
    let connection_named: Vec<&str> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let hop_by_hop = |name: &str| {
        connection_named
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    };
    let reserved = |key: &str| {
        NOT_FORWARDED.contains(&key)
            || key.starts_with("grpc-")
            || key.starts_with("proxy-")
            || hop_by_hop(key)
    };
    let mut forwarded_for: Vec<&str> = Vec::new();
    let mut forwarded_host: Option<&HeaderValue> = None;
    for (header, value) in headers {
        let name = header.as_str();
        let prefix_stripped = name.strip_prefix(METADATA_PREFIX);
        let key = prefix_stripped.unwrap_or(name);
        if reserved(key) || hop_by_hop(name) {
            continue;
        }
        // The W3C trace context belongs to the trace, not the application: an allow-list
        // keeps it (a drop list can still name it).
        let allowed = forward
            .is_none_or(|list| listed(list, key) || super::otel::TRACE_CONTEXT.contains(&key));
        if !allowed || listed(drop, key) {
            tracing::debug!(
                header = name,
                "request header not forwarded: not allowed by the options"
            );
            continue;
        }
        if !valid_key(key) {
            tracing::debug!(
                header = name,
                "request header not forwarded: not a valid gRPC metadata key (0-9 a-z _ - .)"
            );
            continue;
        }
        if key == "x-forwarded-host" {
            if valid_ascii_value(value.as_bytes()) {
                forwarded_host = forwarded_host.or(Some(value));
            }
            continue;
        }
        if key == "x-forwarded-for" {
            match value.to_str() {
                Ok(v) if valid_ascii_value(v.as_bytes()) => forwarded_for.push(v),
                _ => tracing::debug!(
                    header = name,
                    "request header not forwarded: not a valid gRPC metadata value (printable ASCII)"
                ),
            }
            continue;
        }
        if key.ends_with("-bin") {
            let Ok(k) = BinaryMetadataKey::from_bytes(key.as_bytes()) else {
                continue;
            };
            for part in value.as_bytes().split(|&b| b == b',') {
                let part = part.trim_ascii();
                let decoded = std::str::from_utf8(part)
                    .ok()
                    .and_then(|p| super::scalar::parse_bytes(p).ok())
                    .ok_or_else(|| {
                        Error::bad_request(format!(
                            "header `{name}`: {} is not valid base64 (`-bin` headers carry base64-encoded bytes)",
                            quote(&String::from_utf8_lossy(part))
                        ))
                    })?;
                binary.push((k.clone(), BinaryMetadataValue::from_bytes(&decoded)));
            }
            continue;
        }
        if !valid_ascii_value(value.as_bytes()) {
            tracing::debug!(
                header = name,
                "request header not forwarded: not a valid gRPC metadata value (printable ASCII)"
            );
            continue;
        }
        // A `Grpc-Metadata-` name is forwarded without its prefix: a new name; any other
        // keeps its own (a clone shares its bytes).
        let key = match prefix_stripped {
            Some(key) => match HeaderName::from_bytes(key.as_bytes()) {
                Ok(key) => key,
                Err(_) => continue,
            },
            None => header.clone(),
        };
        ascii.append(key, value.clone());
    }
    let host = match forwarded_host.or_else(|| headers.get(header::HOST)) {
        Some(host) => Some(host.clone()),
        None => parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    };
    if let Some(host) = host.filter(|h| valid_ascii_value(h.as_bytes())) {
        ascii.insert(X_FORWARDED_HOST, host);
    }
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|peer| peer.0.ip());
    if let Some(chain) = forwarded_for_chain(&forwarded_for, peer) {
        ascii.insert(X_FORWARDED_FOR, chain);
    }
    let mut metadata = MetadataMap::from_headers(ascii);
    for (key, value) in binary {
        metadata.append_bin(key, value);
    }
    Ok(metadata)
}

/// The gRPC headers the proxy reads or writes on every call, as constants: looking a header up
/// by `&str` parses the name each time.
pub(super) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub(super) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// `X-Forwarded-For`: the client's chain (`, `-separated) with the peer's address appended; none
/// when both are missing.
fn forwarded_for_chain(chain: &[&str], peer: Option<std::net::IpAddr>) -> Option<HeaderValue> {
    let mut value = String::with_capacity(chain.iter().map(|c| c.len() + 2).sum::<usize>() + 40);
    for part in chain {
        if !value.is_empty() {
            value.push_str(", ");
        }
        value.push_str(part);
    }
    if let Some(ip) = peer {
        if !value.is_empty() {
            value.push_str(", ");
        }
        match ip {
            // The common case, without the formatting machinery.
            std::net::IpAddr::V4(v4) => {
                let mut digits = itoa::Buffer::new();
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        value.push('.');
                    }
                    value.push_str(digits.format(octet));
                }
            }
            std::net::IpAddr::V6(v6) => {
                use std::fmt::Write as _;
                let _ = write!(value, "{v6}");
            }
        }
    }
    if value.is_empty() {
        return None;
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(value)).ok()
}

/// Whether a list of header names (lowercase; `x-internal-*` matches a prefix, `*` every name)
/// contains `key`.
fn listed(list: &[String], key: &str) -> bool {
    list.iter().any(|entry| match entry.strip_suffix('*') {
        Some(prefix) => {
            key.len() >= prefix.len()
                && key.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        }
        None => entry.eq_ignore_ascii_case(key),
    })
}

/// A gRPC metadata key: `0-9 a-z _ - .`, as the gRPC HTTP/2 protocol allows.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'))
}

/// A gRPC ASCII metadata value: printable ASCII and spaces.
fn valid_ascii_value(value: &[u8]) -> bool {
    value.iter().all(|b| (0x20..=0x7e).contains(b))
}

/// Parses a comma-separated list of header names for the forward and drop options: each is
/// lowercased, and may end in `*` to match a prefix (`x-internal-*`; `*` alone matches every
/// name). Empty items are ignored, so an empty list is valid.
pub fn header_names(list: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let name = item.to_ascii_lowercase();
        let stem = name.strip_suffix('*').unwrap_or(&name);
        if stem.starts_with("grpc-") {
            return Err(format!(
                "{item:?}: `grpc-*` headers are never forwarded; name `Grpc-Metadata-X` headers by their metadata name `x`"
            ));
        }
        if !stem
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'))
        {
            return Err(format!(
                "{item:?} is not a header name: use letters, digits, `-`, `_` and `.`, optionally ending in `*` for a prefix"
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// The deadline the client asked for with `Grpc-Timeout` (`100m`, `2S`, …).
pub fn timeout(parts: &Parts) -> Result<Option<Duration>, Error> {
    let Some(value) = parts.headers.get(&GRPC_TIMEOUT) else {
        return Ok(None);
    };
    parse_timeout(value.as_bytes()).map(Some).ok_or_else(|| {
        Error::bad_request(format!(
            "header `Grpc-Timeout`: {} is not a timeout such as 100m or 2S (at most 8 digits and a unit H, M, S, m, u or n)",
            quote(&String::from_utf8_lossy(value.as_bytes()))
        ))
    })
}

fn parse_timeout(value: &[u8]) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b"H" => Duration::from_secs(n * 3600),
        b"M" => Duration::from_secs(n * 60),
        b"S" => Duration::from_secs(n),
        b"m" => Duration::from_millis(n),
        b"u" => Duration::from_micros(n),
        b"n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Parses a duration for the `--default-timeout` flag: a number and a unit `ms`, `s`, `m` or
/// `h` (`250ms`, `30s`, `1.5m`, `2h`), greater than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "{text:?} is not a duration such as 250ms, 30s or 1m (a number and a unit ms, s, m or h)"
        )
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let nanos_per_unit: u128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(invalid()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || number.ends_with('.') || fraction.contains('.') || fraction.len() > 9 {
        return Err(invalid());
    }
    let whole: u128 = whole.parse().map_err(|_| invalid())?;
    let fraction_nanos = if fraction.is_empty() {
        0
    } else {
        let digits: u128 = fraction.parse().map_err(|_| invalid())?;
        digits * nanos_per_unit / 10u128.pow(fraction.len() as u32)
    };
    let nanos = whole
        .checked_mul(nanos_per_unit)
        .and_then(|n| n.checked_add(fraction_nanos))
        .ok_or_else(invalid)?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| invalid())?;
    let duration = Duration::new(secs, (nanos % 1_000_000_000) as u32);
    if duration.is_zero() {
        return Err(format!("{text:?}: the timeout must be greater than zero"));
    }
    Ok(duration)
}

/// Upstream header metadata as `Grpc-Metadata-<key>` response headers. Reserved gRPC names
/// (`content-type`, `grpc-status`, `grpc-message`, `grpc-status-details-bin`, every `grpc-*`),
/// the upstream hop's framing and `x-http-code` are not echoed; `-bin` values stay base64.
pub fn response_headers(metadata: &MetadataMap) -> HeaderMap {
    echoed(metadata, METADATA_PREFIX)
}

/// Upstream trailer metadata as `Grpc-Trailer-<key>` response headers, with the same names left
/// out as [`response_headers`]. [`trailers_after_body`] moves them into HTTP trailers when the
/// client accepts trailers.
pub fn trailer_headers(metadata: &MetadataMap) -> HeaderMap {
    echoed(metadata, TRAILER_PREFIX)
}

fn echoed(metadata: &MetadataMap, prefix: &str) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in metadata.as_ref() {
        let name = name.as_str();
        if name.starts_with("grpc-") || name.starts_with("proxy-") || NOT_ECHOED.contains(&name) {
            continue;
        }
        if let Ok(header) = HeaderName::from_bytes(format!("{prefix}{name}").as_bytes()) {
            out.append(header, value.clone());
        }
    }
    out
}

/// The HTTP status the upstream chose for a successful reply with `x-http-code` header metadata
/// (`201`, `204`, …: from 200 to 599). Any other value is ignored with a log line.
pub fn http_code(metadata: &MetadataMap) -> Option<StatusCode> {
    const HTTP_CODE_NAME: HeaderName = HeaderName::from_static(HTTP_CODE);
    let value = metadata.as_ref().get(&HTTP_CODE_NAME)?;
    let code = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|code| (200..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok());
    if code.is_none() {
        tracing::warn!(
            value = %String::from_utf8_lossy(value.as_bytes()),
            "ignoring the upstream's x-http-code metadata: not an HTTP status from 200 to 599"
        );
    }
    code
}

/// Whether a response with this status carries a body (204, 205 and 304 never do).
pub fn has_body(status: StatusCode) -> bool {
    !matches!(status.as_u16(), 204 | 205 | 304)
}

/// Whether the reply to `request` can carry HTTP trailers: the client accepts them (a `TE`
/// header lists `trailers`), speaks HTTP/1.1 or later, and the method is not `HEAD`.
pub fn accepts_trailers<B>(request: &http::Request<B>) -> bool {
    request.method() != http::Method::HEAD
        && request.version() >= http::Version::HTTP_11
        && request
            .headers()
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
}

/// Moves the `Grpc-Trailer-*` headers of a reply into HTTP trailers sent after the body, named
/// in a `Trailer` header, when the client accepts trailers (`accepts`: see [`accepts_trailers`]) and the reply has a body. Otherwise, and for the other headers, the reply is
/// unchanged. Over HTTP/1.1 the body is then sent chunked.
pub fn trailers_after_body(response: Response, accepts: bool) -> Response {
    let carries_trailers = response
        .headers()
        .keys()
        .any(|name| name.as_str().starts_with(TRAILER_PREFIX));
    if !accepts || !carries_trailers || !has_body(response.status()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let names: Vec<HeaderName> = parts
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with(TRAILER_PREFIX))
        .cloned()
        .collect();
    let mut trailers = HeaderMap::new();
    for name in &names {
        if let Entry::Occupied(entry) = parts.headers.entry(name) {
            let (name, values) = entry.remove_entry_mult();
            for value in values {
                trailers.append(name.clone(), value);
            }
        }
    }
    let declared = names
        .iter()
        .map(HeaderName::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::try_from(declared) {
        parts.headers.insert(header::TRAILER, value);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    // A body of unknown length, so HTTP/1.1 sends it chunked: trailers need a chunked body.
    let body = Body::from_stream(body.into_data_stream())
        .with_trailers(async move { Some(Ok::<_, axum::Error>(trailers)) });
    Response::from_parts(parts, Body::new(body))
}
