{%- import "macros.rs" as m -%}
//! ProtoJSON for every message and enum of the API: generated, typed code, no reflection.

// Generated field tables read as `match` arms even with one field, and oneof members convert with
// `.into()` so boxed and unboxed variants share one form. The API's deprecated fields are read
// and written all the same.
#![allow(
    deprecated,
    clippy::useless_conversion,
    clippy::single_match,
    clippy::match_single_binding
)]

use super::runtime;
use super::runtime::json::{JsonError, ProtoJson, Reader, Writer};

{% for e in api.enums -%}
/// `{{ e.full_name }}`: JSON names are the proto value names; every name of a number is read
/// (`allow_alias`), the first one is written.
impl runtime::json::ProtoEnum for {{ e.rust_type }} {
    fn name(value: i32) -> Option<&'static str> {
        Self::try_from(value).ok().map(|v| v.as_str_name())
    }
    fn from_name(name: &str) -> Option<i32> {
        match name {
            {% for v in e.values -%}
            "{{ v.name }}" => Some({{ v.number }}),
            {% endfor -%}
            _ => None,
        }
    }
}

{% endfor -%}
{% for msg in api.messages -%}
/// `{{ msg.full_name }}`
impl ProtoJson for {{ msg.rust_type }} {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        {% for item in msg.items -%}
        {% match item -%}
        {% when Item::Field with (f) -%}
        {% call m::write_field(f) %}{% endcall %}
        {% when Item::Oneof with (o) -%}
        match &self.{{ o.ident }} {
            {% for f in o.members -%}
            Some({{ f.oneof_variant() }}(v)) => {
                w.key({{ f.json_key() }}, {{ f.proto_key() }});
                w.{{ f.value.method }}{{ f.value.type_arg }}(v);
            }
            {% endfor -%}
            None => {}
        }
        {% endmatch -%}
        {% endfor -%}
        w.end_object();
    }

    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        {% if msg.fields.is_empty() -%}
        r.object(&[], |_, _| Ok(()))
        {%- else -%}
        r.object(
            &[{% for f in msg.fields %}({{ f.json_name_literal() }}, {{ f.proto_key() }}), {% endfor %}],
            |r, field| {
                match field {
                    {% for f in msg.fields -%}
                    {{ loop.index0 }} => {% call m::read_field(f, "self") %}{% endcall %},
                    {% endfor -%}
                    _ => {}
                }
                Ok(())
            },
        )
        {%- endif %}
    }
}

{% if msg.mask_paths -%}
/// `{{ msg.full_name }}` as the body of a PATCH: the field-mask paths of its JSON keys.
impl runtime::field_mask::FieldMaskPaths for {{ msg.rust_type }} {
    fn mask_paths(r: &mut Reader<'_>, {% if msg.fields.is_empty() %}_paths{% else %}paths{% endif %}: &mut runtime::field_mask::MaskPaths) -> Result<(), JsonError> {
        r.object(
            &[{% for f in msg.fields %}({{ f.json_name_literal() }}, {{ f.proto_key() }}), {% endfor %}],
            |r, field| match field {
                {% for f in msg.fields -%}
                {% if f.mask_descends -%}
                {{ loop.index0 }} => paths.message{{ f.value.type_arg }}(r, "{{ f.proto_name }}"),
                {% else -%}
                {{ loop.index0 }} => paths.leaf(r, "{{ f.proto_name }}"),
                {% endif -%}
                {% endfor -%}
                _ => r.skip_value(),
            },
        )
    }
}

{% endif -%}
{% endfor -%}
/// The message types a `google.protobuf.Any` in this API may carry.
pub static TYPES: &[runtime::json::AnyType] = &[
    {% for msg in api.messages -%}
    runtime::json::AnyType::of::<{{ msg.rust_type }}>("{{ msg.full_name }}"),
    {% endfor -%}
];
