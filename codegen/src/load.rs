//! Step 1: compile the user's `.proto` files (or read a descriptor set) into a descriptor pool.
//!
//! The pool comes from protox, not from a `prost_types::FileDescriptorSet`, because prost drops
//! unknown fields and with them every `google.api.http` option; prost-reflect keeps them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost_reflect::DescriptorPool;
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

use crate::error::{Diagnostic, Error, Location};

/// The `google.api` and `google.rpc` protos, bundled so users need no googleapis checkout.
const BUNDLED: &[(&str, &str)] = &[
    (
        "google/api/annotations.proto",
        include_str!("../proto/google/api/annotations.proto"),
    ),
    (
        "google/api/http.proto",
        include_str!("../proto/google/api/http.proto"),
    ),
    (
        "google/api/httpbody.proto",
        include_str!("../proto/google/api/httpbody.proto"),
    ),
    (
        "google/api/field_behavior.proto",
        include_str!("../proto/google/api/field_behavior.proto"),
    ),
    (
        "google/rpc/code.proto",
        include_str!("../proto/google/rpc/code.proto"),
    ),
    (
        "google/rpc/error_details.proto",
        include_str!("../proto/google/rpc/error_details.proto"),
    ),
    (
        "google/rpc/status.proto",
        include_str!("../proto/google/rpc/status.proto"),
    ),
];

/// The files of the `google.rpc` error types, generated into every crate so the error details
/// upstreams send (`grpc-status-details-bin`) render as JSON.
pub const ERROR_TYPES: &[&str] = &["google/rpc/status.proto", "google/rpc/error_details.proto"];

/// Compiled input: the pool with every file, and the names of the files the user asked for.
#[derive(Debug)]
pub struct Loaded {
    pub pool: DescriptorPool,
    /// Proto file names (as imported, e.g. `library/v1/library.proto`) whose services are served,
    /// sorted so the output does not depend on the order they were given in.
    pub targets: Vec<String>,
    /// Source text by file name, where known, to point errors inside option values (the
    /// descriptors record no positions there).
    pub sources: BTreeMap<String, String>,
}

/// Serves the bundled protos after the user's include paths, so a user's own copies win.
struct BundledFileResolver;

impl FileResolver for BundledFileResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match BUNDLED.iter().find(|(file, _)| *file == name) {
            Some((file, source)) => File::from_source(file, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Compiles `protos` (paths as protoc takes them) against the include directories.
pub fn compile(protos: &[PathBuf], includes: &[PathBuf]) -> Result<Loaded, Error> {
    if protos.is_empty() {
        return Err(Error::invalid(
            Diagnostic::new("no .proto files given").help("pass at least one file with --proto"),
        ));
    }
    let mut resolver = ChainFileResolver::new();
    for include in includes {
        resolver.add(IncludeFileResolver::new(include.clone()));
    }
    resolver.add(BundledFileResolver);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_source_info(true).include_imports(true);
    for proto in protos {
        let exists = proto.is_file() || includes.iter().any(|dir| dir.join(proto).is_file());
        if !exists {
            return Err(Error::invalid(
                Diagnostic::new(format!("{}: file not found", proto.display())).help(
                    "pass a path that exists, relative to the working directory or to an -I directory",
                ),
            ));
        }
        compiler
            .open_file(proto)
            .map_err(|e| Error::invalid(protox_diagnostic(&e, proto, includes)))?;
    }
    let mut targets: Vec<String> = compiler
        .files()
        .filter(|f| !f.is_import())
        .map(|f| f.name().to_string())
        .collect();
    targets.sort();
    for name in ERROR_TYPES {
        compiler
            .open_file(name)
            .map_err(|e| Error::Internal(format!("bundled {name}: {e}")))?;
    }
    let mut sources = BTreeMap::new();
    for file in compiler.files() {
        let text = match file.path() {
            Some(path) => std::fs::read_to_string(path).ok(),
            None => BUNDLED
                .iter()
                .find(|(name, _)| *name == file.name())
                .map(|(_, source)| source.to_string()),
        };
        if let Some(text) = text {
            sources.insert(file.name().to_string(), text);
        }
    }
    Ok(Loaded {
        pool: compiler.descriptor_pool(),
        targets,
        sources,
    })
}

/// Reads a serialized `FileDescriptorSet` (as `buf build -o` or `protoc --include_imports
/// --descriptor_set_out` write it). Its targets are chosen by [`descriptor_set_targets`].
pub fn descriptor_set(path: &Path) -> Result<Loaded, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = crate::editions::lower(&bytes, path)?.unwrap_or(bytes);
    let mut pool = DescriptorPool::new();
    // The set may lack google/api/annotations.proto when it was built without imports; the
    // bundled copy makes the `google.api.http` extension known either way.
    let decoded = <prost_types::FileDescriptorSet as prost::Message>::decode(bytes.as_slice())
        .map_err(|e| {
            Error::invalid(
                Diagnostic::new(format!("{}: not a FileDescriptorSet: {e}", path.display()))
                    .help("write the set with `buf build -o FILE` or `protoc --include_imports --descriptor_set_out=FILE`"),
            )
        })?;
    let bundled_needed: Vec<&str> = ["google/api/annotations.proto"]
        .into_iter()
        .chain(ERROR_TYPES.iter().copied())
        .filter(|name| !decoded.file.iter().any(|f| f.name() == *name))
        .collect();
    if !bundled_needed.is_empty() {
        let mut compiler = protox::Compiler::with_file_resolver({
            let mut r = ChainFileResolver::new();
            r.add(BundledFileResolver);
            r.add(GoogleFileResolver::new());
            r
        });
        for name in bundled_needed {
            compiler
                .open_file(name)
                .map_err(|e| Error::Internal(format!("bundled {name}: {e}")))?;
        }
        pool = compiler.descriptor_pool();
    }
    let mut targets = descriptor_set_targets(&decoded);
    pool.decode_file_descriptor_set(bytes.as_slice())
        .map_err(|e| {
            Error::invalid(
                Diagnostic::new(format!("{}: invalid descriptor set: {e}", path.display()))
                    .help("regenerate it with --include_imports so every import is inside"),
            )
        })?;
    targets.sort();
    Ok(Loaded {
        pool,
        targets,
        sources: BTreeMap::new(),
    })
}

/// The files of a descriptor set whose services are served. A set written with its imports
/// does not say which files were asked for, so: every file outside `google/`, and a `google/`
/// file (a googleapis API, or protobuf's own test messages) when no other file of the set
/// imports it, which is how the file that was asked for looks. That serves
/// `google/cloud/tasks/v2/cloudtasks.proto` given alone, but not `google/longrunning` when an
/// API merely imports it. The well-known types are never targets: prost-types has them.
fn descriptor_set_targets(set: &prost_types::FileDescriptorSet) -> Vec<String> {
    let imported: std::collections::BTreeSet<&str> = set
        .file
        .iter()
        .flat_map(|f| f.dependency.iter().map(String::as_str))
        .collect();
    set.file
        .iter()
        .map(|f| f.name())
        .filter(|name| !crate::well_known::is_file(name))
        .filter(|name| !name.starts_with("google/") || !imported.contains(name))
        .map(str::to_string)
        .collect()
}

/// Turns a protox error into a diagnostic with file, line and column where protox has them.
fn protox_diagnostic(error: &protox::Error, proto: &Path, includes: &[PathBuf]) -> Diagnostic {
    use miette::Diagnostic as _;
    let mut location = None;
    if let (Some(file), Some(source), Some(mut labels)) =
        (error.file(), error.source_code(), error.labels())
    {
        if let Some(label) = labels.next() {
            if let Ok(contents) = source.read_span(label.inner(), 0, 0) {
                location = Some(Location {
                    file: file.to_string(),
                    line: contents.line() as u32 + 1,
                    column: contents.column() as u32 + 1,
                });
            }
        }
    }
    let mut d = Diagnostic::new(error.to_string()).at(location);
    if error.is_parse() && error.to_string().contains("found 'edition'") {
        d = d.help(
            "this is an editions file, which protox (the .proto compiler protogate uses) does not read yet: \
             compile it with `protoc --include_imports --descriptor_set_out=FILE` or `buf build -o FILE` \
             and pass --descriptor-set FILE",
        );
    } else if error.is_parse() {
        d = d.help(
            "fix the proto syntax at this position; the file must compile as it would with protoc",
        );
    } else if error.is_file_not_found() || error.to_string().contains("not found") {
        let dirs: Vec<String> = includes.iter().map(|p| p.display().to_string()).collect();
        // A missing import is named in the message (`import 'x/y.proto' not found`); else the
        // file given is the one missing.
        let message = error.to_string();
        let missing = message
            .strip_prefix("import '")
            .and_then(|rest| rest.split_once('\''))
            .map_or_else(|| proto.display().to_string(), |(name, _)| name.to_string());
        d = d.help(format!(
            "`{missing}` must lie inside one of the include directories (-I): [{}]",
            dirs.join(", ")
        ));
    }
    d
}

/// Finds the source location of a descriptor path (as in `SourceCodeInfo.Location.path`),
/// falling back to the closest enclosing element that has one.
pub fn location(file: &prost_reflect::FileDescriptor, path: &[i32]) -> Option<Location> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let mut best: Option<&prost_types::source_code_info::Location> = None;
    for loc in &info.location {
        if path.starts_with(&loc.path) && best.is_none_or(|b| loc.path.len() > b.path.len()) {
            best = Some(loc);
        }
    }
    let span = &best?.span;
    Some(Location {
        file: file.name().to_string(),
        line: *span.first()? as u32 + 1,
        column: *span.get(1)? as u32 + 1,
    })
}
