//! A small ordered JSON tree and its pretty printer: keys stay in the order the renderer chose,
//! whatever a map type's features would do, so the document is deterministic.

use crate::json_string::write_quoted;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// A number written as is (a float bound).
    Number(&'static str),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub(super) fn obj() -> Json {
        Json::Obj(Vec::new())
    }

    /// Sets `key` (replacing an earlier value in place, else appending).
    pub(super) fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        self.set(key, value);
        self
    }

    pub(super) fn set(&mut self, key: &str, value: impl Into<Json>) {
        if let Json::Obj(pairs) = self {
            let value = value.into();
            match pairs.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => pairs.push((key.to_string(), value)),
            }
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Int(n)
    }
}

impl From<Vec<Json>> for Json {
    fn from(items: Vec<Json>) -> Json {
        Json::Arr(items)
    }
}

pub(super) fn strings<S: AsRef<str>>(items: &[S]) -> Json {
    Json::Arr(items.iter().map(|s| Json::from(s.as_ref())).collect())
}

pub(super) fn write_json(value: &Json, depth: usize, out: &mut String) {
    let indent = |out: &mut String, depth: usize| {
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(n) => out.push_str(&n.to_string()),
        Json::Number(n) => out.push_str(n),
        Json::Str(s) => write_quoted(s, out),
        Json::Arr(items) if items.is_empty() => out.push_str("[]"),
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                indent(out, depth + 1);
                write_json(item, depth + 1, out);
            }
            out.push('\n');
            indent(out, depth);
            out.push(']');
        }
        Json::Obj(pairs) if pairs.is_empty() => out.push_str("{}"),
        Json::Obj(pairs) => {
            out.push('{');
            for (i, (key, item)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                indent(out, depth + 1);
                write_quoted(key, out);
                out.push_str(": ");
                write_json(item, depth + 1, out);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_print_in_insertion_order() {
        let tree = Json::obj()
            .with("b", 1)
            .with("a", Json::Arr(vec![Json::Int(-1), Json::Bool(true)]))
            .with("c", Json::obj())
            .with("b", 2);
        let mut out = String::new();
        write_json(&tree, 0, &mut out);
        assert_eq!(
            out,
            "{\n  \"b\": 2,\n  \"a\": [\n    -1,\n    true\n  ],\n  \"c\": {}\n}"
        );
    }
}
