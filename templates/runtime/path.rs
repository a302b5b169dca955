//! Splitting the request path into segments for the generated matchers, and decoding the text
//! of path variables.

use std::borrow::Cow;

use super::error::Error;
use super::scalar::ScalarError;

/// Paths with more segments than this match no route.
pub const MAX_SEGMENTS: usize = 64;

/// The raw (still percent-encoded) segments of a request path, and the same segments with a
/// `:verb` split off the last one. Borrowed from the request: matching allocates nothing.
pub struct Segments<'a> {
    path: &'a str,
    all: [&'a str; MAX_SEGMENTS],
    head: [&'a str; MAX_SEGMENTS],
    len: usize,
    verb: Option<&'a str>,
}

impl<'a> Segments<'a> {
    /// Splits `path`. `None` when no template can match it: it does not start with `/`, has an
    /// empty segment (`//`, a trailing `/`), or has too many segments.
    pub fn parse(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix('/')?;
        let mut all = [""; MAX_SEGMENTS];
        let mut len = 0;
        if !rest.is_empty() {
            for segment in rest.split('/') {
                if segment.is_empty() || len == MAX_SEGMENTS {
                    return None;
                }
                all[len] = segment;
                len += 1;
            }
        }
        let mut head = all;
        let mut verb = None;
        if len > 0 {
            let last = all[len - 1];
            if let Some(colon) = last.rfind(':') {
                let (stem, v) = (&last[..colon], &last[colon + 1..]);
                if !stem.is_empty() && !v.is_empty() {
                    head[len - 1] = stem;
                    verb = Some(v);
                }
            }
        }
        Some(Segments {
            path,
            all,
            head,
            len,
            verb,
        })
    }

    /// The whole path as received.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// Every segment, the last one with its `:verb` if any.
    pub fn all(&self) -> &[&'a str] {
        &self.all[..self.len]
    }

    /// Every segment, the last one without its `:verb`.
    pub fn head(&self) -> &[&'a str] {
        &self.head[..self.len]
    }

    /// The text after the last `:` of the last segment.
    pub fn verb(&self) -> Option<&'a str> {
        self.verb
    }

    /// The raw text of `all()[start..end]`, slashes included (`end` past the last segment means
    /// "to the end").
    pub fn span(&self, start: usize, end: usize) -> &'a str {
        self.span_of(&self.all, start, end)
    }

    /// The raw text of `head()[start..end]`.
    pub fn head_span(&self, start: usize, end: usize) -> &'a str {
        self.span_of(&self.head, start, end)
    }

    fn span_of(&self, segments: &[&'a str; MAX_SEGMENTS], start: usize, end: usize) -> &'a str {
        let end = end.min(self.len);
        if start >= end {
            return "";
        }
        let base = self.path.as_ptr() as usize;
        let from = segments[start].as_ptr() as usize - base;
        let last = segments[end - 1];
        let to = last.as_ptr() as usize - base + last.len();
        self.path.get(from..to).unwrap_or("")
    }
}

/// Decodes a single-segment variable completely and parses it as the field's type.
pub fn segment<T>(
    raw: &str,
    name: &str,
    parse: fn(&str) -> Result<T, ScalarError>,
) -> Result<T, Error> {
    let text = decode(raw, false, name)?;
    parse(&text).map_err(|e| Error::path_variable(name, &text, &e))
}

/// Decodes a multi-segment variable, keeping `%2F` encoded so a slash inside a segment stays
/// distinguishable from a separator, and parses it as the field's type.
pub fn multi_segment<T>(
    raw: &str,
    name: &str,
    parse: fn(&str) -> Result<T, ScalarError>,
) -> Result<T, Error> {
    let text = decode(raw, true, name)?;
    parse(&text).map_err(|e| Error::path_variable(name, &text, &e))
}

/// Strict percent-decoding of path text: a malformed escape or invalid UTF-8 is an error.
fn decode<'a>(raw: &'a str, keep_slash: bool, name: &str) -> Result<Cow<'a, str>, Error> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let decoded = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| Some(hex_value(hex[0])? << 4 | hex_value(hex[1])?));
            let Some(byte) = decoded else {
                return Err(Error::bad_request(format!(
                    "path variable `{name}`: malformed percent-encoding in {}",
                    super::error::quote(raw)
                )));
            };
            if keep_slash && byte == b'/' {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(byte);
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| {
        Error::bad_request(format!(
            "path variable `{name}`: percent-decoded value is not valid UTF-8: {}",
            super::error::quote(raw)
        ))
    })
}

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
