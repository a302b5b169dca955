//! The document in OpenAPI 3.0.3, for tools that do not read 3.1 yet (API gateways' importers,
//! older client generators). It is the 3.1 document rewritten, so both say the same; only the
//! schema dialect differs: 3.0's schemas are a JSON Schema subset with `nullable` instead of a
//! `null` type, one type per schema, no keywords beside a `$ref`, and no `propertyNames`. The
//! 3.1 document uses no `$schema`, `jsonSchemaDialect`, `const` or `examples`, so nothing else
//! changes.

use super::json::Json;

/// The version the rewritten document declares.
pub(super) const VERSION: &str = "3.0.3";

/// Rewrites a rendered 3.1 document as 3.0.3.
pub(super) fn downgrade(document: Json) -> Json {
    let mut document = walk_document(document);
    document.set("openapi", VERSION);
    document
}

/// Walks everything outside schemas, rewriting the schemas it meets: the `schema` of parameters
/// and media types, and the component schemas. (Schemas appear nowhere else in the document.)
fn walk_document(value: Json) -> Json {
    match value {
        Json::Obj(pairs) => Json::Obj(
            pairs
                .into_iter()
                .map(|(key, value)| {
                    let value = match key.as_str() {
                        "schema" => schema(value),
                        "schemas" => map_values(value, schema),
                        _ => walk_document(value),
                    };
                    (key, value)
                })
                .collect(),
        ),
        Json::Arr(items) => Json::Arr(items.into_iter().map(walk_document).collect()),
        other => other,
    }
}

fn map_values(value: Json, f: fn(Json) -> Json) -> Json {
    match value {
        Json::Obj(pairs) => Json::Obj(pairs.into_iter().map(|(k, v)| (k, f(v))).collect()),
        other => other,
    }
}

/// Rewrites one schema and the schemas inside it.
fn schema(value: Json) -> Json {
    // A `null` alternative is recognised before the alternatives are rewritten.
    let pairs = match nullable_alternatives(value) {
        Json::Obj(pairs) => pairs,
        other => return other,
    };
    let pairs: Vec<(String, Json)> = pairs
        .into_iter()
        .map(|(key, value)| {
            let value = match key.as_str() {
                "properties" => map_values(value, schema),
                "items" | "not" => schema(value),
                "additionalProperties" if matches!(value, Json::Obj(_)) => schema(value),
                "allOf" | "anyOf" | "oneOf" => match value {
                    Json::Arr(items) => Json::Arr(items.into_iter().map(schema).collect()),
                    other => other,
                },
                _ => value,
            };
            (key, value)
        })
        .collect();
    let schema = type_list(Json::Obj(pairs));
    let schema = property_names(schema);
    let schema = array_items(schema);
    reference_siblings(schema)
}

/// A `null` member of `oneOf`/`anyOf` (3.1's nullable reference) becomes `nullable`: the other
/// member, alone, goes into `allOf` so that keywords may stand beside it.
fn nullable_alternatives(mut schema: Json) -> Json {
    for keyword in ["oneOf", "anyOf"] {
        let Some(Json::Arr(members)) = schema.get(keyword) else {
            continue;
        };
        let null = Json::obj().with("type", "null");
        if !members.contains(&null) {
            continue;
        }
        let rest: Vec<Json> = members.iter().filter(|m| **m != null).cloned().collect();
        let single = rest.len() == 1;
        schema = without(schema, keyword);
        schema = if single {
            with_first(schema, "allOf", Json::Arr(rest))
        } else {
            with_first(schema, keyword, Json::Arr(rest))
        };
        schema.set("nullable", true);
    }
    schema
}

/// The keywords that constrain one JSON type, for splitting a type list into alternatives.
fn applies_to(keyword: &str, kind: &str) -> bool {
    match keyword {
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => {
            matches!(kind, "number" | "integer")
        }
        "pattern" | "minLength" | "maxLength" => kind == "string",
        "items" | "minItems" | "maxItems" | "uniqueItems" => kind == "array",
        "properties" | "additionalProperties" | "required" | "minProperties" | "maxProperties" => {
            kind == "object"
        }
        _ => false,
    }
}

/// `type: [X, "null"]` becomes `type: X, nullable: true`; a list of several types (a float is
/// a number or `"NaN"`) becomes `anyOf` one schema per type, each with its own keywords;
/// `type: "null"` alone becomes the one value `null`.
fn type_list(schema: Json) -> Json {
    let types: Vec<String> = match schema.get("type") {
        Some(Json::Arr(items)) => items
            .iter()
            .filter_map(|t| match t {
                Json::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        Some(Json::Str(t)) if t == "null" => vec![t.clone()],
        _ => return schema,
    };
    let null = types.iter().any(|t| t == "null");
    let rest: Vec<&String> = types.iter().filter(|t| *t != "null").collect();
    let mut schema = without(schema, "type");
    match rest.as_slice() {
        [] => {
            schema = with_first(schema, "enum", Json::Arr(vec![Json::Null]));
        }
        [one] => {
            schema = with_first(schema, "type", Json::from(one.as_str()));
        }
        several => {
            // Each keyword goes to the alternatives of the types it constrains; `format` to the
            // first type (a float's `format: double` is the number's).
            let Json::Obj(pairs) = schema else {
                return schema;
            };
            let mut branches: Vec<Json> = several
                .iter()
                .map(|t| Json::obj().with("type", t.as_str()))
                .collect();
            let mut kept = Vec::new();
            for (key, value) in pairs {
                let targets: Vec<usize> = several
                    .iter()
                    .enumerate()
                    .filter(|(i, t)| applies_to(&key, t.as_str()) || (key == "format" && *i == 0))
                    .map(|(i, _)| i)
                    .collect();
                if targets.is_empty() {
                    kept.push((key, value));
                } else {
                    for i in targets {
                        branches[i].set(&key, value.clone());
                    }
                }
            }
            schema = with_first(Json::Obj(kept), "anyOf", Json::Arr(branches));
        }
    }
    if null {
        schema.set("nullable", true);
    }
    schema
}

/// `propertyNames` is not 3.0's: its pattern moves into the description.
fn property_names(schema: Json) -> Json {
    let Some(names) = schema.get("propertyNames").cloned() else {
        return schema;
    };
    let mut schema = without(schema, "propertyNames");
    if let Some(Json::Str(pattern)) = names.get("pattern") {
        let note = format!("Keys match `{pattern}`.");
        let description = match schema.get("description") {
            Some(Json::Str(d)) => format!("{d}\n\n{note}"),
            _ => note,
        };
        schema.set("description", description);
    }
    schema
}

/// 3.0 requires `items` with `type: array` (a `ListValue` takes anything).
fn array_items(mut schema: Json) -> Json {
    if schema.get("type") == Some(&Json::from("array")) && schema.get("items").is_none() {
        schema.set("items", Json::obj());
    }
    schema
}

/// 3.0 ignores keywords beside a `$ref`: the reference goes into `allOf`.
fn reference_siblings(schema: Json) -> Json {
    let Json::Obj(pairs) = &schema else {
        return schema;
    };
    if pairs.len() < 2 {
        return schema;
    }
    let Some(reference) = schema.get("$ref").cloned() else {
        return schema;
    };
    let rest = without(schema, "$ref");
    with_first(
        rest,
        "allOf",
        Json::Arr(vec![Json::obj().with("$ref", reference)]),
    )
}

fn without(schema: Json, keyword: &str) -> Json {
    match schema {
        Json::Obj(pairs) => Json::Obj(pairs.into_iter().filter(|(k, _)| k != keyword).collect()),
        other => other,
    }
}

/// Puts `keyword` first, where the replaced keyword stood in the 3.1 schemas.
fn with_first(schema: Json, keyword: &str, value: Json) -> Json {
    match schema {
        Json::Obj(pairs) => Json::Obj(
            std::iter::once((keyword.to_string(), value))
                .chain(pairs.into_iter().filter(|(k, _)| k != keyword))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::json::strings;

    fn reference(name: &str) -> Json {
        Json::obj().with("$ref", format!("#/components/schemas/{name}"))
    }

    #[test]
    fn nullable_types_and_references() {
        let string = Json::obj().with("type", strings(&["string", "null"]));
        assert_eq!(
            schema(string),
            Json::obj().with("type", "string").with("nullable", true)
        );
        let message = Json::obj()
            .with(
                "oneOf",
                Json::Arr(vec![reference("a.B"), Json::obj().with("type", "null")]),
            )
            .with("description", "A field.");
        assert_eq!(
            schema(message),
            Json::obj()
                .with("allOf", Json::Arr(vec![reference("a.B")]))
                .with("description", "A field.")
                .with("nullable", true)
        );
        assert_eq!(
            schema(Json::obj().with("type", "null")),
            Json::obj()
                .with("enum", Json::Arr(vec![Json::Null]))
                .with("nullable", true)
        );
    }

    #[test]
    fn type_lists_become_alternatives() {
        let double = Json::obj()
            .with("type", strings(&["number", "string", "null"]))
            .with("format", "double")
            .with("minimum", 0)
            .with("pattern", "^NaN$")
            .with("description", "A price.");
        assert_eq!(
            schema(double),
            Json::obj()
                .with(
                    "anyOf",
                    Json::Arr(vec![
                        Json::obj()
                            .with("type", "number")
                            .with("format", "double")
                            .with("minimum", 0),
                        Json::obj().with("type", "string").with("pattern", "^NaN$"),
                    ])
                )
                .with("description", "A price.")
                .with("nullable", true)
        );
    }

    #[test]
    fn references_keywords_and_nested_schemas() {
        let map = Json::obj()
            .with("type", "object")
            .with(
                "additionalProperties",
                reference("a.B").with("description", "Each."),
            )
            .with("propertyNames", Json::obj().with("pattern", "^[0-9]+$"));
        assert_eq!(
            schema(map),
            Json::obj()
                .with("type", "object")
                .with(
                    "additionalProperties",
                    Json::obj()
                        .with("allOf", Json::Arr(vec![reference("a.B")]))
                        .with("description", "Each.")
                )
                .with("description", "Keys match `^[0-9]+$`.")
        );
        assert_eq!(
            schema(Json::obj().with("type", "array")),
            Json::obj().with("type", "array").with("items", Json::obj())
        );
        // Only schemas change: a parameter named `type` or a property named `schema` stays.
        let document = Json::obj()
            .with("openapi", "3.1.0")
            .with(
                "paths",
                Json::obj().with(
                    "/x",
                    Json::obj().with(
                        "get",
                        Json::obj().with(
                            "parameters",
                            Json::Arr(vec![Json::obj().with("name", "type").with(
                                "schema",
                                Json::obj().with("type", strings(&["string", "null"])),
                            )]),
                        ),
                    ),
                ),
            )
            .with(
                "components",
                Json::obj().with(
                    "schemas",
                    Json::obj().with(
                        "a.B",
                        Json::obj().with(
                            "properties",
                            Json::obj().with("schema", reference("a.C").with("readOnly", true)),
                        ),
                    ),
                ),
            );
        let down = downgrade(document);
        assert_eq!(down.get("openapi"), Some(&Json::from("3.0.3")));
        let mut out = String::new();
        crate::openapi::json::write_json(&down, 0, &mut out);
        assert!(
            out.contains("\"name\": \"type\"") && out.contains("\"nullable\": true"),
            "{out}"
        );
        let property = down
            .get("components")
            .and_then(|c| c.get("schemas"))
            .and_then(|s| s.get("a.B"))
            .and_then(|b| b.get("properties"))
            .and_then(|p| p.get("schema"));
        assert_eq!(
            property,
            Some(
                &Json::obj()
                    .with("allOf", Json::Arr(vec![reference("a.C")]))
                    .with("readOnly", true)
            ),
            "{out}"
        );
    }
}
