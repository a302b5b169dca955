//! The OpenAPI 3.1 document of a generated proxy, rendered from the same [`Api`] model as its
//! routes and handlers, so the document cannot disagree with what the router accepts.
//!
//! What it says, and why:
//!
//! - **Paths** come from every binding, additional bindings included, sorted by path. A
//!   single-segment variable `{shelf_id}` is a path parameter; a multi-segment capture
//!   `{name=shelves/*/books/*}` is one parameter named by its field path, with a `pattern` for the
//!   capture (its value holds the slashes). A `:verb` stays literal. Paths that differ only in
//!   parameter names are one path to OpenAPI, so bindings of one shape share the first one's
//!   names (`PATCH /v1/{book.name=…}` joins `GET /v1/{name=…}` as `/v1/{name}`), and when two
//!   bindings of one HTTP method would share a path (`{name=shelves/*}` and
//!   `{name=publishers/*}`), their captures are spelled out as literals and one parameter per
//!   wildcard (`/v1/shelves/{shelve}`, named as grpc-gateway's `expand_slashed_path_patterns`
//!   names them). The `openapi_expand_captures` option spells every capture out, for tools that
//!   never send a `/` inside a path parameter. Operations are `Service_Method`,
//!   `Service_Method_2` for the first additional binding, and so on, tagged with their service.
//!   Custom HTTP methods (`SEARCH`), which OpenAPI 3.1 cannot name, go under the path item's
//!   `x-additionalOperations` (OpenAPI 3.2's `additionalOperations`).
//! - **Bodies and responses**: `body: "*"` is the request message without its path-bound fields,
//!   `body: "field"` that field; `200` is the response message or its `response_body` field,
//!   `default` a `google.rpc.Status`. A client stream is NDJSON of messages; a server stream is
//!   NDJSON of `{"result": …}` lines with a final `{"error": …}` on failure, or Server-Sent
//!   Events; a `google.api.HttpBody` is any content type, as is.
//! - **Query parameters** are the fields the binding leaves to the query, by their dotted names;
//!   repeated fields explode (`?tag=a&tag=b`), maps are `deepObject` (`labels[key]=value`).
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
//! The output is deterministic: keys in a fixed order chosen here (OpenAPI's own order for
//! operations, declaration order for properties, sorted paths and components), two-space
//! indentation and a final newline. It is built with a small ordered JSON tree, not a map type
//! whose order could depend on a dependency's features.

use std::collections::{BTreeMap, BTreeSet};

use crate::json_string::write_quoted;
use crate::model::{Api, Binding, Body, Docs, Enum, Field, Item, Message, QueryParam, Shape};
use crate::options::RenderOptions;
use crate::template::{Flat, Segment};

/// Where the proxy serves the document unless told otherwise.
pub use crate::options::DEFAULT_OPENAPI_PATH as DEFAULT_PATH;

/// The document's file name in a generated crate (beside `Cargo.toml`).
pub const FILE_NAME: &str = "openapi.json";

const STATUS: &str = "google.rpc.Status";
const ANY: &str = "google.protobuf.Any";
/// The shared `default` response.
const ERROR: &str = "Error";

/// Protobuf Duration in JSON: seconds with up to nine fractional digits and an `s`. At most
/// eleven digits of seconds (3,000 years) keep it within the type's range of ±10,000 years.
const DURATION_PATTERN: &str = r"^-?[0-9]{1,11}(\.[0-9]{1,9})?s$";
/// A 64-bit integer as the proxy writes it (and reads it in JSON: no leading zeros).
const INT64_PATTERN: &str = "^-?(0|[1-9][0-9]*)$";
const UINT64_PATTERN: &str = "^(0|[1-9][0-9]*)$";
/// FieldMask in JSON: comma-separated lowerCamelCase paths.
const FIELD_MASK_PATTERN: &str = r"^([A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*(,[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*)*)?$";
/// FieldMask in a query string: proto names are accepted too.
const QUERY_FIELD_MASK_PATTERN: &str = r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(,[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)*)?$";
/// The strings a float or double may be besides numbers.
const NON_FINITE_PATTERN: &str = "^(NaN|-?Infinity)$";
/// One or more path segments, as `**` captures them.
const SEGMENTS_PATTERN: &str = "[^/]+(/[^/]+)*";

/// Renders the OpenAPI 3.1 document of `api` as pretty-printed JSON with a final newline.
///
/// `title` is the document's title (the crate name, when there is one).
pub fn render(api: &Api, options: &RenderOptions, title: &str) -> String {
    let mut doc = Doc::new(api, options);
    let root = doc.document(title);
    let mut out = String::new();
    write_json(&root, 0, &mut out);
    out.push('\n');
    out
}

/// The title of a document without a crate name: the served services' names.
pub fn default_title(api: &Api) -> String {
    api.services
        .iter()
        .map(|s| s.full_name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The API bindings whose templates match `method path` (a raw request path; any method when
/// `None`), in model order: the document must not be served at a path the API itself routes.
/// (The router picks the most specific of them.)
pub fn matching_bindings<'a>(api: &'a Api, method: Option<&str>, path: &str) -> Vec<&'a Binding> {
    let Some(rest) = path.strip_prefix('/') else {
        return Vec::new();
    };
    let segments: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    if segments.iter().any(|s| s.is_empty()) {
        return Vec::new();
    }
    api.services
        .iter()
        .flat_map(|s| &s.bindings)
        .filter(|b| match method {
            None => true,
            Some(m) => b.http_method == m || (m == "HEAD" && b.http_method == "GET"),
        })
        .filter(|b| template_matches(b, &segments))
        .collect()
}

/// Whether a binding's template matches raw path segments, as the generated matcher does.
fn template_matches(b: &Binding, segments: &[&str]) -> bool {
    let mut segments: Vec<&str> = segments.to_vec();
    if let Some(verb) = &b.path_template.verb {
        let Some(last) = segments.last_mut() else {
            return false;
        };
        match last.rsplit_once(':') {
            Some((stem, v)) if !stem.is_empty() && v == verb => *last = stem,
            _ => return false,
        }
    }
    let mut i = 0;
    for flat in b.path_template.flatten() {
        match flat {
            Flat::Literal(l) => {
                if segments.get(i) != Some(&l.as_str()) {
                    return false;
                }
                i += 1;
            }
            Flat::Wildcard => {
                if i >= segments.len() {
                    return false;
                }
                i += 1;
            }
            Flat::DeepWildcard => i = segments.len(),
            Flat::VarStart(_) | Flat::VarEnd(_) => {}
        }
    }
    i == segments.len()
}

// ---------------------------------------------------------------------------------------------
// An ordered JSON tree and its printer.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Bool(bool),
    Int(i64),
    /// A number written as is (a float bound).
    Number(&'static str),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn obj() -> Json {
        Json::Obj(Vec::new())
    }

    /// Sets `key` (replacing an earlier value in place, else appending).
    fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        self.set(key, value);
        self
    }

    fn set(&mut self, key: &str, value: impl Into<Json>) {
        if let Json::Obj(pairs) = self {
            let value = value.into();
            match pairs.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => pairs.push((key.to_string(), value)),
            }
        }
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn is_empty_obj(&self) -> bool {
        matches!(self, Json::Obj(pairs) if pairs.is_empty())
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

fn strings<S: AsRef<str>>(items: &[S]) -> Json {
    Json::Arr(items.iter().map(|s| Json::from(s.as_ref())).collect())
}

fn write_json(value: &Json, depth: usize, out: &mut String) {
    let indent = |out: &mut String, depth: usize| {
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    match value {
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

// ---------------------------------------------------------------------------------------------
// The document.

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

        // Path keys. Paths that differ only in parameter names are one path to OpenAPI: where
        // two bindings of one HTTP method would share one, their captures are spelled out
        // (`{name=shelves/*}` and `{name=publishers/*}` differ in their literals).
        let expand = self.options.openapi_expand_captures;
        let mut keyed: Vec<(String, Vec<Json>)> = placed
            .iter()
            .map(|p| self.path(p.binding, expand))
            .collect();
        let mut count: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (p, (key, _)) in placed.iter().zip(&keyed) {
            *count
                .entry((shape(key), p.binding.http_method.clone()))
                .or_default() += 1;
        }
        let colliding: BTreeSet<String> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|((key, _), _)| key.clone())
            .collect();
        for (i, p) in placed.iter().enumerate() {
            if colliding.contains(&shape(&keyed[i].0)) {
                keyed[i] = self.path(p.binding, true);
            }
        }
        // One set of parameter names per path shape, the first binding's.
        unify_names(&mut keyed);
        // A last resort that keeps keys distinct whatever the templates: rename a parameter.
        let mut taken: BTreeSet<(String, String)> = BTreeSet::new();
        for (p, (key, params)) in placed.iter().zip(keyed.iter_mut()) {
            while !taken.insert((key.clone(), p.binding.http_method.clone())) {
                rename_first_parameter(key, params);
            }
        }

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
            let mut item = Json::obj();
            let mut custom = Json::obj();
            for (method, operation) in operations {
                if rank(&method) < METHODS.len() {
                    item.set(&method.to_ascii_lowercase(), operation);
                } else {
                    custom.set(&method, operation);
                }
            }
            if !custom.is_empty_obj() {
                item.set("x-additionalOperations", custom);
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
            "every field is written, a message field that is not set as `null`"
        } else {
            "fields at their default value are left out"
        };
        let description = format!(
            "REST/JSON to gRPC proxy for {}, generated by protogate.\n\n\
             Requests and responses are JSON in the proto3 JSON mapping, with {names}: 64-bit \
             integers are strings, bytes are base64, enums are {enums}, Timestamp and Duration \
             are strings, and {defaults}. A request body may also use {other_names}, and an \
             empty body is an empty message. Every error, the proxy's own or the upstream's, is \
             a `google.rpc.Status` with the HTTP status mapped from its gRPC code.",
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

    // -----------------------------------------------------------------------------------------
    // Paths and operations.

    /// The OpenAPI path of a binding and its path parameters. `expand` spells multi-segment
    /// captures out as literals and one parameter per wildcard.
    fn path(&mut self, b: &Binding, expand: bool) -> (String, Vec<Json>) {
        let mut key = String::new();
        let mut params = Vec::new();
        let mut anonymous = 0;
        let mut var_index = 0;
        // Names taken by parameters that keep their own name, so spelled-out ones avoid them.
        let mut used: BTreeSet<String> = b
            .path_template
            .variables()
            .iter()
            .zip(&b.path_vars)
            .filter(|(_, var)| !(expand && var.multi_segment))
            .map(|(v, _)| {
                self.field_at(&b.input_message, &v.field_path)
                    .map_or_else(|| v.field_path.join("."), |(name, _)| name)
            })
            .collect();
        for segment in &b.path_template.segments {
            key.push('/');
            match segment {
                Segment::Literal(l) => key.push_str(l),
                Segment::Wildcard | Segment::DeepWildcard => {
                    anonymous += 1;
                    let deep = matches!(segment, Segment::DeepWildcard);
                    let name = format!("_{anonymous}");
                    key.push_str(&format!("{{{name}}}"));
                    params.push(anonymous_parameter(&name, deep));
                }
                Segment::Variable(v) => {
                    let Some(var) = b.path_vars.get(var_index) else {
                        continue;
                    };
                    var_index += 1;
                    let proto_path = v.field_path.join(".");
                    let (name, field) = match self.field_at(&b.input_message, &v.field_path) {
                        Some((name, field)) => (name, Some(field)),
                        None => (proto_path.clone(), None),
                    };
                    let sub: Vec<String> = v.segments.iter().map(ToString::to_string).collect();
                    if expand && var.multi_segment {
                        let parts = expanded_parts(&name, &v.segments, &mut used);
                        let value = expanded_value(&parts);
                        for (i, part) in parts.iter().enumerate() {
                            if i > 0 {
                                key.push('/');
                            }
                            let (part, deep) = match part {
                                Part::Literal(l) => {
                                    key.push_str(l);
                                    continue;
                                }
                                Part::Wildcard(p) => (p, false),
                                Part::Deep(p) => (p, true),
                            };
                            key.push_str(&format!("{{{part}}}"));
                            let description = format!(
                                "{} of `{name}`, which is `{value}`: the capture \
                                 `{{{proto_path}={}}}` of `{}` spelled out.",
                                if deep {
                                    "The last segments"
                                } else {
                                    "One segment"
                                },
                                sub.join("/"),
                                b.template
                            );
                            let pattern = if deep {
                                format!("^{SEGMENTS_PATTERN}$")
                            } else {
                                "^[^/]+$".to_string()
                            };
                            params.push(
                                Json::obj()
                                    .with("name", part.as_str())
                                    .with("in", "path")
                                    .with("description", description)
                                    .with("required", true)
                                    .with(
                                        "schema",
                                        Json::obj().with("type", "string").with("pattern", pattern),
                                    ),
                            );
                        }
                    } else {
                        key.push_str(&format!("{{{name}}}"));
                        let param = self.path_parameter(&name, field, var.multi_segment, &sub);
                        params.push(param);
                    }
                }
            }
        }
        if let Some(verb) = &b.path_template.verb {
            key.push(':');
            key.push_str(verb);
        }
        (key, params)
    }

    fn path_parameter(
        &mut self,
        name: &str,
        field: Option<&Field>,
        multi_segment: bool,
        sub: &[String],
    ) -> Json {
        let mut schema = match field {
            Some(f) => self.value_schema(f),
            None => Json::obj().with("type", "string"),
        };
        let is_string = schema.get("type") == Some(&Json::from("string"));
        let mut description = field.map(|f| docs_text(&f.docs)).unwrap_or_default();
        if multi_segment {
            if is_string {
                schema.set("pattern", format!("^{}$", capture_pattern(sub)));
            }
            let note = format!(
                "The value is a path matching `{}`: its `/` characters are part of the value \
                 and are sent unescaped (an escaped `%2F` stays inside one segment).",
                sub.join("/")
            );
            description = join_paragraphs(&[&description, &note]);
        } else if is_string && schema.get("pattern").is_none() {
            schema.set("minLength", 1);
        }
        let mut param = Json::obj().with("name", name).with("in", "path");
        if !description.is_empty() {
            param.set("description", description);
        }
        param.set("required", true);
        if field.is_some_and(|f| f.docs.deprecated) {
            param.set("deprecated", true);
        }
        param.with("schema", schema)
    }

    fn operation(&mut self, p: &Placed<'_>, path_params: Vec<Json>) -> Json {
        let b = p.binding;
        let mut operation = Json::obj().with("tags", strings(&[&p.tag]));
        let (summary, rest) = summary_and_rest(&b.rpc_docs);
        if !summary.is_empty() {
            operation.set("summary", summary);
        }
        let mut paragraphs: Vec<String> = rest;
        paragraphs.push(format!(
            "`{} {}` calls `{}`{}.",
            b.http_method,
            b.template,
            b.grpc_path,
            match (b.client_streaming, b.server_streaming) {
                (true, true) => " (bidirectional streaming)",
                (true, false) => " (client streaming)",
                (false, true) => " (server streaming)",
                (false, false) => "",
            }
        ));
        if self.api.websocket.iter().any(|r| r.variant == b.variant) {
            paragraphs.push(
                "A WebSocket upgrade on this path (`GET` with `Upgrade: websocket`) carries the \
                 stream too: one JSON message per text frame each way; a failure ends with an \
                 `{\"error\": status}` frame and close code 4000 + the gRPC code."
                    .to_string(),
            );
        }
        if let Some(mask) = &b.field_mask {
            let body = match &b.body {
                Body::Field(f) => self.name(f).to_string(),
                _ => String::new(),
            };
            paragraphs.push(format!(
                "When `{}` is not set, it lists the fields present in the JSON body, relative to \
                 `{body}`.",
                mask.name
            ));
        }
        operation.set("description", paragraphs.join("\n\n"));
        operation.set("operationId", p.operation_id.as_str());

        let mut parameters = path_params;
        for q in &b.query {
            let param = self.query_parameter(q);
            parameters.push(param);
        }
        for q in &b.query_maps {
            let param = self.query_map_parameter(q);
            parameters.push(param);
        }
        if !parameters.is_empty() {
            operation.set("parameters", Json::Arr(parameters));
        }
        if let Some(body) = self.request_body(b) {
            operation.set("requestBody", body);
        }
        let ok = self.ok_response(b);
        let error = Json::obj().with("$ref", format!("#/components/responses/{ERROR}"));
        operation.set(
            "responses",
            Json::obj().with("200", ok).with("default", error),
        );
        if b.rpc_docs.deprecated || p.service.docs.deprecated {
            operation.set("deprecated", true);
        }
        operation
    }

    fn query_name(&self, q: &QueryParam) -> String {
        let names = &q.names;
        let name = if self.options.proto_names {
            names.first()
        } else {
            names.last()
        };
        name.cloned().unwrap_or_default()
    }

    fn query_parameter(&mut self, q: &QueryParam) -> Json {
        let f = &q.field;
        let element = self.query_value_schema(f);
        let mut description = docs_text(&f.docs);
        if let Some(o) = &f.oneof {
            description = join_paragraphs(&[
                &description,
                &format!(
                    "A member of the oneof `{}`: give at most one of them.",
                    o.name
                ),
            ]);
        }
        if f.type_name == "google.protobuf.FieldMask" {
            description = join_paragraphs(&[&description, "Comma-separated field paths."]);
        }
        let mut param = Json::obj()
            .with("name", self.query_name(q))
            .with("in", "query");
        if !description.is_empty() {
            param.set("description", description);
        }
        if f.docs.deprecated {
            param.set("deprecated", true);
        }
        if q.repeated {
            param.with("style", "form").with("explode", true).with(
                "schema",
                Json::obj().with("type", "array").with("items", element),
            )
        } else {
            param.with("schema", element)
        }
    }

    fn query_map_parameter(&mut self, q: &QueryParam) -> Json {
        let f = &q.field;
        let value = self.query_value_schema(f);
        let name = self.query_name(q);
        let description = join_paragraphs(&[
            &docs_text(&f.docs),
            &format!("A map: one `{name}[key]=value` parameter per entry."),
        ]);
        let mut schema = Json::obj()
            .with("type", "object")
            .with("additionalProperties", value);
        if let Some(keys) = f.map_key.and_then(map_key_pattern) {
            schema.set("propertyNames", Json::obj().with("pattern", keys));
        }
        let mut param = Json::obj()
            .with("name", name)
            .with("in", "query")
            .with("description", description);
        if f.docs.deprecated {
            param.set("deprecated", true);
        }
        param
            .with("style", "deepObject")
            .with("explode", true)
            .with("schema", schema)
    }

    /// A query value: like the JSON value, except that enums are always their names.
    fn query_value_schema(&mut self, f: &Field) -> Json {
        if f.type_name == "google.protobuf.FieldMask" {
            return Json::obj()
                .with("type", "string")
                .with("pattern", QUERY_FIELD_MASK_PATTERN);
        }
        if f.value.method == "enumeration" && self.options.enums_as_numbers {
            if let Some(e) = self.enums.get(f.type_name.as_str()) {
                let names: Vec<&str> = e.values.iter().map(|v| v.name.as_str()).collect();
                return Json::obj()
                    .with("type", "string")
                    .with("enum", strings(&names));
            }
        }
        self.value_schema(f)
    }

    fn request_body(&mut self, b: &Binding) -> Option<Json> {
        if b.raw_request.is_some() {
            let what = match &b.body {
                Body::Field(f) => format!(
                    "the `{}` field of `{}`, a `google.api.HttpBody`",
                    f.proto_name, b.input_message
                ),
                _ => "the `google.api.HttpBody` request".to_string(),
            };
            let streamed = if b.client_streaming {
                " It is streamed upstream as it arrives."
            } else {
                ""
            };
            return Some(
                Json::obj()
                    .with(
                        "description",
                        format!(
                            "Any content, as is: the body becomes the `data` of {what}, and its \
                             Content-Type the `content_type`.{streamed}"
                        ),
                    )
                    .with("content", Json::obj().with("*/*", Json::obj())),
            );
        }
        let (schema, description) = match &b.body {
            Body::None if !b.client_streaming => return None,
            Body::None | Body::Whole => {
                let bound: Vec<Vec<String>> = b
                    .path_vars
                    .iter()
                    .map(|v| v.name.split('.').map(str::to_string).collect())
                    .collect();
                let schema = self.body_schema(&b.input_message, &bound);
                let description = if bound.is_empty() {
                    format!("The `{}` request.", b.input_message)
                } else {
                    format!(
                        "The `{}` request without the fields the path sets.",
                        b.input_message
                    )
                };
                (schema, description)
            }
            Body::Field(f) => {
                let schema = match f.shape {
                    // `null` reads as unset, but an absent body says the same.
                    Shape::Message | Shape::Wrapper => self.value_schema(f),
                    _ => self.field_schema(f, &[]),
                };
                (
                    strip_annotations(schema),
                    format!("The `{}` field of `{}`.", f.proto_name, b.input_message),
                )
            }
        };
        let (content, description) = if b.client_streaming {
            let stream = Json::obj().with("schema", schema);
            (
                Json::obj()
                    .with("application/x-ndjson", stream.clone())
                    .with("application/json", stream),
                format!(
                    "A stream of messages, each {}: JSON objects one after another \
                     (newline-delimited or concatenated), each sent upstream as it arrives.",
                    lowercase_first(&description)
                ),
            )
        } else {
            (
                Json::obj().with("application/json", Json::obj().with("schema", schema)),
                format!("{description} An empty body is an empty message."),
            )
        };
        Some(
            Json::obj()
                .with("description", description)
                .with("content", content),
        )
    }

    /// The request message with the path-bound fields (`bound`, proto paths) left out.
    fn body_schema(&mut self, message: &str, bound: &[Vec<String>]) -> Json {
        if bound.is_empty() || !self.messages.contains_key(message) {
            return self.message_value(message);
        }
        self.message_schema(message, bound)
    }

    fn ok_response(&mut self, b: &Binding) -> Json {
        if b.raw_response.is_some() {
            let what = match &b.response_body {
                Some(f) => format!(
                    "the `{}` field (a `google.api.HttpBody`) of `{}`",
                    f.proto_name, b.output_message
                ),
                None => "the `google.api.HttpBody` reply".to_string(),
            };
            let description = if b.server_streaming {
                format!(
                    "The `data` of {what}, message after message as they arrive with nothing \
                     between them, and the first one's `content_type` as the Content-Type."
                )
            } else {
                format!("The `data` of {what} as is, with its `content_type` as the Content-Type.")
            };
            return Json::obj()
                .with("description", description)
                .with("content", Json::obj().with("*/*", Json::obj()));
        }
        let (schema, what) = match &b.response_body {
            Some(f) => {
                let schema = match (&f.shape, &f.oneof) {
                    // An unset message is written as its default, an empty object.
                    (Shape::Message, _) => self.value_schema(f),
                    (Shape::Singular, Some(_)) => {
                        let v = self.value_schema(f);
                        nullable(v)
                    }
                    _ => self.field_schema(f, &[]),
                };
                (
                    strip_annotations(schema),
                    format!("The `{}` field of `{}`", f.proto_name, b.output_message),
                )
            }
            None => (
                self.message_value(&b.output_message),
                format!("`{}`", b.output_message),
            ),
        };
        let content = if b.server_streaming {
            let error = Json::obj()
                .with("type", "object")
                .with(
                    "properties",
                    Json::obj().with("error", self.reference(STATUS)),
                )
                .with("required", strings(&["error"]))
                .with("additionalProperties", false);
            let line = if self.options.bare_stream_messages {
                Json::obj()
                    .with(
                        "description",
                        "One line of the stream: a message, or a final `error` after which the \
                         stream ends.",
                    )
                    .with("anyOf", Json::Arr(vec![schema, error]))
            } else {
                let result = Json::obj()
                    .with("type", "object")
                    .with("properties", Json::obj().with("result", schema))
                    .with("required", strings(&["result"]))
                    .with("additionalProperties", false);
                Json::obj()
                    .with(
                        "description",
                        "One line of the stream: `{\"result\": message}`, or a final \
                         `{\"error\": status}` after which the stream ends.",
                    )
                    .with("oneOf", Json::Arr(vec![result, error]))
            };
            Json::obj()
                .with("application/x-ndjson", Json::obj().with("schema", line))
                .with(
                    "text/event-stream",
                    Json::obj().with(
                        "schema",
                        Json::obj().with("type", "string").with(
                            "description",
                            "Server-Sent Events (with `Accept: text/event-stream`): one `data:` \
                             event per message, and an `error` event with a `google.rpc.Status` \
                             when the stream fails.",
                        ),
                    ),
                )
        } else {
            Json::obj().with("application/json", Json::obj().with("schema", schema))
        };
        let description = if b.server_streaming {
            format!(
                "A stream of {what}: newline-delimited JSON, one line per message; an error \
                 before the first message is an ordinary error response."
            )
        } else {
            format!("{what}.")
        };
        Json::obj()
            .with("description", description)
            .with("content", content)
    }

    // -----------------------------------------------------------------------------------------
    // Schemas.

    fn component(&mut self, name: &str) -> Json {
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
    fn message_schema(&mut self, name: &str, bound: &[Vec<String>]) -> Json {
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
    fn field_schema(&mut self, f: &Field, nested: &[Vec<String>]) -> Json {
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
    fn value_schema(&mut self, f: &Field) -> Json {
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
    fn message_value(&mut self, name: &str) -> Json {
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
fn nullable(schema: Json) -> Json {
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
fn strip_annotations(schema: Json) -> Json {
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

fn anonymous_parameter(name: &str, deep: bool) -> Json {
    let (description, pattern) = if deep {
        (
            "Any path (`**` in the template), slashes included; not sent upstream.",
            format!("^{SEGMENTS_PATTERN}$"),
        )
    } else {
        (
            "Any one path segment (`*` in the template); not sent upstream.",
            "^[^/]+$".to_string(),
        )
    };
    Json::obj()
        .with("name", name)
        .with("in", "path")
        .with("description", description)
        .with("required", true)
        .with(
            "schema",
            Json::obj().with("type", "string").with("pattern", pattern),
        )
}

/// The regular expression of a capture's sub-template (`shelves/*/books/*`).
fn capture_pattern(sub: &[String]) -> String {
    let mut out = String::new();
    for (i, s) in sub.iter().enumerate() {
        match s.as_str() {
            "*" => {
                if i > 0 {
                    out.push('/');
                }
                out.push_str("[^/]+");
            }
            "**" => {
                if i == 0 {
                    out.push_str(SEGMENTS_PATTERN);
                } else {
                    out.push_str("(/[^/]+)*");
                }
            }
            literal => {
                if i > 0 {
                    out.push('/');
                }
                for c in literal.chars() {
                    if "\\^$.|?*+()[]{}".contains(c) {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    out
}

/// One element of a spelled-out capture.
enum Part {
    Literal(String),
    /// A `*`, with its parameter name.
    Wildcard(String),
    /// A `**`, with its parameter name.
    Deep(String),
}

/// Names the wildcards of a capture as grpc-gateway's `expand_slashed_path_patterns` does: after
/// the literal before each, without its final `s` (`shelves/*` → `{shelve}`, `projects/*` →
/// `{project}`); without such a literal, or when the name is taken, `<field>_<n>`. Names never
/// contain dots, which some tools read as attribute access.
fn expanded_parts(field: &str, segments: &[Segment], used: &mut BTreeSet<String>) -> Vec<Part> {
    let stem = field.replace('.', "_");
    let mut parts = Vec::new();
    let mut previous: Option<&str> = None;
    for (i, s) in segments.iter().enumerate() {
        match s {
            Segment::Literal(l) => {
                parts.push(Part::Literal(l.clone()));
                previous = Some(l);
                continue;
            }
            Segment::Wildcard | Segment::DeepWildcard | Segment::Variable(_) => {}
        }
        let from_literal = previous
            .map(|l| l.strip_suffix('s').unwrap_or(l))
            .filter(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
            .map(str::to_string);
        let mut name = match from_literal {
            Some(n) if !used.contains(&n) => n,
            _ => format!("{stem}_{}", i + 1),
        };
        while used.contains(&name) {
            name.push('_');
        }
        used.insert(name.clone());
        parts.push(if matches!(s, Segment::DeepWildcard) {
            Part::Deep(name)
        } else {
            Part::Wildcard(name)
        });
        previous = None;
    }
    parts
}

/// `shelves/{shelve}/books/{book}`: how a spelled-out capture's value is put together.
fn expanded_value(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Literal(l) => l.clone(),
            Part::Wildcard(n) | Part::Deep(n) => format!("{{{n}}}"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The parameter names of a path key, in order.
fn key_names(key: &str) -> Vec<String> {
    key.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// A path key with its parameter names erased: OpenAPI treats keys of one shape as one path.
fn shape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut inside = false;
    for c in key.chars() {
        match c {
            '{' => {
                inside = true;
                out.push(c);
            }
            '}' => {
                inside = false;
                out.push(c);
            }
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

/// Gives every path of one shape the parameter names of the first binding at that shape (so
/// `PATCH /v1/{book.name=…}` joins `GET /v1/{name=…}` under `/v1/{name}`); a renamed parameter
/// says which field it sets.
fn unify_names(keyed: &mut [(String, Vec<Json>)]) {
    let mut canonical: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, params) in keyed.iter_mut() {
        let names = key_names(key);
        let first = canonical.entry(shape(key)).or_insert_with(|| names.clone());
        if *first == names {
            continue;
        }
        let mut renamed = String::new();
        let mut parts = key.split('{');
        renamed.push_str(parts.next().unwrap_or_default());
        for (part, name) in parts.zip(first.iter()) {
            let tail = part.split_once('}').map_or("", |(_, tail)| tail);
            renamed.push('{');
            renamed.push_str(name);
            renamed.push('}');
            renamed.push_str(tail);
        }
        *key = renamed;
        // Find every parameter before renaming any, so swapped names cannot mix.
        let found: Vec<(usize, &String, &String)> = names
            .iter()
            .zip(first.iter())
            .filter(|(old, new)| old != new)
            .filter_map(|(old, new)| {
                params
                    .iter()
                    .position(|p| {
                        p.get("in") == Some(&Json::from("path"))
                            && p.get("name") == Some(&Json::from(old.as_str()))
                    })
                    .map(|i| (i, old, new))
            })
            .collect();
        for (i, old, new) in found {
            let param = &mut params[i];
            let description = match param.get("description") {
                Some(Json::Str(d)) => d.clone(),
                _ => String::new(),
            };
            param.set("name", new.as_str());
            param.set(
                "description",
                join_paragraphs(&[
                    &format!(
                        "The field `{old}` (named `{new}` like the other operations of this path)."
                    ),
                    &description,
                ]),
            );
        }
    }
}

/// Keeps a path key distinct by renaming its first parameter (`{x}` → `{x_}`).
fn rename_first_parameter(key: &mut String, params: &mut [Json]) {
    let Some(start) = key.find('{') else {
        key.push('_');
        return;
    };
    let Some(len) = key[start..].find('}') else {
        return;
    };
    let old = key[start + 1..start + len].to_string();
    let new = format!("{old}_");
    key.replace_range(start + 1..start + len, &new);
    for p in params.iter_mut() {
        if p.get("name") == Some(&Json::from(old.as_str())) {
            p.set("name", new.as_str());
            break;
        }
    }
}

/// A map key's text form, for `propertyNames` (string keys need none).
fn map_key_pattern(method: &str) -> Option<&'static str> {
    match method {
        "int32" | "int64" => Some(INT64_PATTERN),
        "uint32" | "uint64" => Some(UINT64_PATTERN),
        "bool" => Some("^(true|false)$"),
        _ => None,
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

    #[test]
    fn capture_patterns() {
        let p = |s: &str| capture_pattern(&s.split('/').map(str::to_string).collect::<Vec<_>>());
        assert_eq!(p("shelves/*/books/*"), "shelves/[^/]+/books/[^/]+");
        assert_eq!(p("**"), "[^/]+(/[^/]+)*");
        assert_eq!(p("files/**"), r"files(/[^/]+)*");
        assert_eq!(p("a.b/*"), r"a\.b/[^/]+");
    }

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
