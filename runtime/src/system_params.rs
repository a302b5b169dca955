//! Google's system parameters: query parameters that are not fields of the request message but
//! choose how the reply is written. Google's own REST clients send them on every call
//! (`$alt=json;enum-encoding=int`), and streaming clients ask for Server-Sent Events with
//! `alt=sse`. They are taken off the query string before the binding reads it:
//!
//! - `$alt` (and `alt`, unless a binding of the API has a field of that name): `json` is the
//!   default; `sse` streams a server-streaming reply as Server-Sent Events, as
//!   `Accept: text/event-stream` does; `;enum-encoding=int` writes the reply's enums as numbers.
//!   Any other format (`proto`, `media`) is a 400: the proxy speaks JSON.

use http::request::Parts;
use http::{HeaderValue, Uri, header};

use super::error::{Error, quote};
use super::query;

/// The reply's enums are written as numbers (`enum-encoding=int`): kept in the request's
/// extensions, and moved to the upstream reply's for the function that writes it.
#[derive(Debug, Clone, Copy)]
pub struct EnumsAsNumbers;

/// Takes the system parameters off the request's query string and applies them to the request:
/// `alt=sse` as an `Accept: text/event-stream` header, `enum-encoding=int` as [`EnumsAsNumbers`].
/// `plain_alt` says whether `alt` without `$` is one (it is not when the API has such a field).
pub fn take(parts: &mut Parts, plain_alt: bool) -> Result<(), Error> {
    let Some(query) = parts.uri.query() else {
        return Ok(());
    };
    // The common case, no system parameter, costs one scan of the query string. (`alt` with
    // no `=` is one too: never a field, nor a key of a request's only map.)
    if !query.contains("alt") {
        return Ok(());
    }
    let mut kept = String::with_capacity(query.len());
    let mut alt = None;
    for pair in query.split('&') {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        let is_alt = name == "$alt" || name == "%24alt" || (plain_alt && name == "alt");
        if !is_alt {
            if !pair.is_empty() {
                if !kept.is_empty() {
                    kept.push('&');
                }
                kept.push_str(pair);
            }
            continue;
        }
        let (name, value) = query::pairs(pair).next().transpose()?.unwrap_or_default();
        if alt.replace(value.into_owned()).is_some() {
            return Err(Error::bad_request(format!(
                "query parameter `{name}` is given twice"
            )));
        }
    }
    let Some(alt) = alt else {
        return Ok(());
    };
    apply(parts, &alt)?;
    let path = parts.uri.path();
    let path_and_query = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{kept}")
    };
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    uri.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| Error::bad_request("the request target is not a valid URI"))?,
    );
    parts.uri = Uri::from_parts(uri)
        .map_err(|_| Error::bad_request("the request target is not a valid URI"))?;
    Ok(())
}

/// Applies one `alt` value: `json` or `sse`, then `;key=value` options.
fn apply(parts: &mut Parts, alt: &str) -> Result<(), Error> {
    let mut options = alt.split(';');
    match options.next().unwrap_or_default().trim() {
        "" | "json" => {}
        "sse" => {
            parts.headers.insert(
                header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            );
        }
        other => {
            return Err(Error::bad_request(format!(
                "system parameter `alt`: format {} is not served; use `json` or `sse`",
                quote(other)
            )));
        }
    }
    for option in options {
        match option.trim().split_once('=') {
            Some(("enum-encoding", "int")) => {
                parts.extensions.insert(EnumsAsNumbers);
            }
            Some(("enum-encoding", "string")) => {}
            _ => {
                return Err(Error::bad_request(format!(
                    "system parameter `alt`: unknown option {}; use `enum-encoding=int` or `enum-encoding=string`",
                    quote(option)
                )));
            }
        }
    }
    Ok(())
}
