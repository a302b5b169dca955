//! Rust names for proto names, exactly as prost-build spells them, so generated code can refer
//! to the message types prost generates.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Makes a Rust keyword usable as an identifier, the way prost-build does.
pub fn sanitize(ident: &str) -> String {
    match ident {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if"
        | "impl" | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref"
        | "return" | "static" | "struct" | "trait" | "true" | "type" | "unsafe" | "use"
        | "where" | "while" | "dyn" | "abstract" | "become" | "box" | "do" | "final" | "macro"
        | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async" | "await"
        | "try" | "gen" => format!("r#{ident}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_numeric()) => format!("_{ident}"),
        _ => ident.to_string(),
    }
}

/// A field or module name: `lower_snake`.
pub fn to_snake(name: &str) -> String {
    sanitize(&name.to_snake_case())
}

/// A type or variant name: `UpperCamel`.
pub fn to_upper_camel(name: &str) -> String {
    sanitize(&name.to_upper_camel_case())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prost() {
        assert_eq!(to_snake("GetBook"), "get_book");
        assert_eq!(to_snake("type"), "r#type");
        assert_eq!(to_snake("self"), "self_");
        assert_eq!(to_upper_camel("shelf_position"), "ShelfPosition");
        assert_eq!(to_upper_camel("Self"), "Self_");
    }
}
