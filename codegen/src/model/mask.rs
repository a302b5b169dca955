//! Update masks derived from PATCH bodies: which bindings derive one, into which field, and
//! the messages whose field-mask walkers they need.

use std::collections::BTreeSet;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use super::json::real_oneof;
use super::rust_types::message_type;
use super::{DerivedMask, Service};
use crate::ident;

/// Whether a PATCH binding derives its update mask from the body, and into which field.
pub(super) fn derived_mask(
    http_method: &str,
    input: &MessageDescriptor,
    body: &str,
    bound: &BTreeSet<Vec<String>>,
) -> Option<DerivedMask> {
    if http_method != "PATCH" {
        return None;
    }
    let body_message = mask_message(&input.get_field_by_name(body)?)?;
    if body_message.full_name() == "google.api.HttpBody" {
        // A raw upload, not JSON keys.
        return None;
    }
    let mut masks = input.fields().filter(
        |f| matches!(f.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.FieldMask"),
    );
    let (mask, None) = (masks.next()?, masks.next()) else {
        return None;
    };
    if mask.is_list()
        || real_oneof(&mask).is_some()
        || bound.contains(&vec![mask.name().to_string()])
    {
        return None;
    }
    Some(DerivedMask {
        name: mask.name().to_string(),
        field: ident::to_snake(mask.name()),
        body_type: message_type(&body_message),
        body_message: body_message.full_name().to_string(),
    })
}

/// The messages whose field-mask walkers the derived masks need: each body message and every
/// message reachable from it through descended fields.
pub(super) fn mask_walkers(pool: &DescriptorPool, services: &[Service]) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    let mut stack: Vec<String> = services
        .iter()
        .flat_map(|s| &s.bindings)
        .filter_map(|b| b.field_mask.as_ref().map(|m| m.body_message.clone()))
        .collect();
    while let Some(name) = stack.pop() {
        if !needed.insert(name.clone()) {
            continue;
        }
        if let Some(m) = pool.get_message_by_name(&name) {
            stack.extend(
                m.fields()
                    .filter_map(|f| mask_message(&f))
                    .map(|m| m.full_name().to_string()),
            );
        }
    }
    needed
}

/// The message a derived field mask descends into for `f`: a singular message field whose type
/// is not a well-known type (those, like scalars, repeated fields and maps, are leaves).
pub(super) fn mask_message(f: &FieldDescriptor) -> Option<MessageDescriptor> {
    if f.is_list() || f.is_map() {
        return None;
    }
    match f.kind() {
        Kind::Message(m) if !m.full_name().starts_with("google.protobuf.") => Some(m),
        _ => None,
    }
}
