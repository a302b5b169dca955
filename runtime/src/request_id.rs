//! Every request's id, `x-request-id`: the client's (or a proxy's in front) when it sends a
//! usable one, else one made here. It goes to the upstream with the request's other metadata
//! (through the same forward and drop lists), back to the client in the response, and into the
//! access log, so that one id joins the client's report, the proxy's log line and the
//! upstream's.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries the id, as Envoy and most gateways name it.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client id kept; a longer one is replaced (ids go into every log line).
pub const MAX_LEN: usize = 128;

/// The request's id: the first `x-request-id` when it is 1 to [`MAX_LEN`] printable ASCII
/// characters, else a new one, which then replaces the header's values.
pub fn take_or_make(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(X_REQUEST_ID).filter(|v| usable(v.as_bytes())) {
        return id.clone();
    }
    let id = make();
    headers.insert(X_REQUEST_ID, id.clone());
    id
}

fn usable(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(|b| (0x21..0x7f).contains(b))
}

/// 32 hex digits, unpredictable and distinct within the process: a counter and the time,
/// hashed with the standard library's randomly keyed SipHash (no random number crate needed).
fn make() -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let keys = std::collections::hash_map::RandomState::new();
    let half = |salt: u64| {
        let mut h = keys.build_hasher();
        h.write_u64(n);
        h.write_u64(nanos);
        h.write_u64(salt);
        h.finish()
    };
    let text = format!("{:016x}{:016x}", half(1), half(2));
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_client_id_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(take_or_make(&mut headers), "abc-123");
        assert_eq!(headers[X_REQUEST_ID], "abc-123");
    }

    #[test]
    fn a_missing_or_unusable_id_is_made_and_replaces_the_header() {
        for bad in ["", "a b", &"x".repeat(MAX_LEN + 1)] {
            let mut headers = HeaderMap::new();
            headers.insert(
                X_REQUEST_ID,
                HeaderValue::from_str(bad).expect("a header value"),
            );
            let id = take_or_make(&mut headers);
            assert_eq!(id.len(), 32, "{bad:?} → {id:?}");
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit), "{id:?}");
            assert_eq!(headers.get_all(X_REQUEST_ID).iter().count(), 1);
            assert_eq!(headers[X_REQUEST_ID], id);
        }
        let mut headers = HeaderMap::new();
        let id = take_or_make(&mut headers);
        assert_eq!(headers[X_REQUEST_ID], id);
    }

    #[test]
    fn made_ids_differ() {
        let ids: std::collections::BTreeSet<Vec<u8>> = (0..1000)
            .map(|_| take_or_make(&mut HeaderMap::new()).as_bytes().to_vec())
            .collect();
        assert_eq!(ids.len(), 1000);
    }
}
