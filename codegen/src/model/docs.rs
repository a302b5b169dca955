//! What the proto says about an element besides its type, for documentation: its comments,
//! deprecation and `google.api.field_behavior`.

use prost_reflect::{FieldDescriptor, MethodDescriptor};

use super::Docs;

/// The comments of the element at `path` in `file` (`SourceCodeInfo`), for documentation.
pub(super) fn docs(file: &prost_reflect::FileDescriptor, path: &[i32], deprecated: bool) -> Docs {
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
pub(super) fn field_behavior(f: &FieldDescriptor) -> Vec<String> {
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

/// The lines of the leading comment of `method`, trimmed, blank ones left out: its handler's doc.
pub(super) fn method_comments(method: &MethodDescriptor) -> Vec<String> {
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
