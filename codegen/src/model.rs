//! Step 4: resolve rules and templates against the descriptors into one plain API model.
//!
//! Everything the templates need is computed here — Rust identifiers, type paths, JSON names,
//! the route table in specificity order — and every user error is found here, before anything
//! is rendered. Templates never see a descriptor.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{
    Cardinality, DescriptorPool, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor,
};

use crate::error::{Diagnostic, Error, Location};
use crate::ident;
use crate::json_string;
use crate::load::Loaded;
use crate::rules::{self, HttpRule};
use crate::template::{self, Flat, PathTemplate, Segment};

/// Generation options that shape the model (the rest only shape rendering).
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// Serve methods without a `google.api.http` rule as `POST /pkg.Service/Method` with body `*`.
    pub route_unannotated: bool,
    /// HttpRules from `google.api.Service` YAML files, for methods without an annotation.
    pub http_rules: Vec<crate::service_config::ExternalRule>,
    /// Leave out a method whose rules are invalid, with a note naming it and why, instead of
    /// failing the whole run.
    pub skip_invalid: bool,
    /// Methods not to serve: full names (`pkg.Service.Method`), services (`pkg.Service`) or
    /// prefixes ending in `*` (`pkg.Service.Batch*`, `pkg.*`).
    pub exclude: Vec<String>,
}

impl ModelOptions {
    /// Whether `method` (`pkg.Service.Method`) is excluded by [`exclude`](Self::exclude).
    fn excludes(&self, method: &str) -> bool {
        self.exclude
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => method.starts_with(prefix),
                None => {
                    method == pattern
                        || method
                            .strip_prefix(pattern.as_str())
                            .is_some_and(|rest| rest.starts_with('.') && !rest[1..].contains('.'))
                }
            })
    }
}

/// The note for a method left out because of `d`, with `--skip-invalid-methods`.
fn skipped(d: &Diagnostic) -> String {
    let location = d
        .location
        .as_ref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    format!(
        "{} is skipped: its rules are invalid{location}: {}",
        d.rpc.as_deref().unwrap_or("a method"),
        d.message
    )
}

/// The whole API: what the generated crate serves and the types it speaks.
#[derive(Debug, Clone)]
pub struct Api {
    /// Proto files whose message types are generated, in dependency order.
    pub files: Vec<String>,
    pub messages: Vec<Message>,
    pub enums: Vec<Enum>,
    pub services: Vec<Service>,
    /// One matcher per HTTP method, routes in specificity order.
    pub methods: Vec<MethodRoutes>,
    /// The streaming routes a WebSocket upgrade may take, whatever their HTTP method, in
    /// specificity order (see `websocket_routes`).
    pub websocket: Vec<RouteRef>,
    /// Methods left out, with the reason (printed by the CLI).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub full_name: String,
    pub bindings: Vec<Binding>,
    /// Every method but the excluded ones, bound to HTTP or not: gRPC, gRPC-Web and Connect
    /// clients may call each through the proxy.
    pub grpc_methods: Vec<GrpcMethod>,
    /// The service's comments and options, for the OpenAPI document.
    pub docs: Docs,
}

/// What the proto says about an element besides its type, for API documentation (the OpenAPI
/// document): its comments and whether it is deprecated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Docs {
    /// The leading comment: one space after `//` removed from each line, blank lines between
    /// paragraphs kept, none at either end.
    pub leading: String,
    /// The trailing comment (end of the line, or the line below), in the same form.
    pub trailing: String,
    /// `deprecated = true` in the element's options.
    pub deprecated: bool,
}

/// One HTTP binding of one RPC: everything its handler does.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Handler function name, unique in the crate: `library_service_get_book`, `…_2` for
    /// additional bindings.
    pub ident: String,
    /// The `Route` enum variant: `LibraryServiceGetBook`.
    pub variant: String,
    /// `GET`, `POST`, … or a custom method name.
    pub http_method: String,
    /// Canonical template text, for docs and logs.
    pub template: String,
    /// `/pkg.Service/Method`.
    pub grpc_path: String,
    /// `pkg.Service.Method`, for messages.
    pub rpc: String,
    pub input_type: String,
    pub output_type: String,
    pub doc: Vec<String>,
    pub pattern: Pattern,
    pub path_vars: Vec<PathVar>,
    pub body: Body,
    pub query: Vec<QueryParam>,
    /// Names of the map fields reachable from the query (`labels[k]=v`).
    pub query_maps: Vec<QueryParam>,
    /// The request message's top-level field names, proto and JSON, sorted: with one map in
    /// the query, a bare name is a key of it (`lang=en`) unless it starts with one of these, so
    /// a misspelt nested parameter or a path-bound field is still refused.
    pub request_fields: Vec<String>,
    pub response_body: Option<Field>,
    /// PATCH bindings that derive an unset update mask from the body's JSON keys.
    pub field_mask: Option<DerivedMask>,
    /// Where the rule is written, for errors found across bindings.
    pub location: Option<Location>,
    /// The parsed template, for the OpenAPI document (`template` is its canonical text).
    pub path_template: PathTemplate,
    /// Full proto names of the request and response messages.
    pub input_message: String,
    pub output_message: String,
    pub client_streaming: bool,
    pub server_streaming: bool,
    /// The RPC's comments and options.
    pub rpc_docs: Docs,
    /// The request body is a `google.api.HttpBody`: the raw HTTP body and its Content-Type.
    pub raw_request: Option<RawBody>,
    /// The response (or its `response_body` field) is a `google.api.HttpBody`: written raw.
    pub raw_response: Option<RawBody>,
}

/// A method as the RPC protocols (gRPC, gRPC-Web, Connect) call it.
#[derive(Debug, Clone)]
pub struct GrpcMethod {
    /// `/pkg.Service/Method`.
    pub path: String,
    /// The Rust types of the request and response messages.
    pub input_type: String,
    pub output_type: String,
    pub streaming: Streaming,
    /// `idempotency_level = NO_SIDE_EFFECTS`.
    pub no_side_effects: bool,
}

/// The shape of an RPC: which sides send a stream of messages (DESIGN.md §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    Unary,
    /// One request, a stream of responses: NDJSON, Server-Sent Events or WebSocket frames.
    Server,
    /// A stream of requests (the body, a JSON value at a time), one response.
    Client,
    /// Both at once.
    Bidi,
}

/// Where a binding's `google.api.HttpBody` sits (DESIGN.md §3.9).
#[derive(Debug, Clone)]
pub struct RawBody {
    /// The message's HttpBody field (`file`), or `None` when the message is the HttpBody.
    pub field: Option<String>,
    /// The Rust type of `google.api.HttpBody`.
    pub rust_type: String,
}

/// A PATCH binding with `body: "<field>"` (a message field) whose request has exactly one
/// top-level `google.protobuf.FieldMask` field, not bound by the path: when the client leaves
/// that mask unset, the handler derives it from the JSON keys of the body (DESIGN.md §3.9).
#[derive(Debug, Clone)]
pub struct DerivedMask {
    /// The mask field's proto name, for docs.
    pub name: String,
    /// The request field that receives the mask: `update_mask`.
    pub field: String,
    /// The body field's message type, whose generated walker lists the paths.
    pub body_type: String,
    /// Its full proto name: the walkers are generated for it and the messages it reaches.
    pub body_message: String,
}

/// How a route's path is matched: a slice pattern over the raw segments.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Slice pattern elements: `"v1"` literals, `_` for one segment, `..` for `**`.
    pub elements: Vec<String>,
    pub verb: Option<String>,
    /// Per path variable: the segment range it captures.
    pub captures: Vec<Capture>,
    /// Specificity key: literal 0, end 1, `*` 2, `**` 3, then verb before no verb.
    key: Vec<u8>,
    /// The template's shape with variables erased, to find duplicates.
    shape: String,
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub start: usize,
    /// Exclusive end; `None` means up to the `tail` segments that end the path (`**`).
    pub end: Option<usize>,
    /// For a capture holding `**`: how many literal segments follow it in the template.
    pub tail: usize,
}

impl Capture {
    /// The capture's end as an expression over the matched `Segments` named `p`.
    pub fn end_expr(&self) -> String {
        match (self.end, self.tail) {
            (Some(end), _) => end.to_string(),
            (None, 0) => "usize::MAX".to_string(),
            (None, tail) => format!("p.all().len() - {tail}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PathVar {
    /// The field path as written: `book.name`.
    pub name: String,
    pub multi_segment: bool,
    pub setter: Setter,
}

/// How to store a value parsed from text into a (possibly nested) request field.
#[derive(Debug, Clone)]
pub struct Setter {
    /// Message fields to descend through (each `Option<M>` is created when unset).
    pub parents: Vec<Parent>,
    pub field: String,
    /// The `runtime::scalar` parser, with its type argument: `parse_enum::<…>`.
    pub parse: String,
    pub assign: Assign,
}

/// A message field a [`Setter`] descends through.
#[derive(Debug, Clone)]
pub struct Parent {
    /// The struct field: `filter`, or for a oneof member the oneof's field.
    pub field: String,
    /// For a oneof member (`{no.note}`, `no` in a oneof), the member that is set.
    pub member: Option<ParentMember>,
}

/// The oneof member a [`Parent`] descends into.
#[derive(Debug, Clone)]
pub struct ParentMember {
    /// The member's enum variant: `echo_message::Choice::No`.
    pub variant: String,
    /// Whether it is the oneof's only member (its `match` then needs no other arm).
    pub only: bool,
}

impl Parent {
    fn field(ident: String) -> Self {
        Parent {
            field: ident,
            member: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assign {
    /// `field = v`
    Set,
    /// `field = Some(v)`
    SetSome,
    /// `field.push(v)`
    Push,
    /// `field.insert(k, v)`, the key parsed with this parser.
    Insert(String),
    /// `field = Some(Enum::Variant(v))`, once per oneof.
    Oneof {
        enum_type: String,
        variant: String,
        oneof: String,
    },
}

#[derive(Debug, Clone)]
pub struct QueryParam {
    /// Accepted names: proto path and JSON path (`filter.in_print`, `filter.inPrint`).
    pub names: Vec<String>,
    pub setter: Setter,
    /// Repeated fields may be given many times; singular ones once.
    pub repeated: bool,
    /// Index for the "given twice" check.
    pub index: usize,
    /// The field the parameter sets (the map field for `labels[k]=v`), for its type and docs.
    pub field: Box<Field>,
}

impl QueryParam {
    /// The accepted names as a Rust match pattern of string literals (`"a_b" | "aB"`).
    pub fn name_pattern(&self) -> String {
        self.names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    /// `body: "*"`: the whole request message.
    Whole,
    /// `body: "field"`: one top-level field.
    Field(Box<Field>),
}

/// A message type with its JSON field table.
#[derive(Debug, Clone)]
pub struct Message {
    pub full_name: String,
    pub rust_type: String,
    /// All fields in declaration order; their position is their index in the JSON field table.
    pub fields: Vec<Field>,
    /// What to write, in declaration order: plain fields, and each oneof once.
    pub items: Vec<Item>,
    /// Generate the field-mask walker (`FieldMaskPaths`): a mask-deriving PATCH body reaches
    /// this message.
    pub mask_paths: bool,
    pub docs: Docs,
}

#[derive(Debug, Clone)]
pub enum Item {
    Field(Box<Field>),
    Oneof(Oneof),
}

#[derive(Debug, Clone)]
pub struct Oneof {
    pub ident: String,
    pub members: Vec<Field>,
    /// The oneof's proto name and comments.
    pub name: String,
    pub docs: Docs,
}

#[derive(Debug, Clone)]
pub struct Enum {
    pub full_name: String,
    pub rust_type: String,
    pub docs: Docs,
    /// The values in declaration order (aliases included).
    pub values: Vec<EnumValue>,
}

#[derive(Debug, Clone)]
pub struct EnumValue {
    /// The JSON name: the proto value name.
    pub name: String,
    pub number: i32,
    pub docs: Docs,
}

/// One field as the JSON code sees it.
#[derive(Debug, Clone)]
pub struct Field {
    pub proto_name: String,
    pub json_name: String,
    pub ident: String,
    pub value: Value,
    pub shape: Shape,
    pub oneof: Option<OneofMember>,
    /// A derived field mask descends into this field's JSON object (a singular message field
    /// of a type that is not well-known); otherwise the field is a leaf of the mask.
    pub mask_descends: bool,
    /// The full proto name of the element's message or enum type (a map's value type), empty
    /// for scalars. Wrapper fields name the wrapper (`google.protobuf.Int32Value`).
    pub type_name: String,
    /// For a map: the key's writer method (`string`, `int64`, `bool`, …).
    pub map_key: Option<&'static str>,
    /// `google.api.field_behavior` values by name (`REQUIRED`, `OUTPUT_ONLY`, …).
    pub behavior: Vec<String>,
    pub docs: Docs,
}

#[derive(Debug, Clone)]
pub struct OneofMember {
    /// The struct field holding the oneof: `location`.
    pub ident: String,
    pub name: String,
    pub enum_type: String,
    pub variant: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `T`, written unless default.
    Singular,
    /// `Option<T>` of a scalar with presence: written only when set.
    Optional,
    /// `Option<M>` of a message: `null` when unset and defaults are emitted.
    Message,
    /// `Option<T>` of a wrapper type: like a message, read as its primitive.
    Wrapper,
    Repeated,
    /// `BTreeMap<K, V>`.
    Map,
}

/// The element type of a field: which writer/reader method handles it.
#[derive(Debug, Clone)]
pub struct Value {
    /// `runtime::json::Writer`/`Reader` method: `int64`, `string`, `enumeration`, `message`, …
    pub method: &'static str,
    /// `::<Type>` for `enumeration` and `message`, else empty.
    pub type_arg: String,
    /// `runtime::scalar` parser for text (path and query), if the type has a text form.
    pub parse: Option<String>,
    pub is_message: bool,
}

/// Every route of one HTTP method, most specific first.
#[derive(Debug, Clone)]
pub struct MethodRoutes {
    pub http_method: String,
    /// `match_get`, `match_search`.
    pub matcher: String,
    /// A constant of `http::Method` (`GET`), or empty for custom methods.
    pub constant: String,
    pub routes: Vec<RouteRef>,
}

#[derive(Debug, Clone)]
pub struct RouteRef {
    pub variant: String,
    pub template: String,
    pub pattern: Pattern,
}

const WKT_WRAPPERS: &[(&str, Kind)] = &[
    ("google.protobuf.DoubleValue", Kind::Double),
    ("google.protobuf.FloatValue", Kind::Float),
    ("google.protobuf.Int64Value", Kind::Int64),
    ("google.protobuf.UInt64Value", Kind::Uint64),
    ("google.protobuf.Int32Value", Kind::Int32),
    ("google.protobuf.UInt32Value", Kind::Uint32),
    ("google.protobuf.BoolValue", Kind::Bool),
    ("google.protobuf.StringValue", Kind::String),
    ("google.protobuf.BytesValue", Kind::Bytes),
];

/// Builds the model for the services in `targets`.
pub fn build(loaded: &Loaded, options: &ModelOptions) -> Result<Api, Error> {
    let (pool, targets) = (&loaded.pool, &loaded.targets);
    let mut diagnostics = Vec::new();
    let mut notes = Vec::new();
    let mut services = Vec::new();
    let mut used_idents = BTreeSet::new();
    let mut external: BTreeMap<&str, &crate::service_config::ExternalRule> = options
        .http_rules
        .iter()
        .map(|r| (r.selector.as_str(), r))
        .collect();
    let mut served_methods = Vec::new();

    for file_name in targets {
        let Some(file) = pool.get_file_by_name(file_name) else {
            continue;
        };
        for service in file.services() {
            let mut bindings = Vec::new();
            let mut grpc_methods = Vec::new();
            for method in service.methods() {
                let source = loaded.sources.get(file.name()).map(String::as_str);
                served_methods.push(method.full_name().to_string());
                let yaml_rule = external.remove(method.full_name());
                if options.excludes(method.full_name()) {
                    notes.push(format!(
                        "{} is excluded (--exclude-method); it is not served",
                        method.full_name()
                    ));
                    continue;
                }
                grpc_methods.push(grpc_method(&method));
                let rule = match (rules::http_rule(&method, source), yaml_rule) {
                    (Some(annotation), Some(yaml)) => {
                        diagnostics.push(crate::service_config::conflict(yaml, &annotation));
                        continue;
                    }
                    (None, Some(yaml)) => yaml.rule.clone(),
                    (Some(rule), None) => rule,
                    (None, None) if options.route_unannotated => HttpRule {
                        method: "POST".into(),
                        path: format!("/{}/{}", service.full_name(), method.name()),
                        body: "*".into(),
                        response_body: String::new(),
                        additional_bindings: Vec::new(),
                        location: crate::load::location(&file, method.path()),
                        path_location: None,
                    },
                    (None, None) => {
                        notes.push(format!(
                            "{} has no google.api.http rule; it is served to gRPC, gRPC-Web and Connect clients only (route it as REST with POST /{}/{} by --route-unannotated)",
                            method.full_name(),
                            service.full_name(),
                            method.name()
                        ));
                        continue;
                    }
                };
                let base = format!(
                    "{}_{}",
                    ident::to_snake(service.name()).trim_start_matches("r#"),
                    ident::to_snake(method.name()).trim_start_matches("r#")
                );
                let mut all = vec![(rule.clone(), false)];
                for extra in &rule.additional_bindings {
                    all.push((extra.clone(), true));
                }
                let mut method_bindings = Vec::new();
                let mut method_errors = Vec::new();
                for (i, (r, additional)) in all.iter().enumerate() {
                    if *additional && !r.additional_bindings.is_empty() {
                        method_errors.push(
                            Diagnostic::new("additional_bindings may not nest additional_bindings")
                                .at(r.location.clone())
                                .rpc(method.full_name())
                                .help("move the inner bindings up into the rule's own additional_bindings list"),
                        );
                        continue;
                    }
                    let mut ident = if i == 0 {
                        base.clone()
                    } else {
                        format!("{base}_{}", i + 1)
                    };
                    while !used_idents.insert(ident.clone()) {
                        ident.push('_');
                    }
                    match binding(&method, r, ident) {
                        Ok(b) => method_bindings.push(b),
                        Err(d) => method_errors.push(d),
                    }
                }
                match method_errors.first() {
                    None => bindings.append(&mut method_bindings),
                    Some(first) if options.skip_invalid => notes.push(skipped(first)),
                    Some(_) => diagnostics.append(&mut method_errors),
                }
            }
            services.push(Service {
                full_name: service.full_name().to_string(),
                bindings,
                grpc_methods,
                docs: docs(
                    &file,
                    service.path(),
                    service
                        .service_descriptor_proto()
                        .options
                        .as_ref()
                        .is_some_and(|o| o.deprecated()),
                ),
            });
        }
    }

    let unmatched: Vec<_> = external.into_values().collect();
    diagnostics.extend(crate::service_config::unmatched(
        &unmatched,
        pool,
        &served_methods,
    ));
    let methods = loop {
        match route_table(&services) {
            Ok(m) => break m,
            // Two bindings that match the same requests: the method of the later one is left
            // out, and the table is made again without it.
            Err(mut conflicts) => {
                let mut removed = false;
                for d in conflicts.iter().filter(|_| options.skip_invalid) {
                    let Some(rpc) = &d.rpc else { continue };
                    let mut skipped_now = false;
                    for service in &mut services {
                        let before = service.bindings.len();
                        service.bindings.retain(|b| &b.rpc != rpc);
                        skipped_now |= service.bindings.len() != before;
                    }
                    if skipped_now {
                        notes.push(skipped(d));
                        removed = true;
                    }
                }
                if !removed {
                    diagnostics.append(&mut conflicts);
                    break Vec::new();
                }
            }
        }
    };
    if diagnostics.is_empty() && services.iter().all(|s| s.bindings.is_empty()) {
        let why = if notes.iter().any(|n| n.contains(" is skipped: ")) {
            "every RPC with a google.api.http rule was skipped as invalid"
        } else {
            "no RPC has a google.api.http rule"
        };
        diagnostics.push(
            Diagnostic::new(format!("nothing to serve in {}: {why}", targets.join(", ")))
                .help("annotate methods with `option (google.api.http) = { get: \"/v1/…\" };`, or pass --route-unannotated"),
        );
    }
    let websocket = websocket_routes(&services);
    if !diagnostics.is_empty() {
        diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
        return Err(Error::Invalid(diagnostics));
    }

    let files = generated_files(pool, targets);
    let mut messages = Vec::new();
    let mut enums = Vec::new();
    for file in pool.files() {
        if !files.iter().any(|f| f == file.name()) {
            continue;
        }
        for message in file.messages() {
            collect_types(&message, &mut messages, &mut enums);
        }
        for e in file.enums() {
            enums.push(enum_model(&e));
        }
    }
    messages.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    enums.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    let walkers = mask_walkers(pool, &services);
    for m in &mut messages {
        m.mask_paths = walkers.contains(&m.full_name);
    }
    notes.sort();

    Ok(Api {
        files,
        messages,
        enums,
        services,
        methods,
        websocket,
        notes,
    })
}

/// The files whose types the generated crate needs: the targets and every file they depend on
/// for message types, except the well-known types (prost-types has those).
fn generated_files(pool: &DescriptorPool, targets: &[String]) -> Vec<String> {
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = targets.to_vec();
    stack.extend(crate::load::ERROR_TYPES.iter().map(|s| s.to_string()));
    while let Some(name) = stack.pop() {
        if crate::well_known::is_file(&name) || !needed.insert(name.clone()) {
            continue;
        }
        let Some(file) = pool.get_file_by_name(&name) else {
            continue;
        };
        let mut deps = BTreeSet::new();
        let mut visit = |m: &MessageDescriptor| {
            for f in m.fields() {
                if let Kind::Message(t) = f.kind() {
                    deps.insert(t.parent_file().name().to_string());
                }
                if let Kind::Enum(t) = f.kind() {
                    deps.insert(t.parent_file().name().to_string());
                }
            }
        };
        for m in file.messages() {
            for_each_message(&m, &mut visit);
        }
        for s in file.services() {
            for m in s.methods() {
                deps.insert(m.input().parent_file().name().to_string());
                deps.insert(m.output().parent_file().name().to_string());
            }
        }
        stack.extend(deps);
    }
    // Dependency order, as the pool holds them: prost resolves across packages either way, but a
    // stable order keeps the output deterministic.
    pool.files()
        .map(|f| f.name().to_string())
        .filter(|n| needed.contains(n))
        .collect()
}

fn for_each_message(m: &MessageDescriptor, f: &mut impl FnMut(&MessageDescriptor)) {
    f(m);
    for child in m.child_messages() {
        for_each_message(&child, f);
    }
}

fn collect_types(m: &MessageDescriptor, messages: &mut Vec<Message>, enums: &mut Vec<Enum>) {
    if m.is_map_entry() {
        return;
    }
    messages.push(message_model(m));
    for child in m.child_messages() {
        collect_types(&child, messages, enums);
    }
    for e in m.child_enums() {
        enums.push(enum_model(&e));
    }
}

fn enum_model(e: &EnumDescriptor) -> Enum {
    let file = e.parent_file();
    Enum {
        full_name: e.full_name().to_string(),
        rust_type: enum_type(e),
        docs: docs(
            &file,
            e.path(),
            e.enum_descriptor_proto()
                .options
                .as_ref()
                .is_some_and(|o| o.deprecated()),
        ),
        values: e
            .values()
            .map(|v| EnumValue {
                name: v.name().to_string(),
                number: v.number(),
                docs: docs(
                    &file,
                    v.path(),
                    v.enum_value_descriptor_proto()
                        .options
                        .as_ref()
                        .is_some_and(|o| o.deprecated()),
                ),
            })
            .collect(),
    }
}

fn message_model(m: &MessageDescriptor) -> Message {
    let fields: Vec<Field> = m.fields().map(|f| field_model(&f)).collect();
    let mut items = Vec::new();
    let mut seen_oneofs = BTreeSet::new();
    for (f, model) in m.fields().zip(&fields) {
        match real_oneof(&f) {
            Some(oneof) => {
                if seen_oneofs.insert(oneof.name().to_string()) {
                    let members = m
                        .fields()
                        .zip(&fields)
                        .filter(|(g, _)| real_oneof(g).is_some_and(|o| o.name() == oneof.name()))
                        .map(|(_, model)| model.clone())
                        .collect();
                    items.push(Item::Oneof(Oneof {
                        ident: ident::to_snake(oneof.name()),
                        members,
                        name: oneof.name().to_string(),
                        docs: docs(&m.parent_file(), oneof.path(), false),
                    }));
                }
            }
            None => items.push(Item::Field(Box::new(model.clone()))),
        }
    }
    Message {
        full_name: m.full_name().to_string(),
        rust_type: message_type(m),
        fields,
        items,
        mask_paths: false,
        docs: docs(
            &m.parent_file(),
            m.path(),
            m.descriptor_proto()
                .options
                .as_ref()
                .is_some_and(|o| o.deprecated()),
        ),
    }
}

/// The oneof a field belongs to, unless it is the synthetic oneof of a proto3 `optional`.
fn real_oneof(f: &FieldDescriptor) -> Option<prost_reflect::OneofDescriptor> {
    f.containing_oneof().filter(|o| !o.is_synthetic())
}

fn field_model(f: &FieldDescriptor) -> Field {
    let oneof = real_oneof(f).map(|o| OneofMember {
        ident: ident::to_snake(o.name()),
        name: o.name().to_string(),
        enum_type: format!(
            "{}::{}",
            message_module(f.parent_message()),
            ident::to_upper_camel(o.name())
        ),
        variant: ident::to_upper_camel(f.name()),
    });
    // A map field's kind is always its entry message; prost-reflect guarantees it.
    let map_entry = match f.kind() {
        Kind::Message(entry) if f.is_map() => Some(entry),
        _ => None,
    };
    let (value, shape) = if let Some(entry) = &map_entry {
        (value_model(&entry.map_entry_value_field()), Shape::Map)
    } else {
        let value = value_model(f);
        let shape = if f.is_list() {
            Shape::Repeated
        } else if oneof.is_some() {
            Shape::Singular
        } else if let Kind::Message(m) = f.kind() {
            if wrapper_kind(&m).is_some() {
                Shape::Wrapper
            } else {
                Shape::Message
            }
        } else if f.supports_presence() && f.cardinality() != Cardinality::Required {
            // prost stores a proto2 `required` scalar as a plain `T`.
            Shape::Optional
        } else {
            Shape::Singular
        };
        (value, shape)
    };
    Field {
        proto_name: f.name().to_string(),
        json_name: f.json_name().to_string(),
        ident: ident::to_snake(f.name()),
        value,
        shape,
        oneof,
        mask_descends: mask_message(f).is_some(),
        type_name: match map_entry
            .as_ref()
            .map_or(f.kind(), |e| e.map_entry_value_field().kind())
        {
            Kind::Message(m) => m.full_name().to_string(),
            Kind::Enum(e) => e.full_name().to_string(),
            _ => String::new(),
        },
        map_key: map_entry
            .as_ref()
            .and_then(|e| scalar_value(&e.map_entry_key_field().kind()))
            .map(|(method, _)| method),
        behavior: field_behavior(f),
        docs: docs(
            &f.parent_file(),
            f.path(),
            f.field_descriptor_proto()
                .options
                .as_ref()
                .is_some_and(|o| o.deprecated()),
        ),
    }
}

/// The comments of the element at `path` in `file` (`SourceCodeInfo`), for documentation.
fn docs(file: &prost_reflect::FileDescriptor, path: &[i32], deprecated: bool) -> Docs {
    let location = file
        .file_descriptor_proto()
        .source_code_info
        .as_ref()
        .and_then(|info| info.location.iter().find(|l| l.path == path));
    let text = |comment: Option<&String>| {
        let lines: Vec<&str> = comment
            .map(|c| {
                c.lines()
                    .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
                    .collect()
            })
            .unwrap_or_default();
        lines.join("\n").trim_matches('\n').to_string()
    };
    Docs {
        leading: text(location.and_then(|l| l.leading_comments.as_ref())),
        trailing: text(location.and_then(|l| l.trailing_comments.as_ref())),
        deprecated,
    }
}

/// The `google.api.field_behavior` values of a field, by name.
fn field_behavior(f: &FieldDescriptor) -> Vec<String> {
    let Some(extension) = f
        .parent_pool()
        .get_extension_by_name("google.api.field_behavior")
    else {
        return Vec::new();
    };
    let options = f.options();
    if !options.has_extension(&extension) {
        return Vec::new();
    }
    let prost_reflect::Kind::Enum(behavior) = extension.kind() else {
        return Vec::new();
    };
    let value = options.get_extension(&extension);
    let numbers: Vec<i32> = match value.as_ref() {
        prost_reflect::Value::List(items) => items
            .iter()
            .filter_map(prost_reflect::Value::as_enum_number)
            .collect(),
        prost_reflect::Value::EnumNumber(n) => vec![*n],
        _ => Vec::new(),
    };
    numbers
        .into_iter()
        .filter_map(|n| behavior.get_value(n).map(|v| v.name().to_string()))
        .collect()
}

/// The message a derived field mask descends into for `f`: a singular message field whose type
/// is not a well-known type (those, like scalars, repeated fields and maps, are leaves).
fn mask_message(f: &FieldDescriptor) -> Option<MessageDescriptor> {
    if f.is_list() || f.is_map() {
        return None;
    }
    match f.kind() {
        Kind::Message(m) if !m.full_name().starts_with("google.protobuf.") => Some(m),
        _ => None,
    }
}

/// Whether a PATCH binding derives its update mask from the body, and into which field.
fn derived_mask(
    http_method: &str,
    input: &MessageDescriptor,
    body: &str,
    bound: &BTreeSet<Vec<String>>,
) -> Option<DerivedMask> {
    if http_method != "PATCH" {
        return None;
    }
    let body_message = mask_message(&input.get_field_by_name(body)?)?;
    if body_message.full_name() == "google.api.HttpBody" {
        // A raw upload, not JSON keys.
        return None;
    }
    let mut masks = input.fields().filter(
        |f| matches!(f.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.FieldMask"),
    );
    let (mask, None) = (masks.next()?, masks.next()) else {
        return None;
    };
    if mask.is_list()
        || real_oneof(&mask).is_some()
        || bound.contains(&vec![mask.name().to_string()])
    {
        return None;
    }
    Some(DerivedMask {
        name: mask.name().to_string(),
        field: ident::to_snake(mask.name()),
        body_type: message_type(&body_message),
        body_message: body_message.full_name().to_string(),
    })
}

/// The messages whose field-mask walkers the derived masks need: each body message and every
/// message reachable from it through descended fields.
fn mask_walkers(pool: &DescriptorPool, services: &[Service]) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    let mut stack: Vec<String> = services
        .iter()
        .flat_map(|s| &s.bindings)
        .filter_map(|b| b.field_mask.as_ref().map(|m| m.body_message.clone()))
        .collect();
    while let Some(name) = stack.pop() {
        if !needed.insert(name.clone()) {
            continue;
        }
        if let Some(m) = pool.get_message_by_name(&name) {
            stack.extend(
                m.fields()
                    .filter_map(|f| mask_message(&f))
                    .map(|m| m.full_name().to_string()),
            );
        }
    }
    needed
}

fn wrapper_kind(m: &MessageDescriptor) -> Option<Kind> {
    WKT_WRAPPERS
        .iter()
        .find(|(name, _)| *name == m.full_name())
        .map(|(_, k)| k.clone())
}

/// The Rust type prost gives a wrapper message (`google.protobuf.StringValue` is a `String`),
/// which is how an RPC taking or returning one is typed.
fn wrapper_rust_type(kind: &Kind) -> &'static str {
    match kind {
        Kind::Double => "f64",
        Kind::Float => "f32",
        Kind::Int64 => "i64",
        Kind::Uint64 => "u64",
        Kind::Int32 => "i32",
        Kind::Uint32 => "u32",
        Kind::Bool => "bool",
        Kind::Bytes => "::prost::alloc::vec::Vec<u8>",
        _ => "::prost::alloc::string::String",
    }
}

fn scalar_value(kind: &Kind) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        Kind::Double => ("double", "parse_f64"),
        Kind::Float => ("float", "parse_f32"),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => ("int32", "parse_i32"),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => ("int64", "parse_i64"),
        Kind::Uint32 | Kind::Fixed32 => ("uint32", "parse_u32"),
        Kind::Uint64 | Kind::Fixed64 => ("uint64", "parse_u64"),
        Kind::Bool => ("bool", "parse_bool"),
        Kind::String => ("string", "parse_string"),
        Kind::Bytes => ("bytes", "parse_bytes"),
        Kind::Message(_) | Kind::Enum(_) => return None,
    })
}

fn value_model(f: &FieldDescriptor) -> Value {
    let kind = f.kind();
    if let Some((method, parse)) = scalar_value(&kind) {
        return Value {
            method,
            type_arg: String::new(),
            parse: Some(parse.to_string()),
            is_message: false,
        };
    }
    match kind {
        Kind::Enum(e) => {
            let ty = enum_type(&e);
            Value {
                method: "enumeration",
                type_arg: format!("::<{ty}>"),
                parse: Some(format!("parse_enum::<{ty}>")),
                is_message: false,
            }
        }
        Kind::Message(m) => {
            if let Some(inner) = wrapper_kind(&m) {
                let (method, parse) = scalar_value(&inner).unwrap_or(("string", "parse_string"));
                return Value {
                    method,
                    type_arg: String::new(),
                    parse: Some(parse.to_string()),
                    is_message: false,
                };
            }
            let parse = match m.full_name() {
                "google.protobuf.Timestamp" => Some("parse_timestamp".to_string()),
                "google.protobuf.Duration" => Some("parse_duration".to_string()),
                "google.protobuf.FieldMask" => Some("parse_field_mask".to_string()),
                _ => None,
            };
            Value {
                method: "message",
                type_arg: format!("::<{}>", message_type(&m)),
                parse,
                is_message: true,
            }
        }
        _ => Value {
            method: "string",
            type_arg: String::new(),
            parse: None,
            is_message: false,
        },
    }
}

/// The Rust module prost puts a package's types in, seen from a module directly below the root.
fn package_module(package: &str) -> String {
    let mut path = String::from("super::proto");
    for part in package.split('.').filter(|p| !p.is_empty()) {
        path.push_str("::");
        path.push_str(&ident::to_snake(part));
    }
    path
}

/// The module prost puts a message's nested types in: `…::book`.
fn message_module(m: &MessageDescriptor) -> String {
    format!(
        "{}::{}",
        scope(m.package_name(), m.parent_message()),
        ident::to_snake(m.name())
    )
}

fn scope(package: &str, parent: Option<MessageDescriptor>) -> String {
    match parent {
        Some(p) => message_module(&p),
        None => package_module(package),
    }
}

/// `method` as the RPC protocols call it.
fn grpc_method(method: &MethodDescriptor) -> GrpcMethod {
    let streaming = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => Streaming::Unary,
        (false, true) => Streaming::Server,
        (true, false) => Streaming::Client,
        (true, true) => Streaming::Bidi,
    };
    let no_side_effects = method
        .method_descriptor_proto()
        .options
        .as_ref()
        .is_some_and(|o| {
            o.idempotency_level() == prost_types::method_options::IdempotencyLevel::NoSideEffects
        });
    GrpcMethod {
        path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        input_type: message_type(&method.input()),
        output_type: message_type(&method.output()),
        streaming,
        no_side_effects,
    }
}

/// Where the generated code finds prost-types: through the runtime, which the generated crate
/// (or the crate including the module) depends on anyway.
pub const PROST_TYPES: &str = "::protogate_runtime::codegen::prost_types";

/// The Rust type of a message, as seen from a module directly below the generated root.
pub fn message_type(m: &MessageDescriptor) -> String {
    if let Some(kind) = wrapper_kind(m) {
        return wrapper_rust_type(&kind).to_string();
    }
    match m.full_name() {
        "google.protobuf.Empty" => return "()".to_string(),
        name if name.starts_with("google.protobuf.") => {
            return format!("{PROST_TYPES}::{}", ident::to_upper_camel(m.name()));
        }
        _ => {}
    }
    format!(
        "{}::{}",
        scope(m.package_name(), m.parent_message()),
        ident::to_upper_camel(m.name())
    )
}

fn enum_type(e: &EnumDescriptor) -> String {
    if e.full_name().starts_with("google.protobuf.") {
        return format!("{PROST_TYPES}::{}", ident::to_upper_camel(e.name()));
    }
    format!(
        "{}::{}",
        scope(e.package_name(), e.parent_message()),
        ident::to_upper_camel(e.name())
    )
}

fn binding(
    method: &MethodDescriptor,
    rule: &HttpRule,
    ident: String,
) -> Result<Binding, Diagnostic> {
    let rpc = method.full_name().to_string();
    let err = |message: String, help: &str| {
        Diagnostic::new(message)
            .at(rule.location.clone())
            .rpc(rpc.clone())
            .help(help.to_string())
    };
    if rule.method.is_empty() {
        return Err(err(
            "the rule sets no HTTP method and path".into(),
            "set one of get, put, post, delete, patch or custom: { kind: \"…\" path: \"…\" }",
        ));
    }
    if !rule
        .method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(err(
            format!("`{}` is not a valid HTTP method name", rule.method),
            "a custom kind is an HTTP token such as SEARCH or PURGE",
        ));
    }
    let template = template::parse(&rule.path).map_err(|e| {
        let location = rule.path_location.clone().map(|l| Location {
            // The template's column within the quoted string (after the opening quote).
            column: l.column + 1 + e.offset as u32,
            ..l
        });
        Diagnostic::new(format!(
            "invalid path template `{}`: {}",
            rule.path, e.message
        ))
        .at(location.or_else(|| rule.location.clone()))
        .rpc(rpc.clone())
        .help(e.hint.clone())
    })?;
    let input = method.input();
    let output = method.output();

    if method.is_client_streaming() && !template.variables().is_empty() {
        return Err(err(
            format!(
                "client-streaming RPC with path variables in `{}`",
                rule.path
            ),
            "a client stream carries its messages in the body; move the variables into the messages",
        ));
    }
    let http_method = rule.method.clone();
    let body = match rule.body.as_str() {
        // A client stream's messages are its body, whether or not the rule says so (as
        // grpc-gateway serves `post: "/stream" ` with no `body`).
        "" if method.is_client_streaming() && !matches!(http_method.as_str(), "GET" | "DELETE") => {
            Body::Whole
        }
        "" => Body::None,
        _ if matches!(http_method.as_str(), "GET" | "DELETE") => {
            return Err(err(
                format!("{http_method} with a body (`body: \"{}\"`)", rule.body),
                "GET and DELETE requests carry no body; remove `body` or use POST, PUT or PATCH",
            ));
        }
        "*" => Body::Whole,
        name => match input.get_field_by_name(name) {
            Some(f) => Body::Field(Box::new(field_model(&f))),
            None => {
                return Err(err(
                    format!(
                        "body field `{name}` does not exist in {}",
                        input.full_name()
                    ),
                    &format!(
                        "name a top-level field of {}, or use \"*\" for the whole message",
                        input.full_name()
                    ),
                ));
            }
        },
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        name => match output.get_field_by_name(name) {
            Some(f) => Some(field_model(&f)),
            None => {
                return Err(err(
                    format!(
                        "response_body field `{name}` does not exist in {}",
                        output.full_name()
                    ),
                    &format!(
                        "name a top-level field of {}, or remove response_body",
                        output.full_name()
                    ),
                ));
            }
        },
    };
    if method.is_client_streaming() && matches!(body, Body::None) {
        return Err(err(
            format!(
                "client-streaming RPC bound to {http_method} in `{}`",
                rule.path
            ),
            "a client stream carries its messages in the body, which GET and DELETE requests do not have; use POST, PUT or PATCH",
        ));
    }
    let raw_request = match &body {
        Body::Whole => raw_body(&input, None),
        Body::Field(f) => input
            .get_field_by_name(&f.proto_name)
            .and_then(|field| raw_body(&input, Some(&field))),
        Body::None => None,
    };
    let raw_response = match &response_body {
        None => raw_body(&output, None),
        Some(f) => output
            .get_field_by_name(&f.proto_name)
            .and_then(|field| raw_body(&output, Some(&field))),
    };

    // Path variables.
    let mut path_vars = Vec::new();
    let mut bound: BTreeSet<Vec<String>> = BTreeSet::new();
    for var in template.variables() {
        let name = var.field_path.join(".");
        let setter = resolve_path_field(&input, &var.field_path).map_err(|(why, help)| {
            err(
                format!("path variable `{{{name}}}` in `{}`: {why}", rule.path),
                help.as_deref().unwrap_or(
                    "bind path variables to singular scalar, enum, Timestamp, Duration or wrapper fields",
                ),
            )
        })?;
        let multi_segment = !matches!(var.segments.as_slice(), [Segment::Wildcard]);
        bound.insert(var.field_path.clone());
        path_vars.push(PathVar {
            name,
            multi_segment,
            setter,
        });
    }

    // A client stream's messages each have their own body: no mask is derived for them.
    let field_mask = derived_mask(&http_method, &input, &rule.body, &bound)
        .filter(|_| !method.is_client_streaming());

    // Query parameters: every field bound by neither the path nor the body.
    let mut query = Vec::new();
    let mut query_maps = Vec::new();
    match &body {
        Body::Whole => {}
        Body::Field(f) => {
            bound.insert(vec![f.proto_name.clone()]);
            query_fields(
                &input,
                &mut Vec::new(),
                &mut Vec::new(),
                &bound,
                &mut query,
                &mut query_maps,
                &mut vec![input.full_name().to_string()],
            );
        }
        Body::None => {
            query_fields(
                &input,
                &mut Vec::new(),
                &mut Vec::new(),
                &bound,
                &mut query,
                &mut query_maps,
                &mut vec![input.full_name().to_string()],
            );
        }
    }

    let pattern = pattern(&template);
    let mut doc = vec![format!(
        "`{http_method} {template}` → `{}`",
        method.full_name()
    )];
    let comments = method_comments(method);
    if !comments.is_empty() {
        doc.push(String::new());
        doc.extend(comments);
    }
    if let Some(mask) = &field_mask {
        doc.push(String::new());
        doc.push(format!(
            "An unset `{}` lists the fields in the JSON body, relative to `{}`.",
            mask.name, rule.body
        ));
    }
    Ok(Binding {
        variant: ident::to_upper_camel(&ident),
        ident,
        http_method,
        template: template.to_string(),
        grpc_path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        rpc,
        input_type: message_type(&input),
        output_type: message_type(&output),
        doc,
        pattern,
        path_vars,
        body,
        query,
        query_maps,
        request_fields: input
            .fields()
            .flat_map(|f| [f.name().to_string(), f.json_name().to_string()])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        response_body,
        field_mask,
        location: rule.location.clone(),
        path_template: template,
        input_message: input.full_name().to_string(),
        output_message: output.full_name().to_string(),
        client_streaming: method.is_client_streaming(),
        server_streaming: method.is_server_streaming(),
        rpc_docs: docs(
            &method.parent_file(),
            method.path(),
            method
                .method_descriptor_proto()
                .options
                .as_ref()
                .is_some_and(|o| o.deprecated()),
        ),
        raw_request,
        raw_response,
    })
}

/// The `google.api.HttpBody` of a message: the message itself (`field` is `None`) or one of its
/// singular fields.
fn raw_body(message: &MessageDescriptor, field: Option<&FieldDescriptor>) -> Option<RawBody> {
    const HTTP_BODY: &str = "google.api.HttpBody";
    match field {
        None => (message.full_name() == HTTP_BODY).then(|| RawBody {
            field: None,
            rust_type: message_type(message),
        }),
        Some(f) if f.is_list() || f.is_map() => None,
        Some(f) => match f.kind() {
            Kind::Message(m) if m.full_name() == HTTP_BODY => Some(RawBody {
                field: Some(ident::to_snake(f.name())),
                rust_type: message_type(&m),
            }),
            _ => None,
        },
    }
}

/// The routes a WebSocket upgrade may take: every streaming binding, whatever its HTTP method
/// (an upgrade is a `GET`, or a `CONNECT` over HTTP/2), most specific first. Of two bindings
/// with the same template shape the `GET` one wins, then the first by method name.
fn websocket_routes(services: &[Service]) -> Vec<RouteRef> {
    let mut streaming: Vec<&Binding> = services
        .iter()
        .flat_map(|s| &s.bindings)
        .filter(|b| b.streaming() != Streaming::Unary)
        .collect();
    streaming.sort_by(|a, b| {
        a.pattern
            .key
            .cmp(&b.pattern.key)
            .then_with(|| a.pattern.shape.cmp(&b.pattern.shape))
            .then_with(|| (a.http_method != "GET").cmp(&(b.http_method != "GET")))
            .then_with(|| a.http_method.cmp(&b.http_method))
            .then_with(|| a.ident.cmp(&b.ident))
    });
    streaming.dedup_by(|later, earlier| later.pattern.shape == earlier.pattern.shape);
    streaming
        .into_iter()
        .map(|b| RouteRef {
            variant: b.variant.clone(),
            template: format!("{} {}", b.http_method, b.template),
            pattern: b.pattern.clone(),
        })
        .collect()
}

fn method_comments(method: &MethodDescriptor) -> Vec<String> {
    let file = method.parent_file();
    let Some(info) = file.file_descriptor_proto().source_code_info.as_ref() else {
        return Vec::new();
    };
    info.location
        .iter()
        .find(|l| l.path == method.path())
        .and_then(|l| l.leading_comments.as_deref())
        .map(|c| {
            c.lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Resolves a path variable's field path to a setter, or says why it cannot be bound.
/// Resolves a path variable's field path to a setter, or says why it cannot be bound, with a
/// help of its own where the general one (which fields can be bound) is not the fix.
fn resolve_path_field(
    input: &MessageDescriptor,
    path: &[String],
) -> Result<Setter, (String, Option<String>)> {
    if wrapper_kind(input).is_some() {
        return Err((
            format!(
                "the request is a {}, a plain value with no fields to bind",
                input.full_name()
            ),
            Some("take the request from the body with `body: \"*\"` and no path variables".into()),
        ));
    }
    let mut message = input.clone();
    let mut parents = Vec::new();
    for (i, name) in path.iter().enumerate() {
        let Some(field) = message.get_field_by_name(name) else {
            let fields: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
            let help = match crate::suggest::closest(name, fields.iter().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`?"),
                None if fields.is_empty() => format!("{} has no fields", message.full_name()),
                None => format!(
                    "name a field of {}: {}",
                    message.full_name(),
                    fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err((
                format!("{} has no field `{name}`", message.full_name()),
                Some(help),
            ));
        };
        let last = i + 1 == path.len();
        if !last {
            if field.is_list() || field.is_map() {
                return Err((
                    format!("`{name}` is a repeated or map field and cannot be descended into"),
                    None,
                ));
            }
            match field.kind() {
                Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => {
                    return Err((
                        format!(
                            "`{name}` is a {} (a well-known type with its own JSON form) and cannot be descended into",
                            m.full_name()
                        ),
                        None,
                    ));
                }
                Kind::Message(m) => {
                    parents.push(match real_oneof(&field) {
                        Some(oneof) => {
                            let member = field_model(&field).oneof;
                            Parent {
                                field: ident::to_snake(oneof.name()),
                                member: member.map(|o| ParentMember {
                                    variant: format!("{}::{}", o.enum_type, o.variant),
                                    only: oneof.fields().len() == 1,
                                }),
                            }
                        }
                        None => Parent::field(ident::to_snake(name)),
                    });
                    message = m;
                }
                _ => {
                    return Err((
                        format!(
                            "`{name}` is not a message field and has no field `{}`",
                            path[i + 1]
                        ),
                        None,
                    ));
                }
            }
            continue;
        }
        if field.is_list() || field.is_map() {
            return Err((format!("`{name}` is a repeated or map field"), None));
        }
        let model = field_model(&field);
        let Some(parse) = model.value.parse.clone() else {
            return Err((format!("`{name}` is a message field"), None));
        };
        let assign = assign_for(&model);
        return Ok(Setter {
            parents,
            field: model
                .oneof
                .as_ref()
                .map_or(model.ident.clone(), |o| o.ident.clone()),
            parse: scalar_fn(&parse),
            assign,
        });
    }
    Err(("the field path is empty".into(), None))
}

fn scalar_fn(parse: &str) -> String {
    format!("runtime::scalar::{parse}")
}

fn assign_for(model: &Field) -> Assign {
    if let Some(o) = &model.oneof {
        return Assign::Oneof {
            enum_type: o.enum_type.clone(),
            variant: o.variant.clone(),
            oneof: o.name.clone(),
        };
    }
    match model.shape {
        Shape::Singular => Assign::Set,
        Shape::Optional | Shape::Wrapper | Shape::Message => Assign::SetSome,
        Shape::Repeated => Assign::Push,
        Shape::Map => Assign::Set,
    }
}

/// Collects the query parameters of `message` below `prefix`, skipping bound fields and
/// stopping at recursion.
#[allow(clippy::too_many_arguments)]
fn query_fields(
    message: &MessageDescriptor,
    proto_prefix: &mut Vec<String>,
    parents: &mut Vec<(String, String)>,
    bound: &BTreeSet<Vec<String>>,
    out: &mut Vec<QueryParam>,
    maps: &mut Vec<QueryParam>,
    visiting: &mut Vec<String>,
) {
    // A wrapper request (`google.protobuf.StringValue`) is a plain value in prost, with no
    // fields to set from the query string.
    if proto_prefix.is_empty() && wrapper_kind(message).is_some() {
        return;
    }
    for field in message.fields() {
        let mut path = proto_prefix.clone();
        path.push(field.name().to_string());
        if bound.contains(&path) {
            continue;
        }
        let model = field_model(&field);
        let proto_names: Vec<String> = path.clone();
        let mut json_names: Vec<String> = parents.iter().map(|(_, j)| j.clone()).collect();
        json_names.push(field.json_name().to_string());
        let mut names = vec![proto_names.join("."), json_names.join(".")];
        names.dedup();
        let parent_idents: Vec<Parent> = parents
            .iter()
            .map(|(i, _)| Parent::field(i.clone()))
            .collect();

        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                continue;
            };
            let key = value_model(&entry.map_entry_key_field());
            let value = value_model(&entry.map_entry_value_field());
            // Maps whose keys and values have a text form: `labels[key]=value`.
            if let (Some(kp), Some(vp)) = (key.parse, value.parse) {
                maps.push(QueryParam {
                    names,
                    setter: Setter {
                        parents: parent_idents,
                        field: model.ident.clone(),
                        parse: scalar_fn(&vp),
                        assign: Assign::Insert(scalar_fn(&kp)),
                    },
                    repeated: true,
                    index: 0,
                    field: Box::new(model.clone()),
                });
            }
            continue;
        }
        if let Some(parse) = model.value.parse.clone() {
            let index = out.len();
            out.push(QueryParam {
                names,
                setter: Setter {
                    parents: parent_idents,
                    field: model
                        .oneof
                        .as_ref()
                        .map_or(model.ident.clone(), |o| o.ident.clone()),
                    parse: scalar_fn(&parse),
                    assign: assign_for(&model),
                },
                repeated: field.is_list(),
                index,
                field: Box::new(model.clone()),
            });
            continue;
        }
        // A plain message field: descend, unless it is repeated, in a oneof, recursive, or a
        // well-known type without a text form (Struct, Value, ListValue, Any, Empty: their
        // fields are not the API's).
        if let Kind::Message(m) = field.kind() {
            if field.is_list()
                || real_oneof(&field).is_some()
                || m.full_name().starts_with("google.protobuf.")
                || visiting.iter().any(|v| v == m.full_name())
            {
                continue;
            }
            visiting.push(m.full_name().to_string());
            proto_prefix.push(field.name().to_string());
            parents.push((ident::to_snake(field.name()), field.json_name().to_string()));
            query_fields(&m, proto_prefix, parents, bound, out, maps, visiting);
            parents.pop();
            proto_prefix.pop();
            visiting.pop();
        }
    }
}

/// Compiles a template into a slice pattern over path segments and its specificity key.
fn pattern(template: &PathTemplate) -> Pattern {
    let mut elements = Vec::new();
    let mut key = Vec::new();
    let mut shape = String::new();
    let mut captures: Vec<Capture> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut deep = false;
    for flat in template.flatten() {
        match flat {
            Flat::Literal(lit) => {
                elements.push(format!("{lit:?}"));
                key.push(0);
                shape.push('/');
                shape.push_str(&lit);
            }
            Flat::Wildcard => {
                elements.push("_".into());
                key.push(2);
                shape.push_str("/*");
            }
            Flat::DeepWildcard => {
                elements.push("..".into());
                key.push(3);
                shape.push_str("/**");
                deep = true;
            }
            Flat::VarStart(_) => {
                open.push(elements.len());
            }
            Flat::VarEnd(_) => {
                let start = open.pop().unwrap_or(0);
                captures.push(Capture {
                    start,
                    end: if deep { None } else { Some(elements.len()) },
                    tail: elements.len(),
                });
            }
        }
    }
    // A capture that holds `**` ends as many segments before the path's end as the template has
    // literals after the capture.
    for c in &mut captures {
        c.tail = if c.end.is_none() {
            elements.len() - c.tail
        } else {
            0
        };
    }
    if !deep {
        key.push(1);
    }
    match &template.verb {
        Some(v) => {
            key.push(0);
            shape.push(':');
            shape.push_str(v);
        }
        None => key.push(1),
    }
    Pattern {
        elements,
        verb: template.verb.clone(),
        captures,
        key,
        shape,
    }
}

/// Groups bindings by HTTP method, sorts each group by specificity, and rejects templates that
/// match the same requests with the same method.
fn route_table(services: &[Service]) -> Result<Vec<MethodRoutes>, Vec<Diagnostic>> {
    let mut groups: BTreeMap<String, Vec<(&Binding, &str)>> = BTreeMap::new();
    for service in services {
        for b in &service.bindings {
            groups
                .entry(b.http_method.clone())
                .or_default()
                .push((b, &b.rpc));
        }
    }
    let mut diagnostics = Vec::new();
    let mut out = Vec::new();
    for (method, mut bindings) in groups {
        bindings.sort_by(|(a, _), (b, _)| {
            a.pattern
                .key
                .cmp(&b.pattern.key)
                .then_with(|| a.pattern.shape.cmp(&b.pattern.shape))
                .then_with(|| a.ident.cmp(&b.ident))
        });
        for pair in bindings.windows(2) {
            let ((a, a_rpc), (b, b_rpc)) = (pair[0], pair[1]);
            if a.pattern.shape == b.pattern.shape {
                let what = if a.template == b.template {
                    "duplicate route"
                } else {
                    "ambiguous routes"
                };
                diagnostics.push(
                    Diagnostic::new(format!(
                        "{what}: `{method} {}` ({a_rpc}) and `{method} {}` ({b_rpc}) match the same requests",
                        a.template, b.template
                    ))
                    .at(b.location.clone())
                    .rpc(b_rpc.to_string())
                    .help("change one of the templates (a literal segment or a :verb) or remove one binding"),
                );
            }
        }
        let constant = match method.as_str() {
            "GET" | "PUT" | "POST" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "TRACE"
            | "CONNECT" => method.clone(),
            _ => String::new(),
        };
        out.push(MethodRoutes {
            matcher: format!(
                "match_{}",
                method
                    .to_ascii_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
            constant,
            routes: bindings
                .iter()
                .map(|(b, _)| RouteRef {
                    variant: b.variant.clone(),
                    template: format!("{} {}", b.http_method, b.template),
                    pattern: b.pattern.clone(),
                })
                .collect(),
            http_method: method,
        });
    }
    if diagnostics.is_empty() {
        Ok(out)
    } else {
        Err(diagnostics)
    }
}

/// Most routes one generated `match` holds. rustc's match checking takes time growing far
/// faster than the number of arms (450 path patterns in one `match`: minutes), so a longer
/// route list is matched in consecutive parts tried in order, which keeps first-match order.
pub const MATCH_PART: usize = 16;

impl MethodRoutes {
    /// The doc comment of the method's matcher.
    pub fn doc(&self) -> String {
        if self.http_method == "GET" {
            "The `GET` routes (also serving `HEAD` where no `HEAD` binding matches).".to_string()
        } else {
            format!("The `{}` routes.", self.http_method)
        }
    }
}

/// `routes` cut into the parts of its matcher (one part when it fits in one `match`).
pub fn match_parts(routes: &[RouteRef]) -> Vec<&[RouteRef]> {
    routes.chunks(MATCH_PART).collect()
}

impl Api {
    /// Whether some binding is a `GET`: its routes serve `HEAD` too.
    pub fn has_get_routes(&self) -> bool {
        self.methods.iter().any(|m| m.http_method == "GET")
    }

    /// Every method the RPC protocols' clients may call, in byte order of their paths (the
    /// runtime finds them by binary search).
    pub fn grpc_methods(&self) -> Vec<&GrpcMethod> {
        let mut methods: Vec<&GrpcMethod> =
            self.services.iter().flat_map(|s| &s.grpc_methods).collect();
        methods.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        methods.dedup_by(|a, b| a.path == b.path);
        methods
    }

    /// Whether some binding is a `HEAD` of its own (`custom: { kind: "HEAD" … }`): it is tried
    /// before the `GET` routes for `HEAD` requests.
    pub fn has_head_routes(&self) -> bool {
        self.methods.iter().any(|m| m.http_method == "HEAD")
    }

    /// Whether a plain `alt` query parameter is Google's system parameter (as `$alt` always
    /// is): unless some binding has a query parameter of that name.
    pub fn alt_is_system_parameter(&self) -> bool {
        !self
            .services
            .iter()
            .flat_map(|s| &s.bindings)
            .flat_map(|b| b.query.iter().chain(&b.query_maps))
            .any(|q| q.names.iter().any(|n| n == "alt"))
    }

    /// Whether any binding uses a custom HTTP method (matched by name, not by constant).
    pub fn has_custom_methods(&self) -> bool {
        self.methods.iter().any(|m| m.constant.is_empty())
    }

    /// Whether the handlers module has code of its own that returns responses: a streaming
    /// handler, or a reply other than the whole message as JSON.
    pub fn handlers_respond(&self) -> bool {
        self.services
            .iter()
            .flat_map(|s| &s.bindings)
            .any(|b| b.streaming() != Streaming::Unary || !b.replies_with_message())
    }

    /// Whether a binding's body is one field read element by element (a repeated, map or
    /// optional field), which names the runtime's `Reader` in the handlers.
    pub fn handlers_read_elements(&self) -> bool {
        self.services.iter().flat_map(|s| &s.bindings).any(|b| {
            matches!(&b.body, Body::Field(f) if f.oneof.is_none()
                && matches!(f.shape, Shape::Optional | Shape::Wrapper | Shape::Repeated | Shape::Map))
        })
    }
}

impl Binding {
    /// Whether the request message has fields left for the query string; when not, every
    /// parameter is unknown and the binding has no query function.
    pub fn takes_query(&self) -> bool {
        !self.query.is_empty() || !self.query_maps.is_empty()
    }

    /// Whether a query parameter may appear once only (a singular field): the query function
    /// then keeps track of the names it has seen.
    pub fn query_once(&self) -> bool {
        self.query.iter().any(|q| !q.repeated)
    }

    /// Whether anything of the request (body, path or query) sets a field of the request
    /// message; an RPC whose binding sets none sends the default message.
    pub fn fills_request(&self) -> bool {
        self.reads_body() || !self.path_vars.is_empty() || self.takes_query()
    }

    /// `"a" | "b"`: a pattern of [`request_fields`](Self::request_fields) for a `match`.
    pub fn request_field_pattern(&self) -> String {
        self.request_fields
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The shape of the RPC, from its `stream` keywords.
    pub fn streaming(&self) -> Streaming {
        match (self.client_streaming, self.server_streaming) {
            (false, false) => Streaming::Unary,
            (false, true) => Streaming::Server,
            (true, false) => Streaming::Client,
            (true, true) => Streaming::Bidi,
        }
    }

    /// Whether the request message takes anything from the body: when not, the body is not
    /// read.
    pub fn reads_body(&self) -> bool {
        self.raw_request.is_some() || !matches!(self.body, Body::None)
    }

    /// Whether the reply is the whole response message as JSON (no `response_body`, no
    /// `HttpBody`): the runtime's one reply function serves it, with no code of its own.
    pub fn replies_with_message(&self) -> bool {
        self.response_body.is_none() && self.raw_response.is_none()
    }

    /// The constant that describes a unary binding to the runtime: `LIBRARY_SERVICE_GET_BOOK`.
    pub fn constant(&self) -> String {
        self.ident.to_ascii_uppercase()
    }
}

impl Field {
    /// The struct field that holds this member's oneof (empty when not in a oneof).
    pub fn oneof_ident(&self) -> &str {
        self.oneof.as_ref().map_or("", |o| o.ident.as_str())
    }

    /// The oneof's proto name, for error messages.
    pub fn oneof_name(&self) -> &str {
        self.oneof.as_ref().map_or("", |o| o.name.as_str())
    }

    /// The enum variant path of this oneof member: `…::book::Location::Borrower`.
    pub fn oneof_variant(&self) -> String {
        self.oneof
            .as_ref()
            .map_or_else(String::new, |o| format!("{}::{}", o.enum_type, o.variant))
    }

    /// The JSON name as a Rust string literal, for the reader's table of field names.
    pub fn json_name_literal(&self) -> String {
        format!("{:?}", self.json_name)
    }

    /// The JSON name as the writer puts it between quotes (JSON-escaped), as a Rust string
    /// literal: escaping it here spares every response the work.
    pub fn json_key(&self) -> String {
        format!("{:?}", json_string::content(&self.json_name))
    }

    /// The proto name as the writer puts it between quotes (an identifier: nothing to escape).
    pub fn proto_key(&self) -> String {
        format!("{:?}", self.proto_name)
    }
}
