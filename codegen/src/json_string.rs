//! JSON string escaping at generation time: the OpenAPI document's strings, and the field names
//! the generated JSON writer copies into every response as they are.

/// Appends the content of a JSON string for `s` (without the quotes): `"`, `\` and control
/// characters escaped, everything else as it is. The same escapes as the generated crate's
/// writer (`runtime::json`), so a name escaped here reads the same as one escaped there.
pub(crate) fn write_content(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn write_quoted(s: &str, out: &mut String) {
    out.push('"');
    write_content(s, out);
    out.push('"');
}

/// The content of a JSON string for `s`, without the quotes.
pub(crate) fn content(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    write_content(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        write_quoted("a\"b\\c\nd\u{1}é\u{8}\u{c}", &mut out);
        assert_eq!(out, r#""a\"b\\c\nd\u0001é\b\f""#);
        assert_eq!(content("createTimeMicros"), "createTimeMicros");
        assert_eq!(content("x\"y"), "x\\\"y");
    }
}
