//! Splits Rust source between top-level items, so that a large generated file can be parsed and
//! formatted in pieces: on several threads, and in memory that each piece reuses.
//!
//! prettyplease prints each top-level item from a fresh line at no indentation and ends it with
//! a forced line break, so the printed pieces joined are the printed whole. The pieces' items
//! joined are also the whole's: a split is only made between tokens at the top level, after a
//! `;` or `}` that ends an item and before a token that starts the next one, and a piece that
//! does not parse makes the caller format the whole file instead.

/// Words that start a top-level item (after its attributes and doc comments).
const ITEM_KEYWORDS: &[&[u8]] = &[
    b"pub", b"fn", b"impl", b"struct", b"enum", b"mod", b"use", b"const", b"static", b"type",
    b"trait", b"async", b"unsafe", b"extern",
];

/// Splits `source` into consecutive pieces of at least `target` bytes (the last may be
/// shorter), each ending after a top-level item. The pieces joined are `source`. Source this
/// scanner does not follow (unbalanced delimiters, an unterminated literal or comment) comes back
/// as one piece, which fails to parse as the whole would.
pub(crate) fn split_items(source: &str, target: usize) -> Vec<&str> {
    let bytes = source.as_bytes();
    let whole = vec![source];
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let next = bytes.get(i + 1).copied();
        let end_of_item = match byte {
            b'/' if next == Some(b'/') => {
                i = find(bytes, i, b"\n").unwrap_or(bytes.len());
                continue;
            }
            b'/' if next == Some(b'*') => {
                let Some(end) = block_comment_end(bytes, i) else {
                    return whole;
                };
                i = end;
                continue;
            }
            b'"' => {
                let Some(end) = string_end(bytes, i + 1) else {
                    return whole;
                };
                i = end;
                continue;
            }
            b'\'' => {
                i = quote_end(bytes, i);
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                false
            }
            b')' | b']' | b'}' => {
                let Some(outer) = depth.checked_sub(1) else {
                    return whole;
                };
                depth = outer;
                depth == 0 && byte == b'}'
            }
            b';' => depth == 0,
            _ if is_ident_byte(byte) => {
                let word_end = bytes[i..]
                    .iter()
                    .position(|&b| !is_ident_byte(b))
                    .map_or(bytes.len(), |n| i + n);
                let word = &bytes[i..word_end];
                i = word_end;
                // A raw string (`r"…"`, `br#"…"#`, `cr"…"`) or a raw identifier (`r#type`).
                if matches!(word, b"r" | b"br" | b"cr") {
                    let hashes = bytes[i..].iter().take_while(|&&b| b == b'#').count();
                    if bytes.get(i + hashes) == Some(&b'"') {
                        let mut closing = vec![b'"'];
                        closing.resize(hashes + 1, b'#');
                        let Some(end) = find(bytes, i + hashes + 1, &closing) else {
                            return whole;
                        };
                        i = end + closing.len();
                    }
                }
                continue;
            }
            _ => false,
        };
        i += 1;
        if end_of_item && i - start >= target && starts_item(&bytes[i..]) {
            pieces.push(&source[start..i]);
            start = i;
        }
    }
    if depth != 0 {
        return whole;
    }
    pieces.push(&source[start..]);
    pieces
}

/// Whether `rest`, after whitespace, starts an item: an attribute, a doc comment or a keyword.
fn starts_item(rest: &[u8]) -> bool {
    let rest = rest.trim_ascii_start();
    if rest.starts_with(b"#[") || (rest.starts_with(b"///") && !rest.starts_with(b"////")) {
        return true;
    }
    ITEM_KEYWORDS.iter().any(|keyword| {
        rest.starts_with(keyword) && !rest.get(keyword.len()).copied().is_some_and(is_ident_byte)
    })
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The index of the first `needle` in `bytes` at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| from + n)
}

/// Just past the (nestable) block comment opening at `open`.
fn block_comment_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Just past the closing quote of a string whose contents start at `from`.
fn string_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Just past a character literal opening at `quote`, or just past the quote of a lifetime or
/// label (whose name is then read as a word).
fn quote_end(bytes: &[u8], quote: usize) -> usize {
    let after = quote + 1;
    match bytes.get(after) {
        // An escape: `'\n'`, `'\''`, `'\u{7f}'`.
        Some(b'\\') => find(bytes, after + 2, b"'").map_or(bytes.len(), |end| end + 1),
        Some(&first) => {
            // One character, of as many bytes as its first byte says, then the closing quote.
            let width = match first {
                0xf0.. => 4,
                0xe0.. => 3,
                0xc0.. => 2,
                _ => 1,
            };
            if bytes.get(after + width) == Some(&b'\'') {
                after + width + 1
            } else {
                after
            }
        }
        None => after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_between_items() {
        let source = "//! Inner.\n#![allow(x)]\nuse a::{b, c};\nconst C: S = S {};\n\
                      /// Doc.\npub fn f() -> char { '}' }\nimpl T for S { fn g(&self) {} }\n\
                      // A comment.\nstruct U;\nstatic R: &str = r#\"}\"#;\nfn h<'a>(x: &'a u8) {}\n";
        let pieces = split_items(source, 0);
        assert_eq!(pieces.concat(), source);
        assert_eq!(
            pieces,
            [
                "//! Inner.\n#![allow(x)]\nuse a::{b, c};",
                "\nconst C: S = S {};",
                "\n/// Doc.\npub fn f() -> char { '}' }",
                "\nimpl T for S { fn g(&self) {} }\n// A comment.\nstruct U;",
                "\nstatic R: &str = r#\"}\"#;",
                "\nfn h<'a>(x: &'a u8) {}\n",
            ]
        );
    }

    #[test]
    fn pieces_are_at_least_the_target() {
        let source = "struct A;\nstruct B;\nstruct C;\nstruct D;\n";
        assert_eq!(
            split_items(source, 15),
            ["struct A;\nstruct B;", "\nstruct C;\nstruct D;\n"]
        );
        assert_eq!(split_items(source, 1000), [source]);
    }

    #[test]
    fn unfollowed_source_is_one_piece() {
        for source in [
            "fn f() {}}\nfn g() {}",
            "fn f() {}\nconst S: &str = \"",
            "/* fn f() {}",
        ] {
            assert_eq!(split_items(source, 0), [source]);
        }
    }
}
