//! Parser and validator for `google.api.http` path templates.
//!
//! Grammar (from `google/api/http.proto`):
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! Errors carry a byte offset and a fix-it hint so the generator can point
//! users at the exact spot in their `.proto` annotation.

use std::fmt;

/// A parsed path template; `Display` prints its canonical form, which parses
/// back to an equal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// The top-level segments, in path order (never empty).
    pub segments: Vec<Segment>,
    /// The custom verb after the final `:`, without the colon.
    pub verb: Option<String>,
}

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text exactly as written, percent-encoding kept, because the
    /// matcher compares it against the raw request path.
    Literal(String),
    /// `*`: exactly one path segment.
    Wildcard,
    /// `**`: zero or more path segments; only literals, `*`, variables of them and the verb may
    /// follow it.
    DeepWildcard,
    /// `{field.path=segments}`: binds the matched text to a request field.
    Variable(Variable),
}

/// A `{...}` variable binding part of the path to a request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The field path split on `.` (for example `["book", "name"]`).
    pub field_path: Vec<String>,
    /// The variable's own template; `{x}` is stored as `[Wildcard]`, the same
    /// as `{x=*}`, so equivalent spellings compare equal. Never contains a
    /// variable.
    pub segments: Vec<Segment>,
}

/// A flattened template element, so the matcher generator can walk one flat
/// list instead of recursing into variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flat {
    /// A literal segment.
    Literal(String),
    /// `*`.
    Wildcard,
    /// `**`.
    DeepWildcard,
    /// Start of the variable at this index in [`PathTemplate::variables`].
    VarStart(usize),
    /// End of the variable at this index in [`PathTemplate::variables`].
    VarEnd(usize),
}

/// Why a template was rejected, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset into the template (may equal its length for errors at the end).
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// One sentence on how to fix it.
    pub hint: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at column {}; {}",
            self.message,
            self.offset + 1,
            self.hint
        )
    }
}

impl std::error::Error for TemplateError {}

impl PathTemplate {
    /// All variables in template order; indices match [`Flat::VarStart`].
    #[must_use]
    pub fn variables(&self) -> Vec<&Variable> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Variable(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    /// The segments with each variable replaced by `VarStart`, its segments
    /// and `VarEnd`.
    #[must_use]
    pub fn flatten(&self) -> Vec<Flat> {
        let mut out = Vec::new();
        let mut index = 0;
        for segment in &self.segments {
            match segment {
                Segment::Variable(v) => {
                    out.push(Flat::VarStart(index));
                    // Variables never nest (the parser rejects it), so inner
                    // variables cannot occur in parsed templates.
                    out.extend(v.segments.iter().filter_map(flat_leaf));
                    out.push(Flat::VarEnd(index));
                    index += 1;
                }
                other => out.extend(flat_leaf(other)),
            }
        }
        out
    }
}

fn flat_leaf(segment: &Segment) -> Option<Flat> {
    match segment {
        Segment::Literal(s) => Some(Flat::Literal(s.clone())),
        Segment::Wildcard => Some(Flat::Wildcard),
        Segment::DeepWildcard => Some(Flat::DeepWildcard),
        Segment::Variable(_) => None,
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            write!(f, "/{segment}")?;
        }
        if let Some(verb) = &self.verb {
            write!(f, ":{verb}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Literal(s) => f.write_str(s),
            Segment::Wildcard => f.write_str("*"),
            Segment::DeepWildcard => f.write_str("**"),
            Segment::Variable(v) => {
                write!(f, "{{{}", v.field_path.join("."))?;
                // `{x=*}` is printed in its short form `{x}`.
                if v.segments != [Segment::Wildcard] {
                    f.write_str("=")?;
                    for (i, segment) in v.segments.iter().enumerate() {
                        if i > 0 {
                            f.write_str("/")?;
                        }
                        write!(f, "{segment}")?;
                    }
                }
                f.write_str("}")
            }
        }
    }
}

/// Parses and validates a path template such as
/// `/v1/{name=shelves/*/books/*}:move`.
///
/// # Errors
///
/// Returns the first grammar or validation error, with its byte offset and a
/// hint on how to fix it.
pub fn parse(template: &str) -> Result<PathTemplate, TemplateError> {
    if template.is_empty() {
        return Err(error(
            0,
            "template is empty",
            "write a path starting with \"/\", e.g. \"/v1/books\"",
        ));
    }
    if !template.starts_with('/') {
        return Err(error(
            0,
            "template must start with \"/\"",
            "prefix the path with \"/\", e.g. \"/v1/books\"",
        ));
    }
    let mut parser = Parser {
        src: template,
        bytes: template.as_bytes(),
        pos: 1,
        deep: false,
        fields: Vec::new(),
    };
    if matches!(parser.peek(), None | Some(b':')) {
        return Err(error(
            1,
            "template has no segments",
            "add at least one segment after \"/\", e.g. \"/v1\"",
        ));
    }
    let segments = parser.segments(None)?;
    let verb = match parser.peek() {
        Some(b':') => Some(parser.verb()?),
        _ => None,
    };
    Ok(PathTemplate { segments, verb })
}

fn error(offset: usize, message: impl Into<String>, hint: impl Into<String>) -> TemplateError {
    TemplateError {
        offset,
        message: message.into(),
        hint: hint.into(),
    }
}

/// Bytes allowed in a LITERAL besides `%XX`: RFC 3986 unreserved, the
/// sub-delims except `*` (the wildcard), and `@`.
fn is_literal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()+,;=@".contains(&b)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Recursive-descent state. `pos` only ever advances over ASCII bytes, so it
/// is always a char boundary of `src`.
struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Whether a `**` was seen; only literals, `*`, variables of them and the verb may follow it.
    deep: bool,
    /// Field paths already bound, to reject binding one twice.
    fields: Vec<Vec<String>>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    /// The (possibly non-ASCII) character at `offset`, for messages.
    fn char_at(&self, offset: usize) -> char {
        self.src
            .get(offset..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or('\u{FFFD}')
    }

    /// Parses `Segment { "/" Segment }`. `var` is the offset of the enclosing
    /// `{`, if inside a variable; there the list must end at `}`, at top level
    /// at the end of input or the verb's `:`.
    fn segments(&mut self, var: Option<usize>) -> Result<Vec<Segment>, TemplateError> {
        let mut segments = Vec::new();
        loop {
            let segment = self.segment(var)?;
            let is_literal = matches!(segment, Segment::Literal(_));
            let is_variable = matches!(segment, Segment::Variable(_));
            segments.push(segment);
            let at = self.pos;
            match (self.peek(), var) {
                (Some(b'/'), _) => self.pos += 1,
                (None, None) | (Some(b':'), None) | (Some(b'}'), Some(_)) => return Ok(segments),
                (None, Some(open)) => return Err(unclosed(open)),
                (Some(b':'), Some(_)) => return Err(colon_in_variable(at)),
                (Some(b'}'), None) => return Err(stray_close(at)),
                (Some(b'{'), Some(_)) => return Err(nested_variable(at)),
                (Some(b'*'), _) if is_literal => {
                    return Err(error(
                        at,
                        "\"*\" must be a whole segment",
                        "put the wildcard alone between \"/\" separators, e.g. \"/a/*\"",
                    ));
                }
                (Some(b'{'), None) if is_literal => return Err(partial_variable(at)),
                (Some(_), _) if is_literal => return Err(self.invalid_char(at, "literal")),
                (Some(_), _) if is_variable => return Err(partial_variable(at)),
                (Some(_), _) => {
                    return Err(error(
                        at,
                        "wildcard must be a whole segment",
                        "use \"*\" or \"**\" alone between \"/\" separators, e.g. \"/a/*/b\"",
                    ));
                }
            }
        }
    }

    /// Parses one segment; called at the start of the template body, after a
    /// `/`, or after a variable's `=`.
    fn segment(&mut self, var: Option<usize>) -> Result<Segment, TemplateError> {
        let at = self.pos;
        // After `**` literals, `*` and variables of them may follow
        // (`{name=projects/*/schemas/**}/schema`, `{name=**/botSessions/*}`, Firestore's
        // `{parent=projects/*/databases/*/documents/*/**}/{collection_id}`, which Envoy and
        // ESP route): each matches a fixed number of segments at the end of the path, so where
        // every capture ends is certain. A second `**` would make it a guess.
        if self.deep && self.starts_with("**") {
            return Err(error(
                at,
                "\"**\" may appear only once",
                "keep a single \"**\"; only literal segments, \"*\", variables of them and the verb may follow it",
            ));
        }
        match (self.peek(), var) {
            (None, Some(open)) => Err(unclosed(open)),
            (None, None) => Err(error(
                at,
                "trailing \"/\" leaves an empty segment",
                "remove the trailing \"/\"",
            )),
            (Some(b'/'), _) => Err(error(
                at,
                "empty segment (\"//\")",
                "remove the duplicated \"/\"",
            )),
            (Some(b':'), None) => Err(error(
                at,
                "empty segment before the verb",
                "remove the \"/\" before \":\"",
            )),
            (Some(b':'), Some(_)) => Err(colon_in_variable(at)),
            (Some(b'}'), None) => Err(stray_close(at)),
            (Some(b'}'), Some(_)) if self.bytes.get(at.wrapping_sub(1)) == Some(&b'=') => {
                Err(error(
                    at,
                    "empty variable template after \"=\"",
                    "write a template such as \"{name=books/*}\" or drop the \"=\"",
                ))
            }
            (Some(b'}'), Some(_)) => Err(error(
                at,
                "trailing \"/\" in variable template",
                "remove the \"/\" before \"}\"",
            )),
            (Some(b'{'), Some(_)) => Err(nested_variable(at)),
            (Some(b'{'), None) => self.variable().map(Segment::Variable),
            (Some(b'*'), _) => {
                if self.starts_with("**") {
                    self.pos += 2;
                    self.deep = true;
                    Ok(Segment::DeepWildcard)
                } else {
                    self.pos += 1;
                    Ok(Segment::Wildcard)
                }
            }
            (Some(_), _) => {
                self.scan_literal()?;
                if self.pos == at {
                    return Err(self.invalid_char(at, "literal"));
                }
                Ok(Segment::Literal(self.src[at..self.pos].to_owned()))
            }
        }
    }

    /// Advances over LITERAL characters, validating `%XX` escapes.
    fn scan_literal(&mut self) -> Result<(), TemplateError> {
        while let Some(b) = self.peek() {
            if b == b'%' {
                let hex = |i: usize| {
                    self.bytes
                        .get(self.pos + i)
                        .is_some_and(u8::is_ascii_hexdigit)
                };
                if !(hex(1) && hex(2)) {
                    return Err(error(
                        self.pos,
                        "invalid percent-encoding",
                        "follow \"%\" with two hex digits, e.g. \"%2F\", and write \"%25\" for a literal \"%\"",
                    ));
                }
                self.pos += 3;
            } else if is_literal_byte(b) {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Parses `"{" FieldPath [ "=" Segments ] "}"` with `pos` at the `{`.
    fn variable(&mut self) -> Result<Variable, TemplateError> {
        let open = self.pos;
        self.pos += 1;
        let path_start = self.pos;
        let field_path = self.field_path(open)?;
        if self.fields.contains(&field_path) {
            return Err(error(
                path_start,
                format!("field \"{}\" is bound twice", field_path.join(".")),
                "bind each field in only one variable",
            ));
        }
        self.fields.push(field_path.clone());
        let segments = match self.peek() {
            Some(b'}') => vec![Segment::Wildcard],
            Some(b'=') => {
                self.pos += 1;
                self.segments(Some(open))?
            }
            None => return Err(unclosed(open)),
            Some(_) => {
                let c = self.char_at(self.pos);
                return Err(error(
                    self.pos,
                    format!("expected \".\", \"=\" or \"}}\" after field name, found {c:?}"),
                    "field names hold only letters, digits and \"_\"; use \"=\" for a template, e.g. \"{name=books/*}\"",
                ));
            }
        };
        // Both arms above stop at the closing `}`.
        self.pos += 1;
        Ok(Variable {
            field_path,
            segments,
        })
    }

    /// Parses `IDENT { "." IDENT }`.
    fn field_path(&mut self, open: usize) -> Result<Vec<String>, TemplateError> {
        let mut path = Vec::new();
        loop {
            let start = self.pos;
            match self.peek() {
                None => return Err(unclosed(open)),
                Some(b) if is_ident_start(b) => {}
                Some(b'}' | b'=') if path.is_empty() => {
                    return Err(error(
                        start,
                        "variable has no field path",
                        "name the request field to bind, e.g. \"{name}\"",
                    ));
                }
                Some(_) => {
                    let c = self.char_at(start);
                    return Err(error(
                        start,
                        format!("expected a field name, found {c:?}"),
                        "field names start with a letter or \"_\" and are joined by single dots, e.g. \"{book.id}\"",
                    ));
                }
            }
            while self.peek().is_some_and(is_ident_byte) {
                self.pos += 1;
            }
            path.push(self.src[start..self.pos].to_owned());
            if self.peek() == Some(b'.') {
                self.pos += 1;
            } else {
                return Ok(path);
            }
        }
    }

    /// Parses `":" LITERAL` with `pos` at the `:`; it must end the template.
    fn verb(&mut self) -> Result<String, TemplateError> {
        let colon = self.pos;
        self.pos += 1;
        let start = self.pos;
        self.scan_literal()?;
        let at = self.pos;
        match self.peek() {
            None if at == start => Err(error(
                colon,
                "empty verb after \":\"",
                "write a verb after \":\", e.g. \":cancel\", or remove the \":\"",
            )),
            None => Ok(self.src[start..at].to_owned()),
            Some(b'/') => Err(error(
                colon,
                "\":\" is only allowed before the final verb",
                "move the verb to the end of the template, or write a literal colon as \"%3A\"",
            )),
            Some(b':') => Err(error(
                at,
                "a template may have only one verb",
                "write a literal colon in the verb as \"%3A\"",
            )),
            Some(b'*' | b'{' | b'}') => {
                let c = self.char_at(at);
                Err(error(
                    at,
                    format!("verb must be a plain literal, found {c:?}"),
                    "remove wildcards and variables from the verb",
                ))
            }
            Some(_) => Err(self.invalid_char(at, "verb")),
        }
    }

    fn invalid_char(&self, at: usize, place: &str) -> TemplateError {
        let c = self.char_at(at);
        let mut buf = [0; 4];
        let encoded: String = c
            .encode_utf8(&mut buf)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        let hint = match c {
            '?' | '#' => format!(
                "query strings and fragments are not part of a path template; remove it or write it as \"{encoded}\""
            ),
            _ => format!("percent-encode it as \"{encoded}\" or remove it"),
        };
        error(at, format!("invalid character {c:?} in {place}"), hint)
    }
}

fn unclosed(open: usize) -> TemplateError {
    error(
        open,
        "unclosed \"{\"",
        "close the variable with \"}\", e.g. \"{name}\"",
    )
}

fn stray_close(at: usize) -> TemplateError {
    error(
        at,
        "unmatched \"}\"",
        "remove it or open the variable with \"{\"",
    )
}

fn nested_variable(at: usize) -> TemplateError {
    error(
        at,
        "variables cannot be nested",
        "use only literals, \"*\" and \"**\" inside a variable, e.g. \"{name=shelves/*}\"",
    )
}

fn partial_variable(at: usize) -> TemplateError {
    error(
        at,
        "variable must be a whole segment",
        "put the variable alone between \"/\" separators, e.g. \"/a/{name}\"",
    )
}

fn colon_in_variable(at: usize) -> TemplateError {
    error(
        at,
        "\":\" is not allowed inside a variable",
        "put the verb after the closing \"}\", e.g. \"{name=**}:undelete\"",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{DeepWildcard as DW, Wildcard as W};

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.to_owned())
    }

    fn var(path: &str, segments: Vec<Segment>) -> Segment {
        Segment::Variable(Variable {
            field_path: path.split('.').map(str::to_owned).collect(),
            segments,
        })
    }

    fn tpl(segments: Vec<Segment>, verb: Option<&str>) -> PathTemplate {
        PathTemplate {
            segments,
            verb: verb.map(str::to_owned),
        }
    }

    #[test]
    fn accepts_grammar() {
        let cases: Vec<(&str, PathTemplate)> = vec![
            ("/v1", tpl(vec![lit("v1")], None)),
            (
                "/v1/books:batchGet",
                tpl(vec![lit("v1"), lit("books")], Some("batchGet")),
            ),
            (
                "/v1/{name=shelves/*/books/*}:move",
                tpl(
                    vec![
                        lit("v1"),
                        var("name", vec![lit("shelves"), W, lit("books"), W]),
                    ],
                    Some("move"),
                ),
            ),
            (
                "/v1/{a.b.c}",
                tpl(vec![lit("v1"), var("a.b.c", vec![W])], None),
            ),
            ("/v1/*/x", tpl(vec![lit("v1"), W, lit("x")], None)),
            ("/v1/**", tpl(vec![lit("v1"), DW], None)),
            ("/v1/{p=**}", tpl(vec![lit("v1"), var("p", vec![DW])], None)),
            (
                "/v1/{p=a/**}:v",
                tpl(vec![lit("v1"), var("p", vec![lit("a"), DW])], Some("v")),
            ),
            (
                "/v1/{x}/{y}",
                tpl(vec![lit("v1"), var("x", vec![W]), var("y", vec![W])], None),
            ),
            ("/v1/{x=*}", tpl(vec![lit("v1"), var("x", vec![W])], None)),
            (
                "/v1/{name=**}:undelete",
                tpl(vec![lit("v1"), var("name", vec![DW])], Some("undelete")),
            ),
            ("/v1/*:cancel", tpl(vec![lit("v1"), W], Some("cancel"))),
            ("/**:v", tpl(vec![DW], Some("v"))),
            ("/*", tpl(vec![W], None)),
            ("/**/a", tpl(vec![DW, lit("a")], None)),
            ("/**/*", tpl(vec![DW, W], None)),
            (
                "/v1test2/{name=**/botSessions/*}",
                tpl(
                    vec![lit("v1test2"), var("name", vec![DW, lit("botSessions"), W])],
                    None,
                ),
            ),
            (
                "/v1/{name=projects/*/schemas/**}/schema:get",
                tpl(
                    vec![
                        lit("v1"),
                        var("name", vec![lit("projects"), W, lit("schemas"), DW]),
                        lit("schema"),
                    ],
                    Some("get"),
                ),
            ),
            (
                "/{p=a/**/b}",
                tpl(vec![var("p", vec![lit("a"), DW, lit("b")])], None),
            ),
            (
                "/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}",
                tpl(
                    vec![
                        lit("v1"),
                        var(
                            "parent",
                            vec![
                                lit("projects"),
                                W,
                                lit("databases"),
                                W,
                                lit("documents"),
                                W,
                                DW,
                            ],
                        ),
                        var("collection_id", vec![W]),
                    ],
                    None,
                ),
            ),
            ("/**/{x}", tpl(vec![DW, var("x", vec![W])], None)),
            ("/a%2Fb/%7e", tpl(vec![lit("a%2Fb"), lit("%7e")], None)),
            ("/%41%42:do%20it", tpl(vec![lit("%41%42")], Some("do%20it"))),
            (
                "/a-._~!$&'()+,;=@z",
                tpl(vec![lit("a-._~!$&'()+,;=@z")], None),
            ),
            ("/{_x.Y_1}", tpl(vec![var("_x.Y_1", vec![W])], None)),
            ("/{x=a=b}", tpl(vec![var("x", vec![lit("a=b")])], None)),
            (
                "/{a}/{a.b}",
                tpl(vec![var("a", vec![W]), var("a.b", vec![W])], None),
            ),
            (
                "/v1/{parent=projects/*}/items/{id=*}:get",
                tpl(
                    vec![
                        lit("v1"),
                        var("parent", vec![lit("projects"), W]),
                        lit("items"),
                        var("id", vec![W]),
                    ],
                    Some("get"),
                ),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_with_offsets() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "template is empty"),
            ("v1/books", 0, "template must start with \"/\""),
            ("{x}", 0, "template must start with \"/\""),
            ("/", 1, "template has no segments"),
            ("/:verb", 1, "template has no segments"),
            ("//", 1, "empty segment (\"//\")"),
            ("/a//b", 3, "empty segment (\"//\")"),
            ("/a/", 3, "trailing \"/\" leaves an empty segment"),
            ("/a/:v", 3, "empty segment before the verb"),
            ("/a b", 2, "invalid character ' ' in literal"),
            ("/a?x=1", 2, "invalid character '?' in literal"),
            ("/a#f", 2, "invalid character '#' in literal"),
            ("/a[0]", 2, "invalid character '[' in literal"),
            ("/a]", 2, "invalid character ']' in literal"),
            ("/é", 1, "invalid character 'é' in literal"),
            ("/ab\"", 3, "invalid character '\"' in literal"),
            ("/a\\b", 2, "invalid character '\\\\' in literal"),
            ("/a%2", 2, "invalid percent-encoding"),
            ("/a%", 2, "invalid percent-encoding"),
            ("/a%G0", 2, "invalid percent-encoding"),
            ("/a%0g", 2, "invalid percent-encoding"),
            ("/v:a%zz", 4, "invalid percent-encoding"),
            ("/a*", 2, "\"*\" must be a whole segment"),
            ("/*a", 2, "wildcard must be a whole segment"),
            ("/***", 3, "wildcard must be a whole segment"),
            ("/**a", 3, "wildcard must be a whole segment"),
            ("/*{x}", 2, "wildcard must be a whole segment"),
            ("/{x=a*}", 5, "\"*\" must be a whole segment"),
            ("/**/**", 4, "\"**\" may appear only once"),
            ("/{p=**}/a/**", 10, "\"**\" may appear only once"),
            ("/{p=**}/{q=**}", 11, "\"**\" may appear only once"),
            ("/{p=**}/{q=a/**}", 13, "\"**\" may appear only once"),
            ("/**/", 4, "trailing \"/\" leaves an empty segment"),
            ("/a{x}", 2, "variable must be a whole segment"),
            ("/{x}a", 4, "variable must be a whole segment"),
            ("/{x}{y}", 4, "variable must be a whole segment"),
            ("/{}", 2, "variable has no field path"),
            ("/{=a}", 2, "variable has no field path"),
            ("/{1a}", 2, "expected a field name, found '1'"),
            ("/{a..b}", 4, "expected a field name, found '.'"),
            ("/{a.}", 4, "expected a field name, found '}'"),
            ("/{.a}", 2, "expected a field name, found '.'"),
            (
                "/{a-b}",
                3,
                "expected \".\", \"=\" or \"}\" after field name, found '-'",
            ),
            (
                "/{a/b}",
                3,
                "expected \".\", \"=\" or \"}\" after field name, found '/'",
            ),
            (
                "/{a:b}",
                3,
                "expected \".\", \"=\" or \"}\" after field name, found ':'",
            ),
            ("/{a", 1, "unclosed \"{\""),
            ("/{", 1, "unclosed \"{\""),
            ("/{a.", 1, "unclosed \"{\""),
            ("/{a=", 1, "unclosed \"{\""),
            ("/{a=b", 1, "unclosed \"{\""),
            ("/x/{a=b/*", 3, "unclosed \"{\""),
            ("/{a=b/", 1, "unclosed \"{\""),
            ("/}", 1, "unmatched \"}\""),
            ("/a}", 2, "unmatched \"}\""),
            ("/*}", 2, "unmatched \"}\""),
            ("/{a}}", 4, "unmatched \"}\""),
            ("/{a}/}", 5, "unmatched \"}\""),
            ("/{a={b}}", 4, "variables cannot be nested"),
            ("/{a=x/{b}}", 6, "variables cannot be nested"),
            ("/{a=x{b}}", 5, "variables cannot be nested"),
            ("/{a=}", 4, "empty variable template after \"=\""),
            ("/{a=b/}", 6, "trailing \"/\" in variable template"),
            ("/{a=b//c}", 6, "empty segment (\"//\")"),
            ("/{a=b:c}", 5, "\":\" is not allowed inside a variable"),
            ("/{a=:c}", 4, "\":\" is not allowed inside a variable"),
            ("/{a=*:c}", 5, "\":\" is not allowed inside a variable"),
            ("/{a}/{a}", 6, "field \"a\" is bound twice"),
            ("/{a.b}/x/{a.b=**}", 10, "field \"a.b\" is bound twice"),
            ("/a:", 2, "empty verb after \":\""),
            ("/{a}:", 4, "empty verb after \":\""),
            ("/a:b/c", 2, "\":\" is only allowed before the final verb"),
            ("/a:/c", 2, "\":\" is only allowed before the final verb"),
            ("/{a}:b/c", 4, "\":\" is only allowed before the final verb"),
            ("/a:b:c", 4, "a template may have only one verb"),
            ("/a::", 3, "a template may have only one verb"),
            ("/a:b c", 4, "invalid character ' ' in verb"),
            ("/a:*", 3, "verb must be a plain literal, found '*'"),
            ("/a:{x}", 3, "verb must be a plain literal, found '{'"),
            ("/a:b}", 4, "verb must be a plain literal, found '}'"),
        ];
        for &(input, offset, message) in cases {
            let err = match parse(input) {
                Ok(t) => panic!("{input:?} should be rejected, got {t:?}"),
                Err(e) => e,
            };
            assert_eq!(
                (err.offset, err.message.as_str()),
                (offset, message),
                "{input:?}"
            );
            assert!(
                !err.hint.is_empty() && !err.hint.ends_with('.'),
                "{input:?}: hint should be one sentence: {:?}",
                err.hint
            );
        }
    }

    #[test]
    fn error_display() {
        let err = parse("/a b").err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some(
                "invalid character ' ' in literal at column 3; percent-encode it as \"%20\" or remove it"
            )
        );
        let err = parse("/é").err().map(|e| e.hint);
        assert_eq!(
            err.as_deref(),
            Some("percent-encode it as \"%C3%A9\" or remove it")
        );
        let boxed: Box<dyn std::error::Error> = Box::new(error(0, "m", "h"));
        assert_eq!(boxed.to_string(), "m at column 1; h");
    }

    #[test]
    fn display_round_trip() {
        let cases = [
            ("/v1", "/v1"),
            ("/v1/books:batchGet", "/v1/books:batchGet"),
            (
                "/v1/{name=shelves/*/books/*}:move",
                "/v1/{name=shelves/*/books/*}:move",
            ),
            ("/v1/{a.b.c}", "/v1/{a.b.c}"),
            ("/v1/{a.b.c=*}", "/v1/{a.b.c}"),
            ("/v1/*/x", "/v1/*/x"),
            ("/v1/**", "/v1/**"),
            ("/v1/{p=**}", "/v1/{p=**}"),
            ("/v1/{p=a/**}:v", "/v1/{p=a/**}:v"),
            ("/v1/{x}/{y=*}", "/v1/{x}/{y}"),
            ("/a%2fb:x%3A", "/a%2fb:x%3A"),
            ("/{x=a=b}", "/{x=a=b}"),
        ];
        for (input, canonical) in cases {
            let t = parse(input).map_err(|e| e.to_string());
            let shown = t.as_ref().map(ToString::to_string);
            assert_eq!(shown.as_deref(), Ok(canonical), "{input}");
            assert_eq!(parse(canonical).map_err(|e| e.to_string()), t, "{input}");
        }
        assert_eq!(var("a.b", vec![lit("x"), W]).to_string(), "{a.b=x/*}");
        assert_eq!(var("a", vec![W]).to_string(), "{a}");
    }

    #[test]
    fn variables_and_flatten() {
        let t = parse("/v1/{parent=shelves/*}/books/{id}/{rest=**}:get");
        let t = match t {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let names: Vec<String> = t
            .variables()
            .iter()
            .map(|v| v.field_path.join("."))
            .collect();
        assert_eq!(names, ["parent", "id", "rest"]);
        assert_eq!(
            t.flatten(),
            vec![
                Flat::Literal("v1".into()),
                Flat::VarStart(0),
                Flat::Literal("shelves".into()),
                Flat::Wildcard,
                Flat::VarEnd(0),
                Flat::Literal("books".into()),
                Flat::VarStart(1),
                Flat::Wildcard,
                Flat::VarEnd(1),
                Flat::VarStart(2),
                Flat::DeepWildcard,
                Flat::VarEnd(2),
            ]
        );
        let plain = parse("/a/*/**").map(|t| (t.variables().len(), t.flatten()));
        assert_eq!(
            plain,
            Ok((
                0,
                vec![
                    Flat::Literal("a".into()),
                    Flat::Wildcard,
                    Flat::DeepWildcard
                ]
            ))
        );
    }

    /// Deterministic xorshift64 so fuzz failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    fn check_accepted(input: &str, t: &PathTemplate) {
        let shown = t.to_string();
        assert_eq!(shown, input.replace("=*}", "}"), "{input:?}");
        assert_eq!(parse(&shown).as_ref(), Ok(t), "{input:?}");
        let vars = t.variables().len();
        let flat = t.flatten();
        let starts = flat
            .iter()
            .filter(|f| matches!(f, Flat::VarStart(_)))
            .count();
        assert_eq!(starts, vars, "{input:?}");
    }

    #[test]
    fn fuzz_token_soup() {
        const TOKENS: &[&str] = &[
            "/", "/", "/", "*", "**", "{", "}", "=", ".", ":", "a", "b", "v1", "x_1", "%2F", "%",
            "%g", "4", "-", "~", "@", " ", "?", "é", "{a}", "{b=", "}/", "\u{0}",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut s = String::new();
            if rng.below(10) != 0 {
                s.push('/');
            }
            for _ in 0..rng.below(12) {
                s.push_str(rng.pick(TOKENS));
            }
            match parse(&s) {
                Ok(t) => {
                    accepted += 1;
                    check_accepted(&s, &t);
                }
                Err(e) => {
                    assert!(e.offset <= s.len(), "{s:?}: {e}");
                    assert!(s.is_char_boundary(e.offset), "{s:?}: {e}");
                    assert!(!e.message.is_empty() && !e.hint.is_empty(), "{s:?}");
                }
            }
        }
        assert!(accepted > 100, "fuzz accepted only {accepted} templates");
    }

    #[test]
    fn fuzz_grammar_generated() {
        const LITS: &[&str] = &["v1", "a", "books", "%2F", "x-y", "~", "a=b", "@", "q%20r"];
        const IDENTS: &[&str] = &["a", "b", "name", "_x", "id2"];
        let mut rng = Rng(42);
        for _ in 0..5_000 {
            let mut s = String::new();
            let mut used = Vec::new();
            let n = 1 + rng.below(5);
            let mut deep = false;
            for i in 0..n {
                if deep {
                    break;
                }
                let last = i + 1 == n;
                s.push('/');
                match rng.below(5) {
                    0 => s.push('*'),
                    1 if last => {
                        s.push_str("**");
                        deep = true;
                    }
                    2 => {
                        let path: Vec<&str> =
                            (0..1 + rng.below(3)).map(|_| rng.pick(IDENTS)).collect();
                        let path = path.join(".");
                        if used.contains(&path) {
                            s.push('*');
                            continue;
                        }
                        s.push('{');
                        s.push_str(&path);
                        used.push(path);
                        if rng.below(3) != 0 {
                            s.push('=');
                            let m = 1 + rng.below(3);
                            for j in 0..m {
                                if j > 0 {
                                    s.push('/');
                                }
                                match rng.below(3) {
                                    0 if last && j + 1 == m => {
                                        s.push_str("**");
                                        deep = true;
                                    }
                                    0 | 1 => s.push('*'),
                                    _ => s.push_str(rng.pick(LITS)),
                                }
                            }
                        }
                        s.push('}');
                    }
                    _ => s.push_str(rng.pick(LITS)),
                }
            }
            if rng.below(3) == 0 {
                s.push(':');
                s.push_str(rng.pick(LITS));
            }
            match parse(&s) {
                Ok(t) => check_accepted(&s, &t),
                Err(e) => panic!("{s:?} should parse: {e}"),
            }
        }
    }
}
