//! The `protogate` command: generates a standalone REST/JSON → gRPC proxy crate, or checks that
//! a committed one is up to date.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use protogate::{Input, Layout, OpenapiVersion, RuntimeDependency};

#[derive(Debug, Parser)]
#[command(
    name = "protogate",
    version,
    about = "Generate REST/JSON to gRPC reverse proxies from .proto files",
    after_help = "Exit status: 0 on success, 1 when `generate --check` finds a difference, 2 on bad input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate the proxy crate (or, with --check, compare it with the directory).
    ///
    /// Exit status: 0 on success, 1 when --check finds a difference, 2 on bad input.
    Generate(Generate),
    /// Write only the OpenAPI document of the proxy (the generated crate's `openapi.json`).
    ///
    /// Exit status: 0 on success, 1 when --check finds a difference, 2 on bad input.
    Openapi(Openapi),
}

/// Where the API comes from: the same flags for `generate` and `openapi`.
#[derive(Debug, Args)]
struct InputArgs {
    /// A .proto file: absolute or relative to the working directory, inside one of the include
    /// directories (as protoc takes it). Repeat for several files.
    #[arg(
        long = "proto",
        value_name = "FILE",
        required_unless_present = "descriptor_set"
    )]
    protos: Vec<PathBuf>,
    /// An include directory for imports (default: the working directory). Repeatable.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    includes: Vec<PathBuf>,
    /// Read a FileDescriptorSet (buf build -o, protoc --include_imports --descriptor_set_out)
    /// instead of .proto files.
    #[arg(long, value_name = "FILE", conflicts_with = "protos")]
    descriptor_set: Option<PathBuf>,
    /// HttpRules for methods without a google.api.http annotation, from a google.api.Service
    /// YAML file (`http: rules: [{selector: pkg.Service.Method, get: /v1/…}]`). Repeatable.
    #[arg(long, value_name = "FILE")]
    http_rules: Vec<PathBuf>,
    /// Leave out methods whose HttpRules are invalid, naming each with its error, and generate
    /// the rest (by default an invalid rule fails the run).
    #[arg(long)]
    skip_invalid_methods: bool,
    /// A method not to serve: `pkg.Service.Method`, a whole service `pkg.Service`, or a prefix
    /// ending in `*`. Repeatable.
    #[arg(long, value_name = "NAME")]
    exclude_method: Vec<String>,
}

impl InputArgs {
    /// The descriptors to read.
    fn input(&self) -> Input {
        match &self.descriptor_set {
            Some(set) => Input::DescriptorSet(set.clone()),
            None => Input::protos(&self.protos, &self.includes),
        }
    }

    /// `builder` with the external rule files and the choice of methods.
    fn rules(&self, mut builder: protogate::Builder) -> protogate::Builder {
        for file in &self.http_rules {
            builder = builder.http_rules(file);
        }
        builder
            .skip_invalid_methods(self.skip_invalid_methods)
            .exclude_methods(&self.exclude_method)
    }
}

#[derive(Debug, Args)]
struct Generate {
    #[command(flatten)]
    input: InputArgs,
    /// The directory of the generated crate.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The generated crate's name (default: the output directory's name).
    #[arg(long, value_name = "NAME")]
    crate_name: Option<String>,
    /// Write nothing; print a unified diff against --out and exit 1 if anything differs.
    #[arg(long)]
    check: bool,
    /// Serve methods without a google.api.http rule as POST /pkg.Service/Method (body "*").
    #[arg(long)]
    route_unannotated: bool,
    /// Default for writing fields at their default values.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    emit_defaults: bool,
    /// Default to proto field names as JSON keys instead of lowerCamelCase.
    #[arg(long)]
    proto_names: bool,
    /// Default to writing enums as numbers.
    #[arg(long)]
    enums_as_numbers: bool,
    /// Default to dropping unknown JSON fields instead of answering 400.
    #[arg(long)]
    ignore_unknown_fields: bool,
    /// Default to dropping unknown query parameters instead of answering 400.
    #[arg(long)]
    ignore_unknown_query_parameters: bool,
    /// Default to forwarding only these request headers as gRPC metadata: comma-separated
    /// metadata names (`x-user` covers `Grpc-Metadata-X-User` too), `x-tenant-*` for a prefix,
    /// empty for none. Without it every header is forwarded but the hop-by-hop, framing and
    /// grpc-* ones.
    #[arg(long, value_name = "NAMES")]
    forward_headers: Option<String>,
    /// Default to never forwarding these request headers as gRPC metadata (same syntax).
    #[arg(long, value_name = "NAMES")]
    drop_headers: Option<String>,
    /// Default to writing streamed messages bare, without the `{"result": …}` envelope.
    #[arg(long)]
    bare_stream_messages: bool,
    /// Default path the proxy serves its OpenAPI document at (`/openapi.json` unless given);
    /// it must not be a path the API routes.
    #[arg(long, value_name = "PATH")]
    openapi_path: Option<String>,
    /// Default to not serving the OpenAPI document (`openapi.json` is generated either way).
    #[arg(long, conflicts_with = "openapi_path")]
    no_openapi: bool,
    /// Describe each multi-segment capture in openapi.json as one path parameter holding the
    /// `/` characters (`/v1/{name}`) instead of spelling it out (`/v1/shelves/{shelf}`), which
    /// client generators need.
    #[arg(long)]
    openapi_whole_captures: bool,
    /// Accepted for older scripts: captures are spelled out by default.
    #[arg(long, hide = true, conflicts_with = "openapi_whole_captures")]
    openapi_expand_captures: bool,
    /// The OpenAPI version of openapi.json: `3.1`, or `3.0` (3.0.3) for tools that do not read
    /// 3.1.
    #[arg(long, value_name = "VERSION", default_value = "3.1")]
    openapi_version: OpenapiVersion,
    /// How the crate depends on protogate-runtime: `vendored` (a copy in protogate-runtime/
    /// inside the crate; the default), `path=DIR` (the runtime crate at DIR, written into
    /// Cargo.toml as given: relative to the crate, or absolute) or `version` (`=X.Y.Z` from
    /// crates.io).
    #[arg(long, value_name = "MODE", default_value = "vendored", value_parser = runtime_dependency)]
    runtime: RuntimeDependency,
}

/// Parses `--runtime`.
fn runtime_dependency(text: &str) -> Result<RuntimeDependency, String> {
    match text {
        "vendored" => Ok(RuntimeDependency::Vendored),
        "version" => Ok(RuntimeDependency::Version),
        _ => match text.strip_prefix("path=") {
            Some(dir) if !dir.is_empty() => Ok(RuntimeDependency::Path(dir.to_string())),
            _ => Err("expected `vendored`, `path=DIR` or `version`".to_string()),
        },
    }
}

#[derive(Debug, Args)]
struct Openapi {
    #[command(flatten)]
    input: InputArgs,
    /// Where to write the document (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The document's title (default: the crate's name when --out is the `openapi.json` of a
    /// generated crate, so `--check` compares it exactly; else the services' names).
    #[arg(long, value_name = "TITLE")]
    title: Option<String>,
    /// Write nothing; print a unified diff against --out and exit 1 if it differs.
    #[arg(long, requires = "out")]
    check: bool,
    /// Describe methods without a google.api.http rule as POST /pkg.Service/Method (body "*").
    #[arg(long)]
    route_unannotated: bool,
    /// Describe proto field names as JSON keys instead of lowerCamelCase.
    #[arg(long)]
    proto_names: bool,
    /// Describe enums as numbers.
    #[arg(long)]
    enums_as_numbers: bool,
    /// Describe objects as open (the proxy drops unknown JSON fields).
    #[arg(long)]
    ignore_unknown_fields: bool,
    /// Describe streamed messages bare, without the `{"result": …}` envelope.
    #[arg(long)]
    bare_stream_messages: bool,
    /// Describe each multi-segment capture as one path parameter holding the `/` characters
    /// (`/v1/{name}` for `/v1/{name=shelves/*}`) instead of spelling it out
    /// (`/v1/shelves/{shelf}`), which client generators need.
    #[arg(long)]
    whole_captures: bool,
    /// Accepted for older scripts: captures are spelled out by default.
    #[arg(long, hide = true, conflicts_with = "whole_captures")]
    expand_captures: bool,
    /// The document's OpenAPI version: `3.1`, or `3.0` (3.0.3) for tools that do not read 3.1.
    #[arg(long, value_name = "VERSION", default_value = "3.1")]
    openapi_version: OpenapiVersion,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(args) => generate(args),
        Command::Openapi(args) => openapi(args),
    }
}

fn openapi(args: Openapi) -> ExitCode {
    let input = args.input.input();
    let mut builder = protogate::configure()
        .route_unannotated_methods(args.route_unannotated)
        .proto_field_names(args.proto_names)
        .enums_as_numbers(args.enums_as_numbers)
        .ignore_unknown_fields(args.ignore_unknown_fields)
        .bare_stream_messages(args.bare_stream_messages)
        .openapi_whole_captures(args.whole_captures)
        .openapi_version(args.openapi_version);
    builder = args.input.rules(builder);
    // A crate's own openapi.json is titled with the crate's name.
    let title = args
        .title
        .clone()
        .or_else(|| args.out.as_deref().and_then(crate_beside));
    let document = match builder.openapi_document(&input, title.as_deref()) {
        Ok(d) => {
            for warning in &d.warnings {
                eprintln!("{warning}");
            }
            d.json
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Some(out) = &args.out else {
        print_out(&document);
        return ExitCode::SUCCESS;
    };
    if args.check {
        let current = std::fs::read_to_string(out).unwrap_or_default();
        if current == document {
            eprintln!("{} is up to date", out.display());
            return ExitCode::SUCCESS;
        }
        let name = out.display().to_string();
        print_out(
            &similar::TextDiff::from_lines(&current, &document)
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string(),
        );
        eprintln!(
            "error: {name} is not up to date with the protos\n  help: regenerate it with: {}",
            regenerate_command()
        );
        return ExitCode::from(1);
    }
    match std::fs::write(out, &document) {
        Ok(()) => {
            eprintln!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            ExitCode::from(2)
        }
    }
}

fn generate(args: Generate) -> ExitCode {
    let input = args.input.input();
    let crate_name = match args.crate_name.clone().or_else(|| {
        args.out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    }) {
        Some(name) if valid_crate_name(&name) => name,
        other => {
            eprintln!(
                "error: {:?} is not a valid crate name\n  help: pass --crate-name with letters, digits, `-` or `_`",
                other.unwrap_or_default()
            );
            return ExitCode::from(2);
        }
    };
    let mut builder = protogate::configure()
        .route_unannotated_methods(args.route_unannotated)
        .emit_default_values(args.emit_defaults)
        .proto_field_names(args.proto_names)
        .enums_as_numbers(args.enums_as_numbers)
        .ignore_unknown_fields(args.ignore_unknown_fields)
        .ignore_unknown_query_parameters(args.ignore_unknown_query_parameters)
        .bare_stream_messages(args.bare_stream_messages);
    if let Some(names) = &args.forward_headers {
        builder = builder.forward_headers(comma_list(names));
    }
    if let Some(names) = &args.drop_headers {
        builder = builder.drop_headers(comma_list(names));
    }
    if let Some(path) = &args.openapi_path {
        builder = builder.openapi_path(path);
    }
    if args.no_openapi {
        builder = builder.serve_openapi(false);
    }
    builder = builder
        .openapi_whole_captures(args.openapi_whole_captures)
        .openapi_version(args.openapi_version);
    builder = builder.runtime(args.runtime.clone());
    builder = args.input.rules(builder);
    let layout = Layout::Crate {
        name: crate_name.clone(),
    };
    let generated = match builder.generate(&input, &layout) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    for note in &generated.notes {
        eprintln!("note: {note}");
    }
    for warning in &generated.warnings {
        eprintln!("{warning}");
    }
    if args.check {
        let drift = protogate::write::check(&args.out, &generated.files);
        if drift.differs {
            print_out(&drift.report);
            eprintln!(
                "error: {} is not up to date with the protos\n  help: regenerate it with: {}",
                args.out.display(),
                regenerate_command()
            );
            return ExitCode::from(1);
        }
        eprintln!("{} is up to date", args.out.display());
        return ExitCode::SUCCESS;
    }
    let result = protogate::write::write_crate(&args.out, &generated.files);
    match result {
        Ok(()) => {
            eprintln!(
                "generated {} ({} files)",
                args.out.display(),
                generated.files.len()
            );
            if let Some(note) = protogate::workspace::membership_note(&args.out) {
                eprintln!("note: {note}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// Writes `text` to standard output. A reader that stopped reading (`… | head`) is not an
/// error: the exit status still says what was found.
fn print_out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    // Nothing useful can be done when standard output is gone.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The name of the generated crate whose `openapi.json` is `out` (its `Cargo.toml` beside it),
/// which titles the crate's document.
fn crate_beside(out: &std::path::Path) -> Option<String> {
    protogate::write::generated_crate_name(out.parent()?)
}

/// This invocation without `--check`: the command that brings the directory up to date.
fn regenerate_command() -> String {
    std::env::args()
        .filter(|a| a != "--check")
        .map(|a| {
            if a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The non-empty items of a comma-separated list.
fn comma_list(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn valid_crate_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_list_flags_are_comma_separated() {
        let cli = Cli::try_parse_from([
            "protogate",
            "generate",
            "--proto",
            "a.proto",
            "--out",
            "out",
            "--forward-headers",
            "x-user, x-tenant-*,",
            "--drop-headers",
            "",
        ])
        .expect("parse");
        let Command::Generate(args) = cli.command else {
            panic!("not generate");
        };
        let forward = args.forward_headers.as_deref().map(comma_list);
        assert_eq!(forward, Some(vec!["x-user", "x-tenant-*"]));
        let drop = args.drop_headers.as_deref().map(comma_list);
        assert_eq!(drop, Some(vec![]));
    }
}
