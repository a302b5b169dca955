//! Step 4: resolve rules and templates against the descriptors into one plain API model.
//!
//! Everything the templates need is computed here — Rust identifiers, type paths, JSON names,
//! the route table in specificity order — and every user error is found here, before anything
//! is rendered. Templates never see a descriptor.
//!
//! This module holds the model's types; the work is one module per job: `build` (the model from
//! the descriptors), `binding` (one HTTP binding from one rule, checked), `params` (the fields
//! the path and the query string set), `routes` (the route table), `json` (the JSON field tables
//! of messages and enums), `mask` (update masks derived from PATCH bodies), `docs` (comments and
//! field behaviors) and `rust_types` (the Rust paths of prost's types).
//!
//! The questions the templates ask of the model are answered beside the types, except those
//! about routes (in `routes`) and query parameters (in `params`).

mod binding;
mod build;
mod docs;
mod json;
mod mask;
mod params;
mod routes;
mod rust_types;

pub use build::build;
pub use routes::{MATCH_PART, match_parts, serves};
pub use rust_types::{PROST_TYPES, message_type};

use crate::error::Location;
use crate::template::PathTemplate;

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

/// How a route's path is matched: a pattern over the raw segments, which the router matches as
/// a slice pattern and [`Pattern::matches`] as well.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The segments, in order.
    pub elements: Vec<Element>,
    pub verb: Option<String>,
    /// Per path variable: the segment range it captures.
    pub captures: Vec<Capture>,
    /// Specificity key: literal 0, end 1, `*` 2, `**` 3, then verb before no verb.
    key: Vec<u8>,
    /// The template's shape with variables erased, to find duplicates.
    shape: String,
}

/// One segment of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    /// A literal segment.
    Literal(String),
    /// `*`: any one segment.
    One,
    /// `**`: zero or more segments.
    Rest,
}

/// The segments a path variable captures: `start..end` of the path's segments.
#[derive(Debug, Clone)]
pub struct Capture {
    pub start: Position,
    pub end: Position,
}

/// A segment boundary, counted from the path's start, or from its end for those after a `**`
/// (which matches any number of segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    FromStart(usize),
    /// `FromEnd(0)` is the path's end.
    FromEnd(usize),
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

impl Api {
    /// Every method the RPC protocols' clients may call, in byte order of their paths (the
    /// runtime finds them by binary search).
    pub fn grpc_methods(&self) -> Vec<&GrpcMethod> {
        let mut methods: Vec<&GrpcMethod> =
            self.services.iter().flat_map(|s| &s.grpc_methods).collect();
        methods.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        methods.dedup_by(|a, b| a.path == b.path);
        methods
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
    /// Whether anything of the request (body, path or query) sets a field of the request
    /// message; an RPC whose binding sets none sends the default message.
    pub fn fills_request(&self) -> bool {
        self.reads_body() || !self.path_vars.is_empty() || self.takes_query()
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
