//! The JSON field tables of messages and enums: each field's names, shape and writer/reader
//! method, as the generated JSON code sees them.

use std::collections::BTreeSet;

use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

use super::docs::{docs, field_behavior};
use super::mask::mask_message;
use super::rust_types::{enum_type, message_module, message_type, wrapper_kind};
use super::{Enum, EnumValue, Field, Item, Message, Oneof, OneofMember, Shape, Value};
use crate::ident;
use crate::json_string;

pub(super) fn message_model(m: &MessageDescriptor) -> Message {
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

pub(super) fn enum_model(e: &EnumDescriptor) -> Enum {
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

pub(super) fn field_model(f: &FieldDescriptor) -> Field {
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

/// The oneof a field belongs to, unless it is the synthetic oneof of a proto3 `optional`.
pub(super) fn real_oneof(f: &FieldDescriptor) -> Option<prost_reflect::OneofDescriptor> {
    f.containing_oneof().filter(|o| !o.is_synthetic())
}

pub(super) fn value_model(f: &FieldDescriptor) -> Value {
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
