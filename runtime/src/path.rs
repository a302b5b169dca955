//! Splitting the request path into segments for the generated matchers, and decoding the text
//! of path variables.

use std::borrow::Cow;

use super::error::Error;
use super::scalar::ScalarError;

/// Segments kept on the stack; longer paths (only `**` routes can match them) spill to the heap.
const INLINE: usize = 32;

/// The raw (still percent-encoded) segments of a request path, and the same segments with a
/// `:verb` split off the last one. Borrowed from the request: matching allocates nothing for
/// paths of up to 32 segments.
pub struct Segments<'a> {
    path: &'a str,
    inline: [&'a str; INLINE],
    spill: Vec<&'a str>,
    len: usize,
    verb: Option<&'a str>,
    /// `all()` with the last segment replaced by `stem`, built only when there is a verb.
    head_inline: [&'a str; INLINE],
    head_spill: Vec<&'a str>,
}

impl<'a> Segments<'a> {
    /// Splits `path`. `None` when no template can match it: it does not start with `/`, or has
    /// an empty segment (`//`, a trailing `/`).
    pub fn parse(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix('/')?;
        let mut s = Segments {
            path,
            inline: [""; INLINE],
            spill: Vec::new(),
            len: 0,
            verb: None,
            head_inline: [""; INLINE],
            head_spill: Vec::new(),
        };
        if !rest.is_empty() {
            for segment in rest.split('/') {
                if segment.is_empty() {
                    return None;
                }
                if s.len < INLINE {
                    s.inline[s.len] = segment;
                } else {
                    if s.spill.is_empty() {
                        s.spill.extend_from_slice(&s.inline);
                    }
                    s.spill.push(segment);
                }
                s.len += 1;
            }
        }
        let Some(&last) = s.all().last() else {
            return Some(s);
        };
        if let Some(colon) = last.rfind(':') {
            let (stem, verb) = (&last[..colon], &last[colon + 1..]);
            if !stem.is_empty() && !verb.is_empty() {
                s.verb = Some(verb);
                if s.spill.is_empty() {
                    s.head_inline = s.inline;
                    s.head_inline[s.len - 1] = stem;
                } else {
                    s.head_spill = s.spill.clone();
                    s.head_spill[s.len - 1] = stem;
                }
            }
        }
        Some(s)
    }

    /// The whole path as received.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// Every segment, the last one with its `:verb` if any.
    pub fn all(&self) -> &[&'a str] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }

    /// Every segment, the last one without its `:verb` (only meaningful when `verb()` is some).
    pub fn head(&self) -> &[&'a str] {
        if self.verb.is_none() {
            self.all()
        } else if self.head_spill.is_empty() {
            &self.head_inline[..self.len]
        } else {
            &self.head_spill
        }
    }

    /// The text after the last `:` of the last segment.
    pub fn verb(&self) -> Option<&'a str> {
        self.verb
    }

    /// The raw text of `all()[start..end]`, slashes included (`end` past the last segment means
    /// "to the end").
    pub fn span(&self, start: usize, end: usize) -> &'a str {
        self.span_of(self.all(), start, end)
    }

    /// The raw text of `head()[start..end]`.
    pub fn head_span(&self, start: usize, end: usize) -> &'a str {
        self.span_of(self.head(), start, end)
    }

    fn span_of(&self, segments: &[&'a str], start: usize, end: usize) -> &'a str {
        let end = end.min(segments.len());
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
