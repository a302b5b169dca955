//! The options that shape rendering (JSON defaults, header lists, OpenAPI serving) but not the
//! model: shared by the code emitter and the OpenAPI renderer, which depend on nothing else of
//! each other.

/// Where the proxy serves its OpenAPI document unless told otherwise.
pub const DEFAULT_OPENAPI_PATH: &str = "/openapi.json";

/// Options that shape the generated code but not the model.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Emit fields at their default value (grpc-gateway v2's choice).
    pub emit_defaults: bool,
    /// JSON keys are proto field names instead of lowerCamelCase.
    pub proto_names: bool,
    pub enums_as_numbers: bool,
    /// Accept and drop unknown JSON fields instead of answering 400.
    pub ignore_unknown_fields: bool,
    /// Accept and drop unknown query parameters instead of answering 400.
    pub ignore_unknown_query_parameters: bool,
    /// Forward only these request headers as metadata (`None`: all but the reserved ones).
    /// Lowercase metadata names; a trailing `*` matches a prefix.
    pub forward_headers: Option<Vec<String>>,
    /// Never forward these request headers as metadata (same syntax).
    pub drop_headers: Vec<String>,
    /// Write stream messages bare, without the `{"result": …}` envelope.
    pub bare_stream_messages: bool,
    /// Where the proxy serves its OpenAPI document by default (`None`: not served).
    pub openapi_path: Option<String>,
    /// Describe each multi-segment capture as one path parameter whose value holds the `/`
    /// (`/v1/{name}`) instead of spelling it out (`/v1/shelves/{shelf}/books/{book}`), which
    /// client generators need: they escape a `/` inside a parameter.
    pub openapi_whole_captures: bool,
    /// The OpenAPI version of the document.
    pub openapi_version: OpenapiVersion,
    /// How a generated crate depends on protogate-runtime.
    pub runtime: RuntimeDependency,
    /// Proto packages whose message types the including crate already has (proto path, Rust
    /// path), as prost-build's `extern_path`: not generated again, but used.
    pub extern_paths: Vec<(String, String)>,
}

/// The OpenAPI version of the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OpenapiVersion {
    /// OpenAPI 3.1, whose schemas are JSON Schema 2020-12 (the default).
    #[default]
    V3_1,
    /// OpenAPI 3.0.3, for tools that do not read 3.1: the same document with 3.0's schema
    /// dialect (`nullable`, one type per schema, nothing beside a `$ref`).
    V3_0,
}

impl std::str::FromStr for OpenapiVersion {
    type Err = String;

    /// `3.1` or `3.0` (`3.1.0`, `3.0.3` too).
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "3.1" | "3.1.0" => Ok(OpenapiVersion::V3_1),
            "3.0" | "3.0.3" => Ok(OpenapiVersion::V3_0),
            _ => Err("expected `3.1` or `3.0`".to_string()),
        }
    }
}

/// How a generated crate depends on `protogate-runtime`, the library its code calls. Whichever
/// it is, the generated code checks the runtime's exact version when it compiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RuntimeDependency {
    /// A byte-for-byte copy of the runtime crate in `protogate-runtime/` inside the generated
    /// crate, used as a path dependency: the crate stays standalone (the default).
    #[default]
    Vendored,
    /// A path dependency on a runtime crate elsewhere (a monorepo's own copy), written into
    /// `Cargo.toml` as given: relative to the generated crate's directory, or absolute.
    Path(String),
    /// The exact version (`=X.Y.Z`) from crates.io.
    Version,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            emit_defaults: true,
            proto_names: false,
            enums_as_numbers: false,
            ignore_unknown_fields: false,
            ignore_unknown_query_parameters: false,
            forward_headers: None,
            drop_headers: Vec::new(),
            bare_stream_messages: false,
            openapi_path: Some(DEFAULT_OPENAPI_PATH.to_string()),
            openapi_whole_captures: false,
            openapi_version: OpenapiVersion::V3_1,
            runtime: RuntimeDependency::Vendored,
            extern_paths: Vec::new(),
        }
    }
}
