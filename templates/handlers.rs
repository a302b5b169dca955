{%- import "shapes.rs" as s -%}
//! What each HTTP binding does, shaped by its RPC (`shapes.rs` in protogate's templates).
//! Every request message is built in the same order — body, then path variables, then the
//! query string (then, for PATCH, a field mask the client left unset, derived from the body).
//! A unary binding is a constant naming two plain functions, its request message and its
//! reply, which [`Gateway::unary`] runs around the upstream call; a reply that is the whole
//! message as JSON is `runtime::upstream::reply_message`. Streaming RPCs have a handler
//! each, streaming their messages in the body (NDJSON, Server-Sent Events, raw
//! `google.api.HttpBody` chunks), and also serve a WebSocket upgrade (`…_websocket`).

// Every handler has the same shape whatever its binding has: a query function with one
// parameter is still a `match`, and an `Empty` request is still a `let`. The API's deprecated
// fields are served all the same.
#![allow(
    deprecated,
    clippy::useless_conversion,
    clippy::single_match,
    clippy::match_single_binding,
    clippy::let_unit_value
)]

{% if !api.websocket.is_empty() -%}
use super::runtime::codegen::axum::body::Body;
{% endif -%}
use super::runtime::codegen::bytes::Bytes;
{% if api.handlers_respond() -%}
use super::runtime::codegen::axum::response::Response;
{% endif -%}
use super::runtime::codegen::http::request::Parts;
{% if api.handlers_read_elements() -%}
use super::runtime::json::Reader;
{% endif -%}

use super::runtime::{self, Error, Gateway};

{% for service in api.services -%}
{% for b in service.bindings -%}
{% match b.streaming() -%}
{% when Streaming::Unary -%}
{% call s::unary(b) %}{% endcall %}
{% when Streaming::Server -%}
{% call s::server_streaming(b) %}{% endcall %}

{% call s::websocket(b) %}{% endcall %}
{% when Streaming::Client -%}
{% call s::client_streaming(b) %}{% endcall %}

{% call s::websocket(b) %}{% endcall %}
{% when Streaming::Bidi -%}
{% call s::bidi_streaming(b) %}{% endcall %}

{% call s::websocket(b) %}{% endcall %}
{% endmatch %}

{% if b.takes_query() -%}
{% call s::query_fn(b) %}{% endcall %}
{% endif -%}

{% endfor -%}
{% endfor -%}
