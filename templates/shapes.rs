{%- import "macros.rs" as m -%}
{#- One macro per RPC shape (unary, server, client and bidirectional streaming, WebSocket), and
    the pieces they share: how the request is built, how stream messages are read and written. -#}

{#- The doc comment of a binding's handler. -#}
{%- macro doc(b) -%}
{% for line in b.doc -%}
/// {{ line }}
{% endfor -%}
{%- endmacro -%}

{#- Path variables into `target`, in template order. -#}
{%- macro path_vars(b, target) -%}
{% for v in b.path_vars -%}
let value = runtime::path::{% if v.multi_segment %}multi_segment{% else %}segment{% endif %}(captures[{{ loop.index0 }}], "{{ v.name }}", {{ v.setter.parse }})?;
{% call m::assign(v.setter, target, "\"{}\"".replace("{}", v.name)) %}{% endcall %}
{% endfor -%}
{%- endmacro -%}

{#- The query string into `target`. -#}
{%- macro query(b, target) -%}
{% if b.takes_query() -%}
{{ b.ident }}_query(&mut {{ target }}, parts.uri.query().unwrap_or_default(), gw.options().ignore_unknown_query_parameters)?;
{%- else -%}
runtime::query::none(parts.uri.query().unwrap_or_default(), gw.options().ignore_unknown_query_parameters)?;
{%- endif -%}
{%- endmacro -%}

{#- Stores a raw body (`content_type`, `data`) into `target`: the HttpBody itself or its field. -#}
{%- macro raw_store(raw, target) -%}
{% match raw.field -%}
{% when Some with (field) -%}
{{ target }}.{{ field }} = Some({{ raw.rust_type }} { content_type, data: data.into(), ..Default::default() });
{% when None -%}
{{ target }}.content_type = content_type;
{{ target }}.data = data.into();
{% endmatch -%}
{%- endmacro -%}

{#- The one request message of a unary or server-streaming call, from `body` (the bytes read):
    body, then path variables, then the query string (then, for PATCH, a field mask derived from
    the body). -#}
{%- macro request(b) -%}
let {% if b.fills_request() %}mut {% endif %}request = <{{ b.input_type }}>::default();
{% match b.raw_request -%}
{% when Some with (raw) -%}
// google.api.HttpBody: the raw body and its Content-Type.
let data = body;
let content_type = runtime::stream::content_type(parts);
{% call raw_store(raw, "request") %}{% endcall %}
{% when None -%}
{% match b.body -%}
{% when Body::Whole -%}
gw.merge_json(&mut request, &body)?;
{% when Body::Field with (f) -%}
gw.read_json(&body, |r| {
    {% call m::read_field(f, "request") %}{% endcall %};
    Ok(())
})?;
{% when Body::None -%}
{% endmatch -%}
{% endmatch -%}
{% call path_vars(b, "request") %}{% endcall %}
{% call query(b, "request") %}{% endcall %}
{% match b.field_mask -%}
{% when Some with (mask) -%}
// PATCH: a mask the client left unset lists the body's keys (an explicit one wins).
if request.{{ mask.field }}.is_none() {
    request.{{ mask.field }} = Some(runtime::field_mask::from_body::<{{ mask.body_type }}>(&body, &gw.options().json)?);
}
{% when None -%}
{% endmatch -%}
{%- endmacro -%}

{#- The function that makes the one request message, encoded. -#}
{%- macro request_fn(b) -%}
/// The request message of `{{ b.http_method }} {{ b.template }}`, encoded for the call.
fn {{ b.ident }}_request(gw: &Gateway, parts: &Parts, {% if b.path_vars.is_empty() %}_{% endif %}captures: &[&str], {% if !b.reads_body() %}_{% endif %}body: Bytes) -> Result<Bytes, Error> {
    {% call request(b) %}{% endcall %}
    Ok(runtime::upstream::encode(&request))
}
{%- endmacro -%}

{#- How each message of a request stream is made from `base`: one JSON value read into it (the
    whole message or the body field), or one chunk of the raw body. -#}
{%- macro decoder(b, base) -%}
{% match b.raw_request -%}
{% when Some with (raw) -%}
runtime::stream::Decoder::raw({{ base }}, |request, content_type, data| {
    {% call raw_store(raw, "request") %}{% endcall %}
})
{%- when None -%}
{% match b.body -%}
{% when Body::Field with (f) -%}
runtime::stream::Decoder::json({{ base }}, |request, r| {
    {% call m::read_field(f, "request") %}{% endcall %};
    Ok(())
})
{%- else -%}
runtime::stream::Decoder::json({{ base }}, runtime::json::ProtoJson::merge_json)
{%- endmatch -%}
{%- endmatch -%}
{%- endmacro -%}

{#- How each response message is written: as JSON (the message or its response_body field), or
    raw for a google.api.HttpBody. -#}
{%- macro encoder(b) -%}
{% match b.raw_response -%}
{% when Some with (raw) -%}
{% match raw.field -%}
{% when Some with (field) -%}
runtime::stream::Encoder::<{{ b.output_type }}>::Raw(|message| {
    let body = message.{{ field }}.unwrap_or_default();
    (body.content_type, body.data)
})
{%- when None -%}
runtime::stream::Encoder::<{{ b.output_type }}>::Raw(|message| (message.content_type, message.data))
{%- endmatch -%}
{%- when None -%}
runtime::stream::Encoder::<{{ b.output_type }}>::Json(|w, message| {
    {% match b.response_body -%}
    {% when Some with (f) -%}
    {% call m::write_value(f, "message") %}{% endcall %}
    {% when None -%}
    w.message::<{{ b.output_type }}>(message);
    {% endmatch -%}
})
{%- endmatch -%}
{%- endmacro -%}

{#- The reply to a call with one response message, from the upstream's encoded `reply`. -#}
{%- macro respond(b) -%}
{% if b.replies_with_message() -%}
runtime::upstream::reply_message::<{{ b.output_type }}>(gw, reply)
{%- else -%}
let message = runtime::upstream::decode::<{{ b.output_type }}>(reply.get_ref())?;
{% match b.raw_response -%}
{% when Some with (raw) -%}
{% match raw.field -%}
{% when Some with (field) -%}
let body = message.{{ field }}.unwrap_or_default();
Ok(gw.respond_raw(&reply, body.content_type, body.data))
{%- when None -%}
Ok(gw.respond_raw(&reply, message.content_type, message.data))
{%- endmatch -%}
{%- when None -%}
{% if let Some(f) = b.response_body -%}
Ok(gw.respond(&reply, &mut |w| {
    {% call m::write_value(f, "message") %}{% endcall %}
}))
{%- endif -%}
{%- endmatch -%}
{%- endif -%}
{%- endmacro -%}

{#- Unary: one request message, one reply; the runtime's one call path serves every unary
    binding with the two functions the constant names. -#}
{%- macro unary(b) -%}
{% call doc(b) %}{% endcall -%}
pub(super) const {{ b.constant() }}: runtime::Unary = runtime::Unary {
    binding: runtime::ops::Binding {
        method: {{ "{:?}"|format(b.http_method) }},
        template: {{ "{:?}"|format(b.template) }},
        grpc_method: "{{ b.grpc_path }}",
    },
    reads_body: {{ b.reads_body() }},
    request: {{ b.ident }}_request,
    {% if b.replies_with_message() -%}
    reply: runtime::upstream::reply_message::<{{ b.output_type }}>,
    {%- else -%}
    reply: {{ b.ident }}_reply,
    {%- endif %}
};

{% call request_fn(b) %}{% endcall %}
{%- if !b.replies_with_message() %}

/// The reply to `{{ b.http_method }} {{ b.template }}`, from the upstream's.
fn {{ b.ident }}_reply(gw: &Gateway, reply: runtime::codegen::tonic::Response<Bytes>) -> Result<Response, Error> {
    {% call respond(b) %}{% endcall %}
}
{%- endif %}
{%- endmacro -%}

{#- Server streaming: one request message, the replies streamed as they come. -#}
{%- macro server_streaming(b) -%}
{% call doc(b) %}{% endcall -%}
///
/// Server streaming: {% if b.raw_response.is_some() %}the `google.api.HttpBody` chunks, raw{% else %}one NDJSON line per message (Server-Sent Events for `Accept: text/event-stream`){% endif %}.
pub(super) async fn {{ b.ident }}(
    gw: &Gateway,
    parts: &Parts,
    captures: &[&str],
    body: Body,
) -> Result<Response, Error> {
    let body = gw.request_body({{ b.reads_body() }}, body).await?;
    let request = {{ b.ident }}_request(gw, parts, captures, body)?;
    let encoder = {% call encoder(b) %}{% endcall %};
    gw.server_stream("{{ b.grpc_path }}", parts, request, encoder).await
}

{% call request_fn(b) %}{% endcall %}
{%- endmacro -%}

{#- Client streaming: the body is the request stream, sent a message at a time; one reply. -#}
{%- macro client_streaming(b) -%}
{% call doc(b) %}{% endcall -%}
///
/// Client streaming: each {% if b.raw_request.is_some() %}chunk of the body is one `google.api.HttpBody` message{% else %}JSON value of the body (NDJSON or concatenated) is one message{% endif %}, sent as it arrives.
pub(super) async fn {{ b.ident }}(
    gw: &Gateway,
    parts: &Parts,
    _captures: &[&str],
    body: Body,
) -> Result<Response, Error> {
    // The query string sets the same fields of every message.
    let {% if b.takes_query() %}mut {% endif %}base = <{{ b.input_type }}>::default();
    {% call query(b, "base") %}{% endcall %}
    let decoder = {% call decoder(b, "base") %}{% endcall %};
    let reply = gw.client_stream("{{ b.grpc_path }}", parts, body, decoder).await?;
    {% call respond(b) %}{% endcall %}
}
{%- endmacro -%}

{#- Bidirectional streaming: the body is the request stream and the replies are streamed back,
    both at once. -#}
{%- macro bidi_streaming(b) -%}
{% call doc(b) %}{% endcall -%}
///
/// Bidirectional streaming: the body's messages go up as they arrive while the replies come back.
pub(super) async fn {{ b.ident }}(
    gw: &Gateway,
    parts: &Parts,
    _captures: &[&str],
    body: Body,
) -> Result<Response, Error> {
    // The query string sets the same fields of every message.
    let {% if b.takes_query() %}mut {% endif %}base = <{{ b.input_type }}>::default();
    {% call query(b, "base") %}{% endcall %}
    let decoder = {% call decoder(b, "base") %}{% endcall %};
    let encoder = {% call encoder(b) %}{% endcall %};
    gw.bidi_stream::<_, {{ b.output_type }}>("{{ b.grpc_path }}", parts, body, decoder, encoder).await
}
{%- endmacro -%}

{#- A WebSocket session on a streaming binding: frames in, frames out. -#}
{%- macro websocket(b) -%}
/// `{{ b.http_method }} {{ b.template }}` as a WebSocket: one message per frame each way.
pub(super) async fn {{ b.ident }}_websocket(
    gw: &Gateway,
    parts: &Parts,
    {% if b.path_vars.is_empty() %}_{% endif %}captures: &[&str],
    upgrade: runtime::websocket::WebSocketUpgrade,
) -> Result<Response, Error> {
    {% match b.streaming() -%}
    {% when Streaming::Server -%}
    {% match b.body -%}
    {% when Body::None -%}
    let {% if b.fills_request() %}mut {% endif %}request = <{{ b.input_type }}>::default();
    {% call path_vars(b, "request") %}{% endcall %}
    {% call query(b, "request") %}{% endcall %}
    let inbound = runtime::websocket::Inbound::Ready(request);
    {% else -%}
    // The first frame is the body; path variables win over it.
    let {% if !b.path_vars.is_empty() %}mut {% endif %}path = <{{ b.input_type }}>::default();
    {% call path_vars(b, "path") %}{% endcall %}
    let {% if b.takes_query() %}mut {% endif %}base = path.clone();
    {% call query(b, "base") %}{% endcall %}
    let inbound = runtime::websocket::Inbound::One({% call decoder(b, "base") %}{% endcall %}.with_path(path));
    {% endmatch -%}
    {% else -%}
    // The query string sets the same fields of every message.
    let {% if b.takes_query() %}mut {% endif %}base = <{{ b.input_type }}>::default();
    {% call query(b, "base") %}{% endcall %}
    let inbound = runtime::websocket::Inbound::Many({% call decoder(b, "base") %}{% endcall %});
    {% endmatch -%}
    let encoder = {% call encoder(b) %}{% endcall %};
    gw.websocket::<_, {{ b.output_type }}>(upgrade, "{{ b.grpc_path }}", parts, inbound, encoder)
}
{%- endmacro -%}

{#- The query-string function of a binding: every field the path and body leave unset. -#}
{%- macro query_fn(b) -%}
/// The query parameters of `{{ b.http_method }} {{ b.template }}`: every field the path and body leave unset.
fn {{ b.ident }}_query(
    request: &mut {{ b.input_type }},
    query: &str,
    ignore_unknown: bool,
) -> Result<(), Error> {
    {% if b.query_once() -%}
    let mut seen = runtime::query::Seen::default();
    {% endif -%}
    for pair in runtime::query::pairs(query) {
        let (name, value) = pair?;
        match &*name {
            {% for q in b.query -%}
            {{ q.name_pattern() }} => {
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
                    Some(({{ q.name_pattern() }}, key)) => {
                        {% match q.setter.assign -%}
                        {% when Assign::Insert with (key_parse) -%}
                        let key = runtime::query::value(&name, key, {{ key_parse }})?;
                        {% else -%}
                        {% endmatch -%}
                        let value = runtime::query::value(&name, &value, {{ q.setter.parse }})?;
                        {% call m::assign(q.setter, "request", "&name") %}{% endcall %}
                    }
                    {% endfor -%}
                    {% if b.query_maps.len() == 1 -%}
                    {% for q in b.query_maps -%}
                    {% match q.setter.assign -%}
                    {% when Assign::Insert with (key_parse) -%}
                    // A name that starts with no field of the request is a key of the one map
                    // (`lang=en` for `labels[lang]=en`): how most OpenAPI clients send an
                    // object parameter. Names starting with `$` stay Google's system parameters.
                    None if !name.starts_with('$') && !matches!(name.split('.').next(), Some({{ b.request_field_pattern() }})) => match {{ key_parse }}(&name) {
                        Ok(key) => {
                            let value = runtime::query::value(&name, &value, {{ q.setter.parse }})?;
                            {% call m::assign(q.setter, "request", "&name") %}{% endcall %}
                        }
                        Err(_) => runtime::query::unknown(&name, ignore_unknown)?,
                    },
                    {% else -%}
                    {% endmatch -%}
                    {% endfor -%}
                    {% endif -%}
                    _ => runtime::query::unknown(&name, ignore_unknown)?,
                }
                {%- endif %}
            }
        }
    }
    Ok(())
}
{%- endmacro -%}
