//! Protobuf editions (`edition = "2023"`) in a descriptor set, lowered to the proto2 form that
//! prost-reflect and prost-build read.
//!
//! Neither of them reads editions files yet (prost-reflect fails on `syntax = "editions"`), but
//! what an editions file means for a proxy has a proto2 spelling: a field's presence and a
//! repeated field's encoding are resolved from the features (file, then message, then field;
//! edition 2023 and 2024 default to explicit presence and packed encoding) and written the
//! proto2 way: `LEGACY_REQUIRED` as `required`, packed or expanded as the `packed` option.
//! Implicit presence becomes explicit: a field its sender leaves at its default is absent on
//! the wire either way, so the proxy reads and writes the same JSON. The set is edited as a
//! dynamic message, so options it does not know (the `google.api.http` rules) are kept.

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage as _, Value};

use crate::error::{Diagnostic, Error};

/// `google.protobuf.Edition` values this lowering knows the feature defaults of.
const EDITION_2023: i32 = 1000;
const EDITION_2024: i32 = 1001;

/// `FeatureSet.field_presence` values.
const PRESENCE_LEGACY_REQUIRED: i32 = 3;
/// `FeatureSet.repeated_field_encoding` values.
const ENCODING_PACKED: i32 = 1;
const ENCODING_EXPANDED: i32 = 2;
/// `FeatureSet.message_encoding`: `DELIMITED` (group encoding).
const MESSAGE_DELIMITED: i32 = 2;

/// `FieldDescriptorProto.label`: `LABEL_REPEATED` and `LABEL_REQUIRED`.
const LABEL_REQUIRED: i32 = 2;
const LABEL_REPEATED: i32 = 3;
/// `FieldDescriptorProto.type` values that cannot be packed: string, group, message, bytes.
const UNPACKABLE_TYPES: [i32; 4] = [9, 10, 11, 12];

/// The features a field sees, inherited down the file and its messages.
#[derive(Clone, Copy)]
struct Features {
    presence: Option<i32>,
    repeated: Option<i32>,
    message: Option<i32>,
}

/// `bytes` (a serialized `FileDescriptorSet`) with every editions file lowered to proto2, or
/// `None` when it has no editions file.
pub fn lower(bytes: &[u8], path: &std::path::Path) -> Result<Option<Vec<u8>>, Error> {
    let invalid = |message: String, help: &str| {
        Error::invalid(
            Diagnostic::new(format!("{}: {message}", path.display())).help(help.to_string()),
        )
    };
    let Some(descriptor) =
        DescriptorPool::global().get_message_by_name("google.protobuf.FileDescriptorSet")
    else {
        return Err(Error::Internal(
            "descriptor.proto is not in prost-reflect's pool".into(),
        ));
    };
    let mut set = DynamicMessage::decode(descriptor, bytes).map_err(|e| {
        invalid(
            format!("not a FileDescriptorSet: {e}"),
            "write the set with `buf build -o FILE` or `protoc --include_imports --descriptor_set_out=FILE`",
        )
    })?;
    let mut lowered = false;
    if let Some(Value::List(files)) = set.get_field_by_name_mut("file") {
        for file in files.iter_mut() {
            let Value::Message(file) = file else { continue };
            if string(file, "syntax") != "editions" {
                continue;
            }
            let name = string(file, "name");
            let edition = int(file, "edition");
            if edition != EDITION_2023 && edition != EDITION_2024 {
                return Err(invalid(
                    format!(
                        "{name}: edition {edition} is not one protogate reads (2023 and 2024 are)"
                    ),
                    "write the file with `edition = \"2023\"` or `\"2024\"`, or in proto2 or proto3 syntax",
                ));
            }
            let features = own_features(
                Features {
                    presence: None,
                    repeated: None,
                    message: None,
                },
                file,
            );
            if let Some(Value::List(messages)) = file.get_field_by_name_mut("message_type") {
                for message in messages.iter_mut() {
                    if let Value::Message(message) = message {
                        lower_message(message, features, &name).map_err(|m| {
                            invalid(m, "declare the field as a length-prefixed message field, or generate from a proto2 file with a group")
                        })?;
                    }
                }
            }
            if let Some(Value::List(fields)) = file.get_field_by_name_mut("extension") {
                for field in fields.iter_mut() {
                    if let Value::Message(field) = field {
                        lower_field(field, features, &name).map_err(|m| {
                            invalid(m, "declare the field as a length-prefixed message field")
                        })?;
                    }
                }
            }
            file.set_field_by_name("syntax", Value::String("proto2".into()));
            file.clear_field_by_name("edition");
            lowered = true;
        }
    }
    Ok(lowered.then(|| set.encode_to_vec()))
}

fn string(m: &DynamicMessage, field: &str) -> String {
    match m.get_field_by_name(field).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn int(m: &DynamicMessage, field: &str) -> i32 {
    match m.get_field_by_name(field).as_deref() {
        Some(Value::EnumNumber(n) | Value::I32(n)) => *n,
        _ => 0,
    }
}

/// `inherited` with the features `element`'s options set (`options.features`).
fn own_features(inherited: Features, element: &DynamicMessage) -> Features {
    let Some(options) = element.get_field_by_name("options") else {
        return inherited;
    };
    let Value::Message(options) = options.as_ref() else {
        return inherited;
    };
    if !options.has_field_by_name("features") {
        return inherited;
    }
    let Some(features) = options.get_field_by_name("features") else {
        return inherited;
    };
    let Value::Message(features) = features.as_ref() else {
        return inherited;
    };
    let set = |name: &str| {
        features
            .has_field_by_name(name)
            .then(|| int(features, name))
    };
    Features {
        presence: set("field_presence").or(inherited.presence),
        repeated: set("repeated_field_encoding").or(inherited.repeated),
        message: set("message_encoding").or(inherited.message),
    }
}

fn lower_message(
    message: &mut DynamicMessage,
    inherited: Features,
    file: &str,
) -> Result<(), String> {
    let features = own_features(inherited, message);
    for list in ["field", "extension"] {
        if let Some(Value::List(fields)) = message.get_field_by_name_mut(list) {
            for field in fields.iter_mut() {
                if let Value::Message(field) = field {
                    lower_field(field, features, file)?;
                }
            }
        }
    }
    if let Some(Value::List(nested)) = message.get_field_by_name_mut("nested_type") {
        for m in nested.iter_mut() {
            if let Value::Message(m) = m {
                lower_message(m, features, file)?;
            }
        }
    }
    Ok(())
}

fn lower_field(field: &mut DynamicMessage, inherited: Features, file: &str) -> Result<(), String> {
    let features = own_features(inherited, field);
    let label = int(field, "label");
    let kind = int(field, "type");
    if features.message == Some(MESSAGE_DELIMITED) && kind == 11 {
        return Err(format!(
            "{file}: field `{}` uses the delimited (group) message encoding, which protogate does not read from editions files",
            string(field, "name")
        ));
    }
    if label == LABEL_REPEATED && !UNPACKABLE_TYPES.contains(&kind) {
        let packed = features.repeated.unwrap_or(ENCODING_PACKED) != ENCODING_EXPANDED;
        let Some(descriptor) = field
            .descriptor()
            .get_field_by_name("options")
            .and_then(|f| f.kind().as_message().cloned())
        else {
            return Ok(());
        };
        let mut options = match field.get_field_by_name("options").as_deref() {
            Some(Value::Message(o)) => o.clone(),
            _ => DynamicMessage::new(descriptor),
        };
        options.set_field_by_name("packed", Value::Bool(packed));
        field.set_field_by_name("options", Value::Message(options));
    } else if label != LABEL_REPEATED && features.presence == Some(PRESENCE_LEGACY_REQUIRED) {
        field.set_field_by_name("label", Value::EnumNumber(LABEL_REQUIRED));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use prost_reflect::Cardinality;

    use crate::{Error, Input, Layout};

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/editions/things.binpb")
    }

    /// protoc's descriptor set of an editions file (prost-reflect panicked on it) reads as the
    /// proto2 file it means, with its HttpRule, and generates.
    #[test]
    fn an_editions_descriptor_set_is_read_as_proto2() -> Result<(), Error> {
        let loaded = crate::load::descriptor_set(&fixture())?;
        let thing = loaded
            .pool
            .get_message_by_name("editions.v1.Thing")
            .ok_or_else(|| Error::Internal("no Thing".into()))?;
        let field = |name: &str| {
            thing
                .get_field_by_name(name)
                .ok_or_else(|| Error::Internal(format!("no field {name}")))
        };
        assert!(field("nums")?.is_packed(), "packed by default");
        assert!(!field("loose")?.is_packed(), "EXPANDED");
        assert_eq!(field("must")?.cardinality(), Cardinality::Required);
        assert_eq!(field("count")?.cardinality(), Cardinality::Optional);
        assert!(field("count")?.supports_presence());
        assert_eq!(loaded.targets, ["editions/v1/things.proto"]);

        let generated = crate::configure().generate(
            &Input::DescriptorSet(fixture()),
            &Layout::Crate {
                name: "things".into(),
            },
        )?;
        assert!(generated.files["src/routes.rs"].contains("/v1/things/{name}"));
        let proto = &generated.files["src/proto.rs"];
        assert!(
            proto.contains("pub must: ::prost::alloc::string::String"),
            "{proto}"
        );
        Ok(())
    }

    /// A set without editions files is left as it is.
    #[test]
    fn other_sets_are_left_alone() -> Result<(), Error> {
        let set = prost_types::FileDescriptorSet {
            file: vec![prost_types::FileDescriptorProto {
                name: Some("a.proto".into()),
                syntax: Some("proto3".into()),
                ..Default::default()
            }],
        };
        let bytes = prost::Message::encode_to_vec(&set);
        assert!(super::lower(&bytes, Path::new("a.binpb"))?.is_none());
        assert!(super::lower(b"\xff\xff", Path::new("bad.binpb")).is_err());
        Ok(())
    }
}
