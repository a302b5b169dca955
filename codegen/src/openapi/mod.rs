//! The OpenAPI 3.1 document of a generated proxy, rendered from the same [`Api`] model as its
//! routes and handlers, so the document cannot disagree with what the router accepts.
//!
//! What it says, and why:
//!
//! - **Paths** come from every binding, additional bindings included, sorted by path. A
//!   single-segment variable `{shelf_id}` is a path parameter. A multi-segment capture
//!   `{name=shelves/*/books/*}` is spelled out, `/v1/shelves/{shelf}/books/{book}`: one
//!   parameter per wildcard, named after its collection in the singular, because client
//!   generators escape a `/` inside a parameter (`shelves%2F1`), which no route matches; the URL
//!   is the same, so the proxy routes it to the one field. A capture of one `**` alone
//!   (`{path=**}`) stays one parameter. The `openapi_whole_captures` option keeps every capture
//!   one parameter named by its field path, with a `pattern` (its value holds the slashes). A
//!   `:verb` stays literal. Paths that differ only in parameter names are one path to OpenAPI,
//!   so bindings of one shape share the first one's names (`PATCH /v1/{book.name=…}` joins
//!   `GET /v1/{name=…}`), and when two bindings of one HTTP method would share a path
//!   (`{name=shelves/*}` and `{name=publishers/*}`), their captures are spelled out even with
//!   whole captures. Operations are `Service_Method`, `Service_Method_2` for the first
//!   additional binding, and so on, tagged with their service. Custom HTTP methods (`SEARCH`),
//!   which OpenAPI 3.1 cannot name, go under the path item's `x-additionalOperations` (OpenAPI
//!   3.2's `additionalOperations`).
//! - **Bodies and responses**: `body: "*"` is the request message without its path-bound fields,
//!   `body: "field"` that field; `200` is the response message or its `response_body` field,
//!   `default` a `google.rpc.Status`. A client stream is NDJSON of messages; a server stream is
//!   NDJSON of `{"result": …}` lines with a final `{"error": …}` on failure, or Server-Sent
//!   Events; a `google.api.HttpBody` is any content type, as is.
//! - **Query parameters** are the fields the binding leaves to the query, by their dotted names;
//!   repeated fields explode (`?tag=a&tag=b`). A binding's only map is `form`-style
//!   (`lang=en`), as client generators send objects; several maps are `deepObject`
//!   (`labels[lang]=en`), which the proxy takes for any map.
//! - **Schemas** are the proto3 JSON mapping exactly as the proxy writes it: 64-bit integers are
//!   strings, bytes base64, enums their value names, floats numbers or `"NaN"`/`"Infinity"`,
//!   well-known types in their JSON forms, and an unset message field `null`. Each message and
//!   enum is one component named by its full proto name; recursion goes through `$ref`.
//! - **Comments** on services, methods, messages, fields, oneofs and enum values become
//!   summaries and descriptions; `google.api.field_behavior` REQUIRED becomes `required`,
//!   OUTPUT_ONLY `readOnly`, INPUT_ONLY `writeOnly`; `deprecated` is carried over.
//!
//! The JSON generation options are the document's: property names follow `proto_names`, enum
//! schemas `enums_as_numbers`, and objects are closed (`additionalProperties: false`) unless
//! unknown fields are ignored. Runtime flags that change them make the proxy differ from its
//! document.
//!
//! The document is OpenAPI 3.1; the `openapi_version` option rewrites it as 3.0.3 (`v30`), the
//! same document in 3.0's schema dialect, for tools that do not read 3.1.
//!
//! The output is deterministic: keys in a fixed order chosen here (OpenAPI's own order for
//! operations, declaration order for properties, sorted paths and components), two-space
//! indentation and a final newline. It is built with a small ordered JSON tree, not a map type
//! whose order could depend on a dependency's features.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Api, Binding, Docs, Enum, Field, Message};
use crate::options::{OpenapiVersion, RenderOptions};

mod json;
mod operations;
mod paths;
mod schemas;
mod v30;

use json::{Json, write_json};
pub use paths::matching_bindings;

/// Where the proxy serves the document unless told otherwise.
pub use crate::options::DEFAULT_OPENAPI_PATH as DEFAULT_PATH;

/// The document's file name in a generated crate (beside `Cargo.toml`).
pub const FILE_NAME: &str = "openapi.json";

const STATUS: &str = "google.rpc.Status";
const ANY: &str = "google.protobuf.Any";
/// The shared `default` response.
const ERROR: &str = "Error";

/// Renders the OpenAPI document of `api` (3.1, or 3.0.3 as the options say) as pretty-printed
/// JSON with a final newline.
///
/// `title` is the document's title (the crate name, when there is one).
pub fn render(api: &Api, options: &RenderOptions, title: &str) -> String {
    let mut doc = Doc::new(api, options);
    let mut root = doc.document(title);
    if options.openapi_version == OpenapiVersion::V3_0 {
        root = v30::downgrade(root);
    }
    let mut out = String::new();
    write_json(&root, 0, &mut out);
    out.push('\n');
    out
}

/// A rendered document and what it cannot say.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document: pretty-printed JSON with a final newline.
    pub json: String,
    /// One line per binding the document cannot describe in standard terms (see [`warnings`]).
    pub warnings: Vec<String>,
}

/// Whether OpenAPI has an operation key for an HTTP method (`SEARCH` and other custom methods
/// have none).
fn is_standard(method: &str) -> bool {
    METHODS.iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// What the document cannot say, one line per binding, for the command line to print after
/// generating: the bindings of custom HTTP methods (`SEARCH`), which OpenAPI cannot name, so
/// the document keeps them in an extension that client generators skip.
pub fn warnings(api: &Api) -> Vec<String> {
    api.services
        .iter()
        .flat_map(|s| &s.bindings)
        .filter(|b| !is_standard(&b.http_method))
        .map(|b| {
            let location = b
                .location
                .as_ref()
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            format!(
                "{location}warning: {}: OpenAPI cannot name the custom HTTP method `{}` of \
                 `{} {}`: {FILE_NAME} lists it under `x-additionalOperations`, which client \
                 generators skip",
                b.rpc, b.http_method, b.http_method, b.template
            )
        })
        .collect()
}

/// The title of a document without a crate name: the served services' names.
pub fn default_title(api: &Api) -> String {
    api.services
        .iter()
        .map(|s| s.full_name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One rendering: the model, the options, and the component schemas referenced so far.
struct Doc<'a> {
    api: &'a Api,
    options: &'a RenderOptions,
    messages: BTreeMap<&'a str, &'a Message>,
    enums: BTreeMap<&'a str, &'a Enum>,
    refs: BTreeSet<String>,
}

/// The OpenAPI operation keys of a path item, in the specification's order.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One binding placed in the document.
struct Placed<'a> {
    binding: &'a Binding,
    service: &'a crate::model::Service,
    operation_id: String,
    tag: String,
}

impl<'a> Doc<'a> {
    fn new(api: &'a Api, options: &'a RenderOptions) -> Self {
        Doc {
            api,
            options,
            messages: api
                .messages
                .iter()
                .map(|m| (m.full_name.as_str(), m))
                .collect(),
            enums: api
                .enums
                .iter()
                .map(|e| (e.full_name.as_str(), e))
                .collect(),
            refs: BTreeSet::new(),
        }
    }

    fn document(&mut self, title: &str) -> Json {
        let placed = self.place();
        let mut tags = Vec::new();
        let mut seen_tags = BTreeSet::new();
        for p in &placed {
            if seen_tags.insert(p.tag.clone()) {
                let mut tag = Json::obj().with("name", p.tag.as_str());
                let text = docs_text(&p.service.docs);
                let mut description = if text.is_empty() {
                    format!("`{}`", p.service.full_name)
                } else {
                    format!("{text}\n\n`{}`", p.service.full_name)
                };
                if p.service.docs.deprecated {
                    description.push_str("\n\nDeprecated.");
                }
                tag.set("description", description);
                tags.push(tag);
            }
        }

        let keyed = self.path_keys(&placed);

        let mut paths: BTreeMap<String, Vec<(String, Json)>> = BTreeMap::new();
        for (p, (key, params)) in placed.iter().zip(keyed) {
            let operation = self.operation(p, params);
            paths
                .entry(key)
                .or_default()
                .push((p.binding.http_method.clone(), operation));
        }
        let mut path_items = Json::obj();
        for (key, mut operations) in paths {
            let rank = |m: &str| {
                METHODS
                    .iter()
                    .position(|k| k.eq_ignore_ascii_case(m))
                    .unwrap_or(METHODS.len())
            };
            operations.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
            let (standard, custom): (Vec<_>, Vec<_>) =
                operations.into_iter().partition(|(m, _)| is_standard(m));
            let mut item = Json::obj();
            if !custom.is_empty() {
                // Said where tools that skip extensions still show it.
                let names: Vec<String> = custom.iter().map(|(m, _)| format!("`{m}`")).collect();
                item.set(
                    "description",
                    format!(
                        "Also {} under `x-additionalOperations`: OpenAPI has no key for a custom \
                         HTTP method, so client generators leave {} out.",
                        names.join(", "),
                        if names.len() == 1 { "it" } else { "them" }
                    ),
                );
            }
            for (method, operation) in standard {
                item.set(&method.to_ascii_lowercase(), operation);
            }
            if !custom.is_empty() {
                item.set("x-additionalOperations", Json::Obj(custom));
            }
            path_items.set(&key, item);
        }

        // Every component the operations reach, and the ones those reach.
        self.refs.insert(STATUS.to_string());
        let mut schemas: BTreeMap<String, Json> = BTreeMap::new();
        loop {
            let pending: Vec<String> = self
                .refs
                .iter()
                .filter(|r| !schemas.contains_key(*r))
                .cloned()
                .collect();
            if pending.is_empty() {
                break;
            }
            for name in pending {
                let schema = self.component(&name);
                schemas.insert(name, schema);
            }
        }
        let mut components = Json::obj();
        for (name, schema) in schemas {
            components.set(&name, schema);
        }
        let error = Json::obj()
            .with(
                "description",
                "An error, the upstream's or the proxy's own: a `google.rpc.Status`, with the HTTP \
                 status mapped from its gRPC code (NOT_FOUND is 404, INVALID_ARGUMENT 400, \
                 UNAVAILABLE 503, …).",
            )
            .with(
                "content",
                Json::obj().with(
                    "application/json",
                    Json::obj().with("schema", self.reference(STATUS)),
                ),
            );

        let services: Vec<String> = self
            .api
            .services
            .iter()
            .filter(|s| !s.bindings.is_empty())
            .map(|s| format!("`{}`", s.full_name))
            .collect();
        let (names, other_names) = if self.options.proto_names {
            ("proto field names", "JSON names")
        } else {
            ("lowerCamelCase JSON names", "proto field names")
        };
        let enums = if self.options.enums_as_numbers {
            "numbers"
        } else {
            "value names"
        };
        let defaults = if self.options.emit_defaults {
            "every field is written but a message field that is not set, which is left out"
        } else {
            "fields at their default value are left out"
        };
        let description = format!(
            "REST/JSON to gRPC proxy for {}, generated by protogate.\n\n\
             Requests and responses are JSON in the proto3 JSON mapping, with {names}: 64-bit \
             integers are strings, bytes are base64, enums are {enums}, Timestamp and Duration \
             are strings, and {defaults}. A request body may also use {other_names}, and an \
             empty body is an empty message. Every error, the proxy's own or the upstream's, is \
             a `google.rpc.Status` with the HTTP status mapped from its gRPC code.\n\n\
             The same port serves every method of these services to RPC clients, on the \
             method's gRPC path (`POST /package.Service/Method`): gRPC (`application/grpc`, \
             passed through), gRPC-Web (`application/grpc-web`, `-text`, `+json`) and Connect \
             (`application/proto` or `application/json`, `application/connect+proto` or \
             `+json` for streams, and `GET` for methods without side effects).",
            services.join(", ")
        );
        Json::obj()
            .with("openapi", "3.1.0")
            .with(
                "info",
                Json::obj()
                    .with("title", title)
                    .with("description", description)
                    .with("version", "0.1.0"),
            )
            .with("tags", Json::Arr(tags))
            .with("paths", path_items)
            .with(
                "components",
                Json::obj()
                    .with("schemas", components)
                    .with("responses", Json::obj().with(ERROR, error)),
            )
    }

    /// Every binding with its operation id and tag, in model order.
    fn place(&self) -> Vec<Placed<'a>> {
        let short = |full: &str| full.rsplit('.').next().unwrap_or(full).to_string();
        let mut short_count: BTreeMap<String, usize> = BTreeMap::new();
        for s in self.api.services.iter().filter(|s| !s.bindings.is_empty()) {
            *short_count.entry(short(&s.full_name)).or_default() += 1;
        }
        let mut out = Vec::new();
        let mut ids = BTreeSet::new();
        for service in &self.api.services {
            let name = short(&service.full_name);
            // Two services of one name in different packages: use the full names.
            let tag = if short_count.get(&name).copied().unwrap_or(0) > 1 {
                service.full_name.clone()
            } else {
                name
            };
            let id_prefix = tag.replace('.', "_");
            let mut index_of: BTreeMap<&str, usize> = BTreeMap::new();
            for b in &service.bindings {
                let index = index_of.entry(b.rpc.as_str()).or_default();
                *index += 1;
                let method = b.rpc.rsplit('.').next().unwrap_or(&b.rpc);
                let mut id = if *index == 1 {
                    format!("{id_prefix}_{method}")
                } else {
                    format!("{id_prefix}_{method}_{index}")
                };
                while !ids.insert(id.clone()) {
                    id.push('_');
                }
                out.push(Placed {
                    binding: b,
                    service,
                    operation_id: id,
                    tag: tag.clone(),
                });
            }
        }
        out
    }

    fn name<'f>(&self, f: &'f Field) -> &'f str {
        if self.options.proto_names {
            &f.proto_name
        } else {
            &f.json_name
        }
    }

    fn reference(&mut self, name: &str) -> Json {
        self.refs.insert(name.to_string());
        Json::obj().with("$ref", format!("#/components/schemas/{name}"))
    }

    /// The field at `path` (proto names) below message `root`, with its documented path.
    fn field_at(&self, root: &str, path: &[String]) -> Option<(String, &'a Field)> {
        let mut message = *self.messages.get(root)?;
        let mut names = Vec::new();
        for (i, part) in path.iter().enumerate() {
            let field = message.fields.iter().find(|f| &f.proto_name == part)?;
            names.push(self.name(field).to_string());
            if i + 1 == path.len() {
                return Some((names.join("."), field));
            }
            message = self.messages.get(field.type_name.as_str())?;
        }
        None
    }
}

/// The leading and trailing comments as one text.
fn docs_text(docs: &Docs) -> String {
    join_paragraphs(&[&docs.leading, &docs.trailing])
}

/// The first paragraph of the leading comment, on one line, and the remaining paragraphs (the
/// trailing comment last).
fn summary_and_rest(docs: &Docs) -> (String, Vec<String>) {
    let mut paragraphs = docs
        .leading
        .split("\n\n")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let summary = paragraphs
        .next()
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut rest: Vec<String> = paragraphs.collect();
    if !docs.trailing.is_empty() {
        rest.push(docs.trailing.clone());
    }
    (summary, rest)
}

/// `The x` → `the x`, for a description inside a sentence.
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn join_paragraphs(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_take_the_first_paragraph() {
        let docs = Docs {
            leading: "Gets a book\nby name.\n\nMore here.".into(),
            trailing: "Trailing.".into(),
            deprecated: false,
        };
        let (summary, rest) = summary_and_rest(&docs);
        assert_eq!(summary, "Gets a book by name.");
        assert_eq!(
            rest,
            vec!["More here.".to_string(), "Trailing.".to_string()]
        );
    }
}
