//! The Rust types of messages and enums as prost generates them, spelt as paths seen from a
//! module directly below the generated root (wrapper messages are their primitives).

use prost_reflect::{EnumDescriptor, Kind, MessageDescriptor};

use crate::ident;

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

pub(super) fn enum_type(e: &EnumDescriptor) -> String {
    if e.full_name().starts_with("google.protobuf.") {
        return format!("{PROST_TYPES}::{}", ident::to_upper_camel(e.name()));
    }
    format!(
        "{}::{}",
        scope(e.package_name(), e.parent_message()),
        ident::to_upper_camel(e.name())
    )
}

/// The module prost puts a message's nested types in: `…::book`.
pub(super) fn message_module(m: &MessageDescriptor) -> String {
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

/// The Rust module prost puts a package's types in, seen from a module directly below the root.
fn package_module(package: &str) -> String {
    let mut path = String::from("super::proto");
    for part in package.split('.').filter(|p| !p.is_empty()) {
        path.push_str("::");
        path.push_str(&ident::to_snake(part));
    }
    path
}

/// The well-known wrapper messages and the primitive each one holds.
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

/// The primitive `m` holds, if it is a well-known wrapper message (`google.protobuf.Int32Value`).
pub(super) fn wrapper_kind(m: &MessageDescriptor) -> Option<Kind> {
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
