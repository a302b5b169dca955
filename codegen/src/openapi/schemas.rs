//! Component and inline schemas: the proto3 JSON mapping of messages, enums, fields and
//! well-known types, exactly as the proxy writes and reads them.

use std::collections::BTreeSet;

use super::json::{Json, strings};
use super::{ANY, Doc, docs_text, join_paragraphs};
use crate::model::{Enum, Field, Item, Shape};

/// Protobuf Duration in JSON: seconds with up to nine fractional digits and an `s`. At most
/// eleven digits of seconds (3,000 years) keep it within the type's range of ±10,000 years.
const DURATION_PATTERN: &str = r"^-?[0-9]{1,11}(\.[0-9]{1,9})?s$";
/// A 64-bit integer as the proxy writes it (and reads it in JSON: no leading zeros).
const INT64_PATTERN: &str = "^-?(0|[1-9][0-9]*)$";
const UINT64_PATTERN: &str = "^(0|[1-9][0-9]*)$";
/// FieldMask in JSON: comma-separated lowerCamelCase paths.
const FIELD_MASK_PATTERN: &str = r"^([A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*(,[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*)*)?$";
/// FieldMask in a query string: proto names are accepted too.
pub(super) const QUERY_FIELD_MASK_PATTERN: &str = r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(,[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)*)?$";
/// The strings a float or double may be besides numbers.
const NON_FINITE_PATTERN: &str = "^(NaN|-?Infinity)$";

impl Doc<'_> {
    pub(super) fn component(&mut self, name: &str) -> Json {
        if name == ANY {
            return any_schema();
        }
        if let Some(e) = self.enums.get(name).copied() {
            return self.enum_schema(e);
        }
        self.message_schema(name, &[])
    }

    fn enum_schema(&self, e: &Enum) -> Json {
        let mut lines = Vec::new();
        let text = docs_text(&e.docs);
        if !text.is_empty() {
            lines.push(text);
        }
        let values: Vec<String> = e
            .values
            .iter()
            .filter_map(|v| {
                let mut text = docs_text(&v.docs).replace('\n', " ");
                if v.docs.deprecated {
                    text = join_paragraphs(&["Deprecated.", &text]).replace("\n\n", " ");
                }
                (!text.is_empty()).then(|| format!("- `{}` ({}): {text}", v.name, v.number))
            })
            .collect();
        if !values.is_empty() {
            lines.push(values.join("\n"));
        }
        let mut schema = if self.options.enums_as_numbers {
            let mut numbers: Vec<i64> = e.values.iter().map(|v| i64::from(v.number)).collect();
            numbers.dedup();
            Json::obj()
                .with("type", "integer")
                .with("format", "int32")
                .with(
                    "enum",
                    Json::Arr(numbers.into_iter().map(Json::Int).collect()),
                )
        } else {
            let names: Vec<&str> = e.values.iter().map(|v| v.name.as_str()).collect();
            Json::obj()
                .with("type", "string")
                .with("enum", strings(&names))
        };
        if !lines.is_empty() {
            schema.set("description", lines.join("\n\n"));
        }
        if e.docs.deprecated {
            schema.set("deprecated", true);
        }
        schema
    }

    /// A message's object schema; `bound` lists field paths (proto names) to leave out.
    pub(super) fn message_schema(&mut self, name: &str, bound: &[Vec<String>]) -> Json {
        let Some(m) = self.messages.get(name).copied() else {
            return self.message_value(name);
        };
        let mut properties = Json::obj();
        let mut required = Vec::new();
        let mut present = BTreeSet::new();
        for f in &m.fields {
            if bound.iter().any(|p| p.len() == 1 && p[0] == f.proto_name) {
                continue;
            }
            let nested: Vec<Vec<String>> = bound
                .iter()
                .filter(|p| p.len() > 1 && p[0] == f.proto_name)
                .map(|p| p[1..].to_vec())
                .collect();
            let schema = self.field_schema(f, &nested);
            let key = self.name(f).to_string();
            if f.behavior.iter().any(|b| b == "REQUIRED") {
                required.push(key.clone());
            }
            present.insert(f.proto_name.clone());
            properties.set(&key, schema);
        }
        let mut description = vec![docs_text(&m.docs)];
        let mut exclusive = Vec::new();
        for item in &m.items {
            let Item::Oneof(o) = item else {
                continue;
            };
            let members: Vec<String> = o
                .members
                .iter()
                .filter(|f| present.contains(&f.proto_name))
                .map(|f| self.name(f).to_string())
                .collect();
            let listed: Vec<String> = members.iter().map(|n| format!("`{n}`")).collect();
            let text = docs_text(&o.docs).replace('\n', " ");
            description.push(format!(
                "Oneof `{}`: at most one of {} is set.{}",
                o.name,
                listed.join(", "),
                if text.is_empty() {
                    String::new()
                } else {
                    format!(" {text}")
                }
            ));
            for (i, a) in members.iter().enumerate() {
                for b in &members[i + 1..] {
                    exclusive.push(Json::obj().with("required", strings(&[a, b])));
                }
            }
        }
        let mut schema = Json::obj().with("type", "object");
        let description =
            join_paragraphs(&description.iter().map(String::as_str).collect::<Vec<_>>());
        if !description.is_empty() {
            schema.set("description", description);
        }
        schema.set("properties", properties);
        if !required.is_empty() {
            schema.set("required", strings(&required));
        }
        if !exclusive.is_empty() {
            schema.set("not", Json::obj().with("anyOf", Json::Arr(exclusive)));
        }
        if !self.options.ignore_unknown_fields {
            schema.set("additionalProperties", false);
        }
        if m.docs.deprecated {
            schema.set("deprecated", true);
        }
        schema
    }

    /// A field as an object property: its value in its shape, with its docs and behaviour.
    /// `nested` lists paths below the field to leave out (path-bound fields of a `*` body).
    pub(super) fn field_schema(&mut self, f: &Field, nested: &[Vec<String>]) -> Json {
        let element = if nested.is_empty() {
            self.value_schema(f)
        } else {
            self.message_schema(&f.type_name, nested)
        };
        let mut schema = match f.shape {
            Shape::Repeated => Json::obj().with("type", "array").with("items", element),
            Shape::Map => {
                let mut map = Json::obj()
                    .with("type", "object")
                    .with("additionalProperties", element);
                if let Some(keys) = f.map_key.and_then(map_key_pattern) {
                    map.set("propertyNames", Json::obj().with("pattern", keys));
                }
                map
            }
            Shape::Message | Shape::Wrapper => nullable(element),
            Shape::Singular | Shape::Optional => element,
        };
        let mut description = docs_text(&f.docs);
        if let Some(o) = &f.oneof {
            description =
                join_paragraphs(&[&description, &format!("Member of the oneof `{}`.", o.name)]);
        }
        if !description.is_empty() {
            schema = describe(schema, description);
        }
        if f.behavior.iter().any(|b| b == "OUTPUT_ONLY") {
            schema.set("readOnly", true);
        }
        if f.behavior.iter().any(|b| b == "INPUT_ONLY") {
            schema.set("writeOnly", true);
        }
        if f.docs.deprecated {
            schema.set("deprecated", true);
        }
        schema
    }

    /// One value of a field's element type, in its JSON form.
    pub(super) fn value_schema(&mut self, f: &Field) -> Json {
        let string = |format: &str, pattern: &str| {
            Json::obj()
                .with("type", "string")
                .with("format", format)
                .with("pattern", pattern)
        };
        match f.value.method {
            "double" => Json::obj()
                .with("type", strings(&["number", "string"]))
                .with("format", "double")
                .with("pattern", NON_FINITE_PATTERN),
            // A float's range is narrower than JSON's numbers: larger ones are refused.
            "float" => Json::obj()
                .with("type", strings(&["number", "string"]))
                .with("format", "float")
                .with("minimum", Json::Number("-3.4028234663852886e38"))
                .with("maximum", Json::Number("3.4028234663852886e38"))
                .with("pattern", NON_FINITE_PATTERN),
            "int32" => Json::obj()
                .with("type", "integer")
                .with("format", "int32")
                .with("minimum", i64::from(i32::MIN))
                .with("maximum", i64::from(i32::MAX)),
            "uint32" => Json::obj()
                .with("type", "integer")
                .with("format", "uint32")
                .with("minimum", 0)
                .with("maximum", i64::from(u32::MAX)),
            "int64" => string("int64", INT64_PATTERN),
            "uint64" => string("uint64", UINT64_PATTERN),
            "bool" => Json::obj().with("type", "boolean"),
            "string" => Json::obj().with("type", "string"),
            "bytes" => Json::obj().with("type", "string").with("format", "byte"),
            "enumeration" => {
                if f.type_name == "google.protobuf.NullValue" {
                    Json::obj().with("type", "null")
                } else if self.enums.contains_key(f.type_name.as_str()) {
                    self.reference(&f.type_name)
                } else {
                    Json::obj().with("type", "string")
                }
            }
            _ => self.message_value(&f.type_name),
        }
    }

    /// A message value: a well-known type in its JSON form, or a reference to the component.
    pub(super) fn message_value(&mut self, name: &str) -> Json {
        match name {
            "google.protobuf.Timestamp" => Json::obj()
                .with("type", "string")
                .with("format", "date-time"),
            "google.protobuf.Duration" => Json::obj()
                .with("type", "string")
                .with("pattern", DURATION_PATTERN),
            "google.protobuf.FieldMask" => Json::obj()
                .with("type", "string")
                .with("pattern", FIELD_MASK_PATTERN),
            "google.protobuf.Struct" => Json::obj().with("type", "object"),
            "google.protobuf.ListValue" => Json::obj().with("type", "array"),
            "google.protobuf.Value" => Json::obj(),
            "google.protobuf.Empty" => {
                let empty = Json::obj()
                    .with("type", "object")
                    .with("properties", Json::obj());
                if self.options.ignore_unknown_fields {
                    empty
                } else {
                    empty.with("additionalProperties", false)
                }
            }
            ANY => self.reference(ANY),
            _ if self.messages.contains_key(name) => self.reference(name),
            _ => Json::obj().with("type", "object"),
        }
    }
}

fn any_schema() -> Json {
    Json::obj()
        .with("type", "object")
        .with(
            "description",
            "`google.protobuf.Any`: a message of any type, named by `@type` (a type URL such as \
             `type.googleapis.com/google.rpc.ErrorInfo`), with the message's own fields beside \
             it; a well-known type's JSON form is under `value`, and so are the base64 bytes of \
             a type the proxy does not know.",
        )
        .with(
            "properties",
            Json::obj().with("@type", Json::obj().with("type", "string")),
        )
        .with("additionalProperties", true)
}

/// A schema that also allows `null`.
pub(super) fn nullable(schema: Json) -> Json {
    if schema.get("$ref").is_some() {
        return Json::obj().with(
            "oneOf",
            Json::Arr(vec![schema, Json::obj().with("type", "null")]),
        );
    }
    match schema.get("type").cloned() {
        Some(Json::Str(t)) if t != "null" => schema.with("type", strings(&[t.as_str(), "null"])),
        Some(Json::Arr(mut types)) => {
            if !types.contains(&Json::from("null")) {
                types.push(Json::from("null"));
            }
            schema.with("type", Json::Arr(types))
        }
        // No type: anything, `null` included.
        _ => schema,
    }
}

/// Adds a description to a schema (beside a `$ref`, as OpenAPI 3.1 allows).
fn describe(schema: Json, description: String) -> Json {
    schema.with("description", description)
}

/// A body or response schema without the property-level annotations of its field.
pub(super) fn strip_annotations(schema: Json) -> Json {
    match schema {
        Json::Obj(pairs) => Json::Obj(
            pairs
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "readOnly" | "writeOnly"))
                .collect(),
        ),
        other => other,
    }
}

/// A map key's text form, for `propertyNames` (string keys need none).
pub(super) fn map_key_pattern(method: &str) -> Option<&'static str> {
    match method {
        "int32" | "int64" => Some(INT64_PATTERN),
        "uint32" | "uint64" => Some(UINT64_PATTERN),
        "bool" => Some("^(true|false)$"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_forms() {
        let r = Json::obj().with("$ref", "#/x");
        assert_eq!(
            nullable(r.clone()),
            Json::obj().with(
                "oneOf",
                Json::Arr(vec![r, Json::obj().with("type", "null")])
            )
        );
        let s = Json::obj().with("type", "string");
        assert_eq!(nullable(s).get("type"), Some(&strings(&["string", "null"])));
        assert_eq!(nullable(Json::obj()), Json::obj());
    }
}
