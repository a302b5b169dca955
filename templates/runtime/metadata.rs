//! HTTP headers ⇄ gRPC metadata, as a reverse proxy forwards them.

use std::time::Duration;

use base64::Engine as _;
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey, BinaryMetadataValue, MetadataMap};

use super::error::Error;

/// Headers that describe one HTTP hop or HTTP framing, never forwarded as metadata.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "accept-encoding",
    "grpc-timeout",
];

/// The prefix grpc-gateway clients use to send metadata explicitly.
const METADATA_PREFIX: &str = "grpc-metadata-";

/// Request headers as gRPC metadata: forwarded under their own names, `Grpc-Metadata-X` as `x`,
/// `-bin` values base64-decoded; hop-by-hop, framing and reserved gRPC headers dropped.
pub fn request_metadata(parts: &Parts) -> Result<MetadataMap, Error> {
    let headers = &parts.headers;
    let mut metadata = MetadataMap::with_capacity(headers.len() + 2);
    let connection_named: Vec<&str> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for (name, value) in headers {
        let name = name.as_str();
        let key = name.strip_prefix(METADATA_PREFIX).unwrap_or(name);
        if key.is_empty()
            || NOT_FORWARDED.contains(&name)
            || key.starts_with("grpc-")
            || key.starts_with("proxy-")
            || connection_named.iter().any(|c| c.eq_ignore_ascii_case(name))
        {
            continue;
        }
        if key.ends_with("-bin") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.as_bytes())
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(value.as_bytes()))
                .map_err(|_| {
                    Error::bad_request(format!("header `{name}`: value is not valid base64"))
                })?;
            if let Ok(k) = BinaryMetadataKey::from_bytes(key.as_bytes()) {
                metadata.append_bin(k, BinaryMetadataValue::from_bytes(&decoded));
            }
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            AsciiMetadataKey::from_bytes(key.as_bytes()),
            AsciiMetadataValue::try_from(value.as_bytes()),
        ) {
            metadata.append(k, v);
        }
    }
    let host = headers.get(http::header::HOST);
    if let Some(v) = host.and_then(|h| AsciiMetadataValue::try_from(h.as_bytes()).ok()) {
        metadata.insert("x-forwarded-host", v);
    }
    if let Some(peer) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        let ip = peer.0.ip().to_string();
        let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip,
        };
        if let Ok(v) = AsciiMetadataValue::try_from(forwarded.as_str()) {
            metadata.insert("x-forwarded-for", v);
        }
    }
    Ok(metadata)
}

/// The deadline the client asked for with `Grpc-Timeout` (`100m`, `2S`, …).
pub fn timeout(parts: &Parts) -> Result<Option<Duration>, Error> {
    let Some(value) = parts.headers.get("grpc-timeout") else {
        return Ok(None);
    };
    parse_timeout(value.as_bytes()).map(Some).ok_or_else(|| {
        Error::bad_request(format!(
            "header `Grpc-Timeout`: {} is not a timeout such as 100m or 2S (at most 8 digits and a unit H, M, S, m, u or n)",
            super::error::quote(&String::from_utf8_lossy(value.as_bytes()))
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

/// Response metadata as `Grpc-Metadata-<key>` headers; reserved gRPC and framing names are not
/// echoed.
pub fn response_headers(metadata: &MetadataMap) -> HeaderMap {
    let headers = metadata.clone().into_headers();
    let mut out = HeaderMap::new();
    for (name, value) in &headers {
        let name = name.as_str();
        if name.starts_with("grpc-") || NOT_FORWARDED.contains(&name) || name == "date" {
            continue;
        }
        if let Ok(header) = HeaderName::from_bytes(format!("{METADATA_PREFIX}{name}").as_bytes()) {
            out.append(header, value.clone());
        }
    }
    out
}
