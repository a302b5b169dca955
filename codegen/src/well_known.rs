//! The well-known types: the `google/protobuf/*.proto` files that protox bundles and prost-types
//! implements. Only these are left out of the generated message types; any other file under
//! `google/protobuf/` (protobuf's own test messages, say) is an ordinary file of the API.

/// The files protox resolves on its own, whose messages prost-types provides.
pub const FILES: &[&str] = &[
    "google/protobuf/any.proto",
    "google/protobuf/api.proto",
    "google/protobuf/compiler/plugin.proto",
    "google/protobuf/descriptor.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/source_context.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/type.proto",
    "google/protobuf/wrappers.proto",
];

/// Whether `file` (a name as imported) is one of the well-known type files.
pub fn is_file(file: &str) -> bool {
    FILES.contains(&file)
}
