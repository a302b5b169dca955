//! HTTP compression (RFC 9110 §8.4 and §12.5.3): responses compressed in a coding the
//! client's `Accept-Encoding` allows, request bodies decompressed by their `Content-Encoding`.
//!
//! Written here rather than taken from tower-http's `CompressionLayer`, which does not flush per
//! frame (tower-http issue 292): an NDJSON or Server-Sent Events stream would reach its client
//! in bursts, or only when it ends. Here each message the proxy writes is flushed, so the client
//! decodes it as it arrives. The same codecs compress the gRPC messages exchanged with the
//! upstream ([`codec::encode_whole`], [`codec::decode_whole`]).

mod body;
pub mod codec;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tonic::Code;

pub use codec::Coding;

use super::error::Error;

/// How the proxy compresses responses and which request codings it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// The codings the proxy answers in and accepts in request bodies, best first: a client
    /// that accepts several equally gets the first.
    pub codings: Vec<Coding>,
    /// A response whose length is known and below this is sent as it is: small bodies gain
    /// little and the coding's framing can make them larger. Streams are always compressed.
    pub min_bytes: usize,
}

impl Default for Compression {
    /// Every coding this build has; 1 KiB, as most CDNs use.
    fn default() -> Self {
        Compression {
            codings: Coding::AVAILABLE.to_vec(),
            min_bytes: 1024,
        }
    }
}

impl Compression {
    /// Parses a `--compression` list: codings separated by commas, or `off` (`None`).
    ///
    /// # Errors
    ///
    /// An unknown coding, or one this build lacks, named with the choices.
    pub fn parse_codings(text: &str) -> Result<Option<Vec<Coding>>, String> {
        if text.trim() == "off" {
            return Ok(None);
        }
        let mut codings = Vec::new();
        for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let coding: Coding = token.parse()?;
            if !codings.contains(&coding) {
                codings.push(coding);
            }
        }
        if codings.is_empty() {
            return Err("no content coding given: list some (gzip,br,zstd) or say off".into());
        }
        Ok(Some(codings))
    }

    /// The coding to answer a request in: of those the client accepts with the highest
    /// weight, the first this proxy prefers. `None` without `Accept-Encoding` (most servers
    /// read its absence as "identity only", though RFC 9110 allows any), or when the client
    /// accepts none of them.
    pub fn negotiate(&self, headers: &HeaderMap) -> Option<Coding> {
        let mut weights: Vec<(&str, u16)> = Vec::new();
        for value in headers.get_all(header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut parts = item.split(';');
                let token = parts.next().unwrap_or("").trim();
                if token.is_empty() {
                    continue;
                }
                let weight = parts
                    .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                    .find_map(qvalue)
                    .unwrap_or(1000);
                weights.push((token, weight));
            }
        }
        let weight_of = |coding: Coding| {
            let named = weights
                .iter()
                .find(|(token, _)| Coding::of_token(token) == Some(coding));
            let any = weights.iter().find(|(token, _)| *token == "*");
            named.or(any).map_or(0, |(_, w)| *w)
        };
        let mut best: Option<(Coding, u16)> = None;
        for &coding in &self.codings {
            let weight = weight_of(coding);
            if weight > 0 && best.is_none_or(|(_, w)| weight > w) {
                best = Some((coding, weight));
            }
        }
        best.map(|(coding, _)| coding)
    }

    /// `response`, compressed in `coding` when its content suits compression and is not too
    /// small. A response that could be compressed says `Vary: Accept-Encoding`, whether it is or
    /// not, so that caches keep each form apart.
    pub fn respond(&self, coding: Option<Coding>, method: &Method, response: Response) -> Response {
        // Most replies stop here, untouched and without allocating.
        let small = http_body::Body::size_hint(response.body())
            .exact()
            .is_some_and(|len| len < self.min_bytes as u64);
        if small || !compressible(response.headers(), response.status()) {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        parts
            .headers
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        let Some(coding) = coding else {
            return Response::from_parts(parts, body);
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.token()),
        );
        // The coded bytes are not those the tag was made for (RFC 9110 §8.8.1).
        if let Some(tag) = parts.headers.get(header::ETAG)
            && !tag.as_bytes().starts_with(b"W/")
            && let Ok(weak) = HeaderValue::from_bytes(&[b"W/", tag.as_bytes()].concat())
        {
            parts.headers.insert(header::ETAG, weak);
        }
        // A HEAD answer has no body to code; it says what a GET would have been sent as,
        // without the length it cannot know.
        if method == Method::HEAD {
            return Response::from_parts(parts, body);
        }
        match body::Compressed::new(body, coding) {
            Ok(compressed) => Response::from_parts(parts, Body::new(compressed)),
            Err(e) => {
                tracing::error!(error = %e, %coding, "could not start a compressor");
                Error::new(
                    Code::Internal,
                    format!("could not start {coding} compression"),
                )
                .into_response()
            }
        }
    }
}

/// A `q=` weight in thousandths (RFC 9110 §12.4.2), if well formed.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The digits given, then zeros: "5" is 500.
    let digits = fraction.bytes().chain(std::iter::repeat(b'0')).take(3);
    let thousandths = digits.fold(0, |n, d| n * 10 + u16::from(d - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether a response is worth compressing: a body in a textual type, not already coded, not a
/// partial or bodiless status, and not marked `no-transform`.
fn compressible(headers: &HeaderMap, status: StatusCode) -> bool {
    if status.is_informational()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
        )
        || headers.contains_key(header::CONTENT_ENCODING)
        || headers.contains_key(header::CONTENT_RANGE)
    {
        return false;
    }
    let no_transform = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-transform"));
    if no_transform {
        return false;
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let essence = content_type
        .as_bytes()
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let starts = |prefix: &[u8]| {
        essence
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let ends = |suffix: &[u8]| {
        essence
            .len()
            .checked_sub(suffix.len())
            .is_some_and(|at| essence[at..].eq_ignore_ascii_case(suffix))
    };
    starts(b"text/")
        || ends(b"+json")
        || ends(b"+xml")
        || [
            &b"application/json"[..],
            b"application/x-ndjson",
            b"application/javascript",
            b"application/xml",
        ]
        .iter()
        .any(|t| essence.eq_ignore_ascii_case(t))
}

/// The request with its body decoded when `Content-Encoding` names one of `codings` (which
/// then leaves the headers, with the length it no longer matches); 415 for any other coding,
/// with `Accept-Encoding` naming those taken (RFC 9110 §15.5.16). The decoded body ends with an
/// error, a 400 for the handler, when the coded bytes are malformed.
pub fn decode_request(codings: &[Coding], mut request: Request) -> Result<Request, Box<Response>> {
    let Some(value) = request.headers().get(header::CONTENT_ENCODING) else {
        return Ok(request);
    };
    let text = value.to_str().unwrap_or("").trim();
    let coding = if text.eq_ignore_ascii_case("identity") {
        None
    } else {
        match Coding::of_token(text).filter(|c| codings.contains(c)) {
            Some(coding) => Some(coding),
            None => return Err(Box::new(unsupported(text, codings))),
        }
    };
    let headers = request.headers_mut();
    headers.remove(header::CONTENT_ENCODING);
    let Some(coding) = coding else {
        return Ok(request);
    };
    headers.remove(header::CONTENT_LENGTH);
    if http_body::Body::is_end_stream(request.body()) {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    match body::Decoding::new(body, coding) {
        Ok(decoding) => Ok(Request::from_parts(parts, Body::new(decoding))),
        Err(e) => {
            tracing::error!(error = %e, %coding, "could not start a decompressor");
            let error = Error::new(
                Code::Internal,
                format!("could not start {coding} decompression"),
            );
            Err(Box::new(error.into_response()))
        }
    }
}

fn unsupported(text: &str, codings: &[Coding]) -> Response {
    let taken: Vec<&str> = codings.iter().map(|c| c.token()).collect();
    let message = if taken.is_empty() {
        format!("the request body's Content-Encoding {text:?} is not accepted: send it uncoded")
    } else {
        format!(
            "the request body's Content-Encoding {text:?} is not accepted: use {} or none",
            taken.join(", ")
        )
    };
    let mut response = Error::new(Code::InvalidArgument, message).into_response();
    *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    response
        .extensions_mut()
        .insert(super::binding::ErrorCode(Code::InvalidArgument));
    let accept = if taken.is_empty() {
        "identity".to_string()
    } else {
        taken.join(", ")
    };
    if let Ok(value) = HeaderValue::from_str(&accept) {
        response
            .headers_mut()
            .insert(header::ACCEPT_ENCODING, value);
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        headers
    }

    fn gzip_only() -> Compression {
        Compression {
            codings: vec![Coding::Gzip],
            min_bytes: 10,
        }
    }

    #[test]
    fn the_highest_weight_wins_then_the_proxys_order() {
        let all = Compression::default();
        assert_eq!(all.negotiate(&HeaderMap::new()), None);
        assert_eq!(all.negotiate(&accept("identity")), None);
        assert_eq!(all.negotiate(&accept("gzip")), Some(Coding::Gzip));
        assert_eq!(all.negotiate(&accept("x-gzip;q=0.5")), Some(Coding::Gzip));
        assert_eq!(all.negotiate(&accept("gzip;q=0, deflate")), None);
        assert_eq!(all.negotiate(&accept("GZIP ; Q=0.001")), Some(Coding::Gzip));
        assert_eq!(
            all.negotiate(&accept("gzip;q=1.5")),
            Some(Coding::Gzip),
            "a bad q is 1"
        );
        assert_eq!(
            all.negotiate(&accept("*")),
            Some(Coding::AVAILABLE[0]),
            "any coding"
        );
        assert_eq!(gzip_only().negotiate(&accept("br, zstd")), None);
        #[cfg(feature = "compression")]
        {
            assert_eq!(
                all.negotiate(&accept("gzip, deflate, br, zstd")),
                Some(Coding::Zstd)
            );
            assert_eq!(all.negotiate(&accept("gzip, br;q=0.9")), Some(Coding::Gzip));
            assert_eq!(
                all.negotiate(&accept("gzip;q=0.5, *;q=0.8")),
                Some(Coding::Zstd)
            );
            assert_eq!(all.negotiate(&accept("*, zstd;q=0")), Some(Coding::Br));
        }
    }

    #[test]
    fn qvalues_are_read_as_rfc_9110_writes_them() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0"), Some(0));
        for bad in ["1.5", "0.1234", "2", "-0", "0.x", ""] {
            assert_eq!(qvalue(bad), None, "{bad}");
        }
    }

    #[test]
    fn codings_lists_parse_and_refuse_clearly() {
        assert_eq!(Compression::parse_codings("off"), Ok(None));
        assert_eq!(
            Compression::parse_codings("gzip, gzip"),
            Ok(Some(vec![Coding::Gzip]))
        );
        assert!(
            Compression::parse_codings("")
                .unwrap_err()
                .contains("no content coding")
        );
        assert!(
            Compression::parse_codings("gzip,lzma")
                .unwrap_err()
                .contains("\"lzma\"")
        );
    }

    fn json_response(len: usize) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            "x".repeat(len),
        )
            .into_response()
    }

    #[test]
    fn only_textual_large_enough_uncoded_bodies_are_compressed() {
        let gzip = gzip_only();
        let coded = |response: Response| {
            let response = gzip.respond(Some(Coding::Gzip), &Method::GET, response);
            response.headers().get(header::CONTENT_ENCODING).cloned()
        };
        assert_eq!(coded(json_response(10)).unwrap(), "gzip");
        assert_eq!(coded(json_response(9)), None, "below the threshold");
        for textual in [
            "Application/JSON; charset=utf-8",
            "text/event-stream",
            "application/problem+json",
            "image/svg+xml",
        ] {
            let response = ([(header::CONTENT_TYPE, textual)], "x".repeat(100)).into_response();
            assert_eq!(coded(response).unwrap(), "gzip", "{textual}");
        }
        let png = ([(header::CONTENT_TYPE, "image/png")], "x".repeat(100)).into_response();
        assert_eq!(coded(png), None);
        let mut coded_already = json_response(100);
        coded_already
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(coded(coded_already).unwrap(), "br");
        let mut no_transform = json_response(100);
        no_transform.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-transform"),
        );
        assert_eq!(coded(no_transform), None);
        let mut tagged = json_response(100);
        tagged
            .headers_mut()
            .insert(header::ETAG, HeaderValue::from_static("\"abc\""));
        let tagged = gzip.respond(Some(Coding::Gzip), &Method::GET, tagged);
        assert_eq!(tagged.headers()[header::ETAG], "W/\"abc\"");
        assert_eq!(tagged.headers()[header::VARY], "accept-encoding");
        assert!(!tagged.headers().contains_key(header::CONTENT_LENGTH));
        let plain = gzip.respond(None, &Method::GET, json_response(100));
        assert_eq!(plain.headers()[header::VARY], "accept-encoding");
        assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
    }

    #[test]
    fn a_request_in_an_unknown_coding_is_415_naming_those_taken() {
        let request = |coding: &str| {
            http::Request::builder()
                .header(header::CONTENT_ENCODING, coding)
                .body(Body::from("{}"))
                .unwrap()
        };
        let refused = decode_request(&[Coding::Gzip], request("compress")).unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(refused.headers()[header::ACCEPT_ENCODING], "gzip");
        let refused = decode_request(&[], request("gzip")).unwrap_err();
        assert_eq!(refused.headers()[header::ACCEPT_ENCODING], "identity");
        let identity = decode_request(&[], request("identity")).unwrap();
        assert!(!identity.headers().contains_key(header::CONTENT_ENCODING));
    }
}
