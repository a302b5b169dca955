//! Query-string decoding for the generated per-binding query functions. Names are matched by
//! generated `match` arms, never looked up at run time.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::error::{Error, quote};
use super::scalar::ScalarError;

/// The decoded `(name, value)` pairs of a query string, in order. `+` is a space here (never in
/// paths); a malformed escape or invalid UTF-8 is an error naming the parameter.
pub fn pairs(query: &str) -> impl Iterator<Item = Result<(Cow<'_, str>, Cow<'_, str>), Error>> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name).ok_or_else(|| {
            Error::bad_request(format!(
                "query parameter name {} is not valid percent-encoded UTF-8",
                quote(name)
            ))
        })?;
        let value = decode(value).ok_or_else(|| {
            Error::bad_request(format!(
                "query parameter `{name}`: value {} is not valid percent-encoded UTF-8",
                quote(value)
            ))
        })?;
        Ok((name, value))
    })
}

fn decode(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains(['%', '+']) {
        return Some(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(super::path::hex_value(hex[0])? << 4 | super::path::hex_value(hex[1])?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Parses a parameter's value as its field's type.
pub fn value<T>(
    name: &str,
    value: &str,
    parse: fn(&str) -> Result<T, ScalarError>,
) -> Result<T, Error> {
    parse(value).map_err(|e| Error::query_parameter(name, value, &e))
}

/// Tracks which singular parameters were given, to reject a second value.
#[derive(Default)]
pub struct Seen {
    bits: u128,
    more: Vec<usize>,
}

impl Seen {
    /// Records parameter `index`; an error if it was given before.
    pub fn once(&mut self, index: usize, name: &str) -> Result<(), Error> {
        let repeated = if index < 128 {
            let bit = 1u128 << index;
            let was = self.bits & bit != 0;
            self.bits |= bit;
            was
        } else if self.more.contains(&index) {
            true
        } else {
            self.more.push(index);
            false
        };
        if repeated {
            return Err(Error::bad_request(format!(
                "query parameter `{name}` is given more than once, but its field is not repeated"
            )));
        }
        Ok(())
    }
}

/// Splits a map parameter `labels[key]` into `("labels", "key")`.
pub fn map_entry(name: &str) -> Option<(&str, &str)> {
    let open = name.find('[')?;
    let key = name[open + 1..].strip_suffix(']')?;
    Some((&name[..open], key))
}

/// Adds a map entry from the query, refusing the same key twice.
pub fn insert<K: Ord, V>(
    map: &mut BTreeMap<K, V>,
    key: K,
    value: V,
    name: &str,
) -> Result<(), Error> {
    if map.insert(key, value).is_some() {
        return Err(Error::bad_request(format!(
            "query parameter `{name}` is given more than once"
        )));
    }
    Ok(())
}

/// The query string of a binding whose request message has no field left for it: every
/// parameter is unknown.
pub fn none(query: &str, ignore_unknown: bool) -> Result<(), Error> {
    for pair in pairs(query) {
        let (name, _) = pair?;
        unknown(&name, ignore_unknown)?;
    }
    Ok(())
}

/// A parameter no field takes (unknown, or bound by the path or body): an error unless the
/// proxy is configured to ignore unknown parameters.
pub fn unknown(name: &str, ignore: bool) -> Result<(), Error> {
    if ignore {
        return Ok(());
    }
    Err(Error::bad_request(format!(
        "unknown query parameter `{name}`: the request message has no such field, or the path or body already sets it"
    )))
}
