{%- import "macros.rs" as m -%}
//! One function per HTTP binding. Each builds the request message in the same order — body,
//! then path variables, then the query string (then, for PATCH, a field mask the client left
//! unset, derived from the body) — calls the upstream and writes the reply.

// Every handler has the same shape whatever its binding has: a query function with no
// parameters is still a `match`, and an `Empty` request is still a `let`.
#![allow(
    clippy::useless_conversion,
    clippy::single_match,
    clippy::match_single_binding,
    clippy::let_unit_value,
    unused_mut,
    unused_variables
)]

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;

// Used by bindings whose body is a single repeated, map or optional field.
#[allow(unused_imports)]
use super::runtime::json::Reader;
use super::runtime::{self, Error, Gateway, Upstream};

{% for s in api.services -%}
{% for b in s.bindings -%}
{% for line in b.doc -%}
/// {{ line }}
{% endfor -%}
pub(super) async fn {{ b.ident }}<T: Upstream>(
    gw: &Gateway<T>,
    parts: &Parts,
    captures: &[&str],
    body: Body,
) -> Result<Response, Error> {
    let mut request = <{{ b.input_type }}>::default();
    {% match b.body -%}
    {% when Body::Whole -%}
    let body = gw.read_body(body).await?;
    gw.merge_json(&mut request, &body)?;
    {% when Body::Field with (f) -%}
    let body = gw.read_body(body).await?;
    gw.read_json(&body, |r| {
        {% call m::read_field(f, "request") %}{% endcall %};
        Ok(())
    })?;
    {% when Body::None -%}
    {% endmatch -%}
    {% for v in b.path_vars -%}
    let value = runtime::path::{% if v.multi_segment %}multi_segment{% else %}segment{% endif %}(captures[{{ loop.index0 }}], "{{ v.name }}", {{ v.setter.parse }})?;
    {% call m::assign(v.setter, "request", "\"{}\"".replace("{}", v.name)) %}{% endcall %}
    {% endfor -%}
    {{ b.ident }}_query(&mut request, parts.uri.query().unwrap_or_default(), gw.options().ignore_unknown_query_parameters)?;
    {% match b.field_mask -%}
    {% when Some with (mask) -%}
    // PATCH: a mask the client left unset lists the body's keys (an explicit one wins).
    if request.{{ mask.field }}.is_none() {
        request.{{ mask.field }} = Some(runtime::field_mask::from_body::<{{ mask.body_type }}>(&body, &gw.options().json)?);
    }
    {% when None -%}
    {% endmatch -%}
    let response = gw.unary::<_, {{ b.output_type }}>("{{ b.grpc_path }}", parts, request).await?;
    Ok(gw.respond(&response, |w, message| {
        {% match b.response_body -%}
        {% when Some with (f) -%}
        {% call m::write_value(f, "message") %}{% endcall %}
        {% when None -%}
        w.message::<{{ b.output_type }}>(message);
        {% endmatch -%}
    }))
}

/// The query parameters of `{{ b.http_method }} {{ b.template }}`: every field the path and body leave unset.
fn {{ b.ident }}_query(
    request: &mut {{ b.input_type }},
    query: &str,
    ignore_unknown: bool,
) -> Result<(), Error> {
    let mut seen = runtime::query::Seen::default();
    for pair in runtime::query::pairs(query) {
        let (name, value) = pair?;
        match &*name {
            {% for q in b.query -%}
            {% for n in q.names %}{% if !loop.first %} | {% endif %}"{{ n }}"{% endfor %} => {
                {% if !q.repeated -%}
                seen.once({{ q.index }}, &name)?;
                {% endif -%}
                let value = runtime::query::value(&name, &value, {{ q.setter.parse }})?;
                {% call m::assign(q.setter, "request", "&name") %}{% endcall %}
            }
            {% endfor -%}
            _ => {
                {% if b.query_maps.is_empty() -%}
                runtime::query::unknown(&name, ignore_unknown)?;
                {%- else -%}
                match runtime::query::map_entry(&name) {
                    {% for q in b.query_maps -%}
                    Some(({% for n in q.names %}{% if !loop.first %} | {% endif %}"{{ n }}"{% endfor %}, key)) => {
                        {% match q.setter.assign -%}
                        {% when Assign::Insert with (key_parse) -%}
                        let key = runtime::query::value(&name, key, {{ key_parse }})?;
                        {% else -%}
                        {% endmatch -%}
                        let value = runtime::query::value(&name, &value, {{ q.setter.parse }})?;
                        {% call m::assign(q.setter, "request", "&name") %}{% endcall %}
                    }
                    {% endfor -%}
                    _ => runtime::query::unknown(&name, ignore_unknown)?,
                }
                {%- endif %}
            }
        }
    }
    Ok(())
}

{% endfor -%}
{% endfor -%}
