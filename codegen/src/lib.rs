//! protogate generates REST/JSON → gRPC reverse proxies from `.proto` files and their
//! `google.api.http` annotations.
//!
//! Use it from a `build.rs`, as with tonic-build:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     protogate::configure().compile(&["proto/library/v1/library.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! and include the result in your crate:
//!
//! ```ignore
//! mod gateway {
//!     include!(concat!(env!("OUT_DIR"), "/protogate.rs"));
//! }
//! let app = gateway::router(channel);
//! ```
//!
//! Or generate a standalone proxy crate with [`Builder::generate_crate`] (the `protogate
//! generate` command does this). The pipeline is one module per step: [`load`] → rules →
//! template → [`model`] → [`emit`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod editions;
pub mod emit;
pub mod error;
mod ident;
mod json_string;
pub mod load;
mod lockfile;
pub mod model;
pub mod openapi;
pub mod options;
mod parallel;
mod rules;
pub mod service_config;
mod split;
mod suggest;
pub mod template;
pub mod well_known;
pub mod workspace;
pub mod write;

pub use emit::{Layout, RenderOptions, RuntimeDependency};
pub use error::{Diagnostic, Error, Location};
pub use options::OpenapiVersion;

/// Starts a [`Builder`] with the default options.
pub fn configure() -> Builder {
    Builder::default()
}

/// Compiles `protos` into `$OUT_DIR/protogate.rs` with the default options.
///
/// # Errors
/// When a proto or HttpRule is invalid (the error names file, line and the fix), or when
/// `OUT_DIR` is not set.
pub fn compile_protos(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(), Error> {
    configure().compile(protos, includes)
}

/// Compiles `protos` as [`Builder::compile`] does (the `google.api` and `google.rpc` protos come
/// bundled) into a descriptor set with their imports, for a build script to hand to
/// tonic-build's or prost-build's `compile_fds`: the messages and the service are generated
/// once, and the router reuses them through [`Builder::extern_path`]. Tells Cargo to rerun the
/// build script when a proto changes.
///
/// # Errors
/// An unreadable or invalid proto (the error names file, line and the fix).
pub fn file_descriptor_set(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<prost_types::FileDescriptorSet, Error> {
    let (loaded, sources) = Builder::load(&Input::protos(protos, includes))?;
    for source in &sources {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    Ok(prost_types::FileDescriptorSet {
        file: loaded
            .pool
            .files()
            .map(|f| f.file_descriptor_proto().clone())
            .collect(),
    })
}

/// Generation options, set with chained calls and finished with one of the `compile` or
/// `generate` methods.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    model: model::ModelOptions,
    render: RenderOptions,
    /// Set when the OpenAPI document's path was chosen explicitly: a clash with an API route is
    /// then an error, not a note.
    openapi_path_chosen: bool,
    /// `google.api.Service` YAML files with external HttpRules.
    http_rules: Vec<PathBuf>,
}

/// Where the descriptors come from.
#[derive(Debug, Clone)]
pub enum Input {
    /// `.proto` files and include directories, compiled with protox.
    Protos {
        protos: Vec<PathBuf>,
        includes: Vec<PathBuf>,
    },
    /// A serialized `FileDescriptorSet` (buf or protoc output, with imports).
    DescriptorSet(PathBuf),
}

impl Input {
    pub fn protos(protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Self {
        Input::Protos {
            protos: protos.iter().map(|p| p.as_ref().to_path_buf()).collect(),
            includes: includes.iter().map(|p| p.as_ref().to_path_buf()).collect(),
        }
    }
}

/// The result of generation before anything is written.
#[derive(Debug, Clone)]
pub struct Generated {
    /// File contents by path relative to the output directory, sorted.
    pub files: BTreeMap<String, String>,
    /// Methods that were skipped, with the reason; after [`Builder::generate_crate`], also a
    /// Cargo workspace above the crate that does not list it.
    pub notes: Vec<String>,
    /// What the OpenAPI document cannot say (a custom HTTP method's binding), one line each
    /// with the proto location: the command line prints them.
    pub warnings: Vec<String>,
    /// Proto files on disk that were read, for build scripts' `rerun-if-changed`.
    pub sources: Vec<PathBuf>,
}

impl Builder {
    /// Where [`compile`](Self::compile) writes `protogate.rs`; defaults to `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Serve methods that have no `google.api.http` rule as `POST /pkg.Service/Method` with the
    /// whole request as the body. Off by default: such methods are skipped with a note.
    pub fn route_unannotated_methods(mut self, yes: bool) -> Self {
        self.model.route_unannotated = yes;
        self
    }

    /// Adds the HttpRules of a `google.api.Service` YAML file (`type: google.api.Service`,
    /// `config_version: 3`, `http: { rules: [ { selector: pkg.Service.Method, get: … } ] }`),
    /// for protos you do not own: each rule routes the method its selector names, as a
    /// `google.api.http` annotation would. Repeatable. A selector naming a method that has its
    /// own annotation, two rules for one method, and a selector that names no served method are
    /// errors located in the file. A relative path is relative to the working directory (the
    /// crate's directory in a build script).
    pub fn http_rules(mut self, path: impl Into<PathBuf>) -> Self {
        self.http_rules.push(path.into());
        self
    }

    /// Leave out each method whose HttpRules are invalid (a bad template, a missing field, two
    /// methods on one route, …) instead of failing: each is named in a note with the error, and
    /// the rest of the API is generated. Off by default: an invalid rule is an error.
    pub fn skip_invalid_methods(mut self, yes: bool) -> Self {
        self.model.skip_invalid = yes;
        self
    }

    /// Methods not to serve, each named in a note: full method names (`pkg.Service.Method`),
    /// whole services (`pkg.Service`), or prefixes ending in `*` (`pkg.Service.Batch*`).
    pub fn exclude_methods<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.model.exclude.extend(names.into_iter().map(Into::into));
        self
    }

    /// Write fields at their default values (on by default, as grpc-gateway v2 does).
    pub fn emit_default_values(mut self, yes: bool) -> Self {
        self.render.emit_defaults = yes;
        self
    }

    /// Use proto field names as JSON keys instead of lowerCamelCase.
    pub fn proto_field_names(mut self, yes: bool) -> Self {
        self.render.proto_names = yes;
        self
    }

    /// Write enum values as numbers instead of names.
    pub fn enums_as_numbers(mut self, yes: bool) -> Self {
        self.render.enums_as_numbers = yes;
        self
    }

    /// Drop unknown JSON fields in request bodies instead of answering 400.
    pub fn ignore_unknown_fields(mut self, yes: bool) -> Self {
        self.render.ignore_unknown_fields = yes;
        self
    }

    /// Drop unknown query parameters instead of answering 400.
    pub fn ignore_unknown_query_parameters(mut self, yes: bool) -> Self {
        self.render.ignore_unknown_query_parameters = yes;
        self
    }

    /// Forward only these request headers to the upstream as gRPC metadata; the proxy's
    /// `--forward-headers` flag overrides the list. Names are metadata names, matched
    /// case-insensitively: `x-user` covers both `X-User` and `Grpc-Metadata-X-User`. A name
    /// ending in `*` matches a prefix (`x-tenant-*`), and `*` alone every header. By default every
    /// header is forwarded except the hop-by-hop, framing and `grpc-*` ones, which never are.
    /// `X-Forwarded-For` and `X-Forwarded-Host` are the proxy's own and always sent; the client's
    /// earlier `X-Forwarded-For` chain is kept only when `x-forwarded-for` is forwarded.
    pub fn forward_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.render.forward_headers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Never forward these request headers as gRPC metadata (same names as
    /// [`forward_headers`](Self::forward_headers)), for edges where clients must not set internal
    /// headers; the proxy's `--drop-headers` flag overrides the list.
    pub fn drop_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.render.drop_headers = names.into_iter().map(Into::into).collect();
        self
    }

    /// Write each message of a streamed response bare (NDJSON lines, WebSocket frames) instead of
    /// in a `{"result": …}` envelope; the proxy's `--bare-stream-messages` flag overrides it. A
    /// stream's final error is `{"error": …}` either way.
    pub fn bare_stream_messages(mut self, yes: bool) -> Self {
        self.render.bare_stream_messages = yes;
        self
    }

    /// Where the generated proxy serves its OpenAPI 3.1 document (`GET` and `HEAD`); the
    /// default is `/openapi.json`, and the proxy's `--openapi-path` flag overrides it. The path
    /// must not be one the API routes: when the default is, the document is not served (with a
    /// note); when a chosen path is, generation fails.
    pub fn openapi_path(mut self, path: impl Into<String>) -> Self {
        self.render.openapi_path = Some(path.into());
        self.openapi_path_chosen = true;
        self
    }

    /// Describe each multi-segment capture in the OpenAPI document as one path parameter named
    /// by its field path, whose value holds the `/` characters (`/v1/{name}` with `name` =
    /// `shelves/1/books/2`). Off by default: captures are spelled out, one parameter per
    /// wildcard named after its collection (`/v1/shelves/{shelf}/books/{book}`), because client
    /// generators escape a `/` inside a parameter and the proxy would not route the request.
    /// The same URL reaches the proxy either way.
    pub fn openapi_whole_captures(mut self, yes: bool) -> Self {
        self.render.openapi_whole_captures = yes;
        self
    }

    /// The OpenAPI version of the document: 3.1 by default, or 3.0.3 for tools that do not read
    /// 3.1 (the same document in 3.0's schema dialect: `nullable`, one type per schema).
    pub fn openapi_version(mut self, version: OpenapiVersion) -> Self {
        self.render.openapi_version = version;
        self
    }

    /// Spell multi-segment captures out in the OpenAPI document: now the default, so `true`
    /// changes nothing and `false` is [`openapi_whole_captures(true)`](Self::openapi_whole_captures).
    #[deprecated(note = "captures are spelled out by default; use `openapi_whole_captures`")]
    pub fn openapi_expand_captures(self, yes: bool) -> Self {
        self.openapi_whole_captures(!yes)
    }

    /// Whether the generated proxy serves its OpenAPI document by default (it does; the
    /// document is generated either way, as `openapi.json`, and the proxy's `--no-openapi` flag
    /// turns serving off at run time).
    pub fn serve_openapi(mut self, yes: bool) -> Self {
        if yes {
            if self.render.openapi_path.is_none() {
                self.render.openapi_path = Some(openapi::DEFAULT_PATH.to_string());
            }
        } else {
            self.render.openapi_path = None;
        }
        self
    }

    /// How a generated crate depends on `protogate-runtime`, the library its code calls:
    /// [`RuntimeDependency::Vendored`] (the default) copies the runtime crate into
    /// `protogate-runtime/` inside the generated crate, [`RuntimeDependency::Path`] points at one
    /// elsewhere, [`RuntimeDependency::Version`] takes the exact version from crates.io. The
    /// `include!` layout of [`compile`](Self::compile) needs none: the including crate depends
    /// on `protogate-runtime` itself.
    pub fn runtime(mut self, dependency: RuntimeDependency) -> Self {
        self.render.runtime = dependency;
        self
    }

    /// Uses the message types of the proto package `proto_path` (`.helloworld.v1`, or a prefix
    /// such as `.google` for every package below it) that the including crate already has at
    /// `rust_path` (`crate::pb`), instead of generating them again: what prost-build and
    /// tonic-build call `extern_path`. One build then has one set of message types, which a
    /// tonic service and the router share.
    ///
    /// The types must be prost-build's, generated in the crate that includes `protogate.rs`
    /// (the router implements its JSON mapping for them), with ordered maps
    /// (`.btree_map(["."])`) and prost-build's other defaults. Only for
    /// [`compile`](Self::compile): a standalone crate has no types of its own to reuse.
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Self {
        self.render
            .extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Generates `protogate.rs` into the output directory for `include!`, and tells Cargo to
    /// rerun the build script when a proto changes.
    ///
    /// # Errors
    /// Invalid protos or rules, a missing `OUT_DIR`, or a failed write.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    Error::invalid(Diagnostic::new("OUT_DIR is not set").help(
                        "call compile() from a build script, or set the directory with .out_dir(…)",
                    ))
                })?,
        };
        let generated = self.generate(&Input::protos(protos, includes), &Layout::Module)?;
        for source in &generated.sources {
            println!("cargo:rerun-if-changed={}", source.display());
        }
        write::write_all(&out_dir, &generated.files)?;
        Ok(())
    }

    /// Generates a standalone proxy crate named `crate_name` into `out`.
    ///
    /// # Errors
    /// Invalid protos or rules, or a failed write.
    pub fn generate_crate(
        self,
        input: &Input,
        crate_name: &str,
        out: &Path,
    ) -> Result<Generated, Error> {
        let generated = self.generate(
            input,
            &Layout::Crate {
                name: crate_name.to_string(),
            },
        )?;
        write::write_crate(out, &generated.files)?;
        let mut generated = generated;
        generated.notes.extend(workspace::membership_note(out));
        Ok(generated)
    }

    /// Renders only the OpenAPI 3.1 document (the `openapi.json` of [`generate`](Self::generate)),
    /// titled `title`: a crate's document is titled with the crate name, and by default the
    /// title lists the services.
    ///
    /// # Errors
    /// Invalid protos or rules.
    pub fn openapi(&self, input: &Input, title: Option<&str>) -> Result<String, Error> {
        self.openapi_document(input, title).map(|d| d.json)
    }

    /// [`openapi`](Self::openapi) with what the document cannot say (the bindings of custom
    /// HTTP methods), for a tool to show.
    ///
    /// # Errors
    /// Invalid protos or rules.
    pub fn openapi_document(
        &self,
        input: &Input,
        title: Option<&str>,
    ) -> Result<openapi::Document, Error> {
        let (loaded, _) = Self::load(input)?;
        let (api, render) = self.model(&loaded)?;
        let title = match title {
            Some(t) => t.to_string(),
            None => openapi::default_title(&api),
        };
        Ok(openapi::Document {
            json: openapi::render(&api, &render, &title),
            warnings: openapi::warnings(&api),
        })
    }

    /// Renders every file in memory: the pure core that writing and `--check` share.
    ///
    /// # Errors
    /// Invalid protos or rules.
    pub fn generate(&self, input: &Input, layout: &Layout) -> Result<Generated, Error> {
        let (loaded, mut sources) = Self::load(input)?;
        sources.extend(self.http_rules.iter().cloned());
        let (api, render) = self.model(&loaded)?;
        check_extern_paths(&loaded.pool, &api, &render.extern_paths, layout)?;
        let files = emit::render(&loaded.pool, &api, &render, layout)?;
        Ok(Generated {
            files,
            warnings: openapi::warnings(&api),
            notes: api.notes,
            sources,
        })
    }

    /// Compiles the protos (or reads the descriptor set), with the paths of the files read.
    fn load(input: &Input) -> Result<(load::Loaded, Vec<PathBuf>), Error> {
        Ok(match input {
            Input::Protos { protos, includes } => {
                let includes = if includes.is_empty() {
                    vec![PathBuf::from(".")]
                } else {
                    includes.clone()
                };
                let loaded = load::compile(protos, &includes)?;
                let sources = source_paths(&loaded, &includes);
                (loaded, sources)
            }
            Input::DescriptorSet(path) => (load::descriptor_set(path)?, vec![path.clone()]),
        })
    }

    /// The model and the checked render options. The OpenAPI document's path is checked
    /// against the routes here, so rendering cannot fail on it.
    fn model(&self, loaded: &load::Loaded) -> Result<(model::Api, RenderOptions), Error> {
        let mut render = self.render_options()?;
        let mut options = self.model.clone();
        // The rule files' own problems and those of their rules are reported together.
        let (rules, mut problems) = service_config::read_all_partial(&self.http_rules)?;
        options.http_rules = rules;
        let built = model::build(loaded, &options);
        if !problems.is_empty() {
            if let Err(Error::Invalid(more)) = built {
                // "Nothing to serve" is no news when the rules did not read.
                problems.extend(
                    more.into_iter()
                        .filter(|d| !d.message.starts_with("nothing to serve")),
                );
            }
            problems.sort_by(|a, b| a.location.cmp(&b.location));
            return Err(Error::Invalid(problems));
        }
        let mut api = built?;
        if let Some(path) = render.openapi_path.clone() {
            if let Some(b) = openapi::matching_bindings(&api, None, &path).first() {
                let clash = format!(
                    "the OpenAPI document's path `{path}` is the route `{} {}` of {}",
                    b.http_method, b.template, b.rpc
                );
                if self.openapi_path_chosen {
                    return Err(Error::invalid(Diagnostic::new(clash).help(
                        "choose an OpenAPI path that no binding matches, or do not serve the document",
                    )));
                }
                api.notes.push(format!(
                    "{clash}; the proxy does not serve the document (choose a path with --openapi-path)"
                ));
                api.notes.sort();
                render.openapi_path = None;
            }
        }
        Ok((api, render))
    }
}

impl Builder {
    /// The render options with the header lists checked and lowercased.
    fn render_options(&self) -> Result<RenderOptions, Error> {
        let mut render = self.render.clone();
        let mut diagnostics = Vec::new();
        if let Some(names) = &mut render.forward_headers {
            *names = header_names("forward_headers", names, &mut diagnostics);
        }
        render.drop_headers = header_names("drop_headers", &render.drop_headers, &mut diagnostics);
        if let Some(path) = &render.openapi_path {
            if let Err(why) = check_openapi_path(path) {
                diagnostics.push(
                    Diagnostic::new(format!("openapi_path: {path:?} {why}"))
                        .help("use an absolute URL path such as `/openapi.json`"),
                );
            }
        }
        if diagnostics.is_empty() {
            Ok(render)
        } else {
            Err(Error::Invalid(diagnostics))
        }
    }
}

/// Refuses extern paths that prost-build would take but that would not compile or would cover
/// nothing: each names a package (or a prefix of packages) of the API and a Rust path, and only
/// for the `include!` layout.
fn check_extern_paths(
    pool: &prost_reflect::DescriptorPool,
    api: &model::Api,
    extern_paths: &[(String, String)],
    layout: &Layout,
) -> Result<(), Error> {
    if extern_paths.is_empty() {
        return Ok(());
    }
    if let Layout::Crate { .. } = layout {
        return Err(Error::invalid(
            Diagnostic::new("extern_path is for a build script's `compile()`: a standalone crate has no message types of its own to reuse")
                .help("generate the crate without extern paths, or include `protogate.rs` in the crate that has the types"),
        ));
    }
    let packages: std::collections::BTreeSet<String> = api
        .files
        .iter()
        .filter_map(|f| pool.get_file_by_name(f))
        .map(|f| f.package_name().to_string())
        .collect();
    let mut diagnostics = Vec::new();
    for (proto, rust) in extern_paths {
        let name = proto.strip_prefix('.').unwrap_or_default();
        if name.is_empty() || name.split('.').any(str::is_empty) {
            diagnostics.push(
                Diagnostic::new(format!(
                    "extern_path {proto:?}: not a fully qualified proto package"
                ))
                .help("start it with a dot, as prost-build's extern_path does: `.helloworld.v1`"),
            );
        } else if pool.get_message_by_name(name).is_some() || pool.get_enum_by_name(name).is_some()
        {
            diagnostics.push(
                Diagnostic::new(format!("extern_path {proto:?} names a type, not a package"))
                    .help("name the package whose types the crate has (or a prefix of packages)"),
            );
        } else if !packages.iter().any(|p| {
            p.strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        }) {
            let known: Vec<String> = packages.iter().map(|p| format!(".{p}")).collect();
            diagnostics.push(
                Diagnostic::new(format!(
                    "extern_path {proto:?} covers no package of the API"
                ))
                .help(format!("the API's packages are {}", known.join(", "))),
            );
        }
        if syn::parse_str::<syn::Path>(rust).is_err() {
            diagnostics.push(
                Diagnostic::new(format!(
                    "extern_path {proto:?}: {rust:?} is not a Rust path"
                ))
                .help("give the module that holds the types, such as `crate::pb`"),
            );
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(diagnostics))
    }
}

/// Lowercases a list of header names, reporting those that can never name gRPC metadata.
fn header_names(option: &str, names: &[String], diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        let lower = name.trim().to_ascii_lowercase();
        let stem = lower.strip_suffix('*').unwrap_or(&lower);
        let valid_chars = stem
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'));
        if lower.is_empty() || !valid_chars {
            diagnostics.push(
                Diagnostic::new(format!("{option}: {name:?} is not a header name")).help(
                    "use letters, digits, `-`, `_` and `.`, optionally ending in `*` to match a prefix",
                ),
            );
        } else if stem.starts_with("grpc-") {
            diagnostics.push(
                Diagnostic::new(format!(
                    "{option}: {name:?}: `grpc-*` headers are never forwarded"
                ))
                .help("name a `Grpc-Metadata-X` header by its metadata name `x`"),
            );
        } else {
            out.push(lower);
        }
    }
    out
}

/// Why `path` cannot be where the proxy serves the OpenAPI document, if it cannot.
pub fn check_openapi_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("does not start with `/`");
    }
    if path.contains(['?', '#']) || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("is not a plain URL path (no query, fragment or spaces)");
    }
    if path.len() > 1 && path[1..].split('/').any(str::is_empty) {
        return Err("has an empty segment, which no request path matches");
    }
    Ok(())
}

/// The on-disk paths of the user's proto files (bundled and google files have none).
fn source_paths(loaded: &load::Loaded, includes: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for file in loaded.pool.files() {
        for include in includes {
            let candidate = include.join(file.name());
            if candidate.is_file() {
                out.push(candidate);
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeter() -> Input {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/proto");
        Input::protos(&[examples.join("helloworld/v1/greeter.proto")], &[examples])
    }

    fn options_fn(builder: &Builder) -> String {
        let generated = builder
            .generate(&greeter(), &Layout::Module)
            .expect("generate");
        let file = &generated.files["protogate.rs"];
        let start = file.find("pub fn options()").expect("options()");
        let end = start + file[start..].find("\n}\n").expect("end of options()");
        file[start..end].to_string()
    }

    #[test]
    fn bare_stream_messages_is_a_generation_default() {
        let default = options_fn(&configure());
        assert!(
            default.contains("bare_stream_messages: false,"),
            "{default}"
        );
        let bare = options_fn(&configure().bare_stream_messages(true));
        assert!(bare.contains("bare_stream_messages: true,"), "{bare}");
    }

    #[test]
    fn header_lists_are_generation_defaults() {
        let default = options_fn(&configure());
        assert!(default.contains("forward_headers: None,"), "{default}");
        assert!(default.contains("drop_headers: vec![],"), "{default}");

        let set = options_fn(
            &configure()
                .forward_headers(["X-User", " x-tenant-* "])
                .drop_headers(vec!["x-internal".to_string()]),
        );
        let compact: String = set.split_whitespace().collect();
        assert!(
            compact.contains(
                r#"forward_headers:Some(vec!["x-user".to_string(),"x-tenant-*".to_string(),]),"#
            ),
            "{set}"
        );
        assert!(
            compact.contains(r#"drop_headers:vec!["x-internal".to_string(),],"#),
            "{set}"
        );

        let none = options_fn(&configure().forward_headers(Vec::<String>::new()));
        let compact: String = none.split_whitespace().collect();
        assert!(compact.contains("forward_headers:Some(vec![]),"), "{none}");
    }

    #[test]
    fn invalid_header_names_are_all_reported() {
        let error = configure()
            .forward_headers(["x user", "ok"])
            .drop_headers(["grpc-metadata-x", "", "x-*-y"])
            .generate(&greeter(), &Layout::Module)
            .expect_err("invalid names");
        let Error::Invalid(diagnostics) = &error else {
            panic!("{error}");
        };
        assert_eq!(diagnostics.len(), 4, "{error}");
        let text = error.to_string();
        for needle in [
            r#"forward_headers: "x user" is not a header name"#,
            r#"drop_headers: "grpc-metadata-x": `grpc-*` headers are never forwarded"#,
            r#"drop_headers: "" is not a header name"#,
            r#"drop_headers: "x-*-y" is not a header name"#,
            "help: name a `Grpc-Metadata-X` header by its metadata name `x`",
        ] {
            assert!(text.contains(needle), "{needle:?} in {text}");
        }
    }
}
