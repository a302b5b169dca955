{#- Macros shared by the templates: how each field shape is written, read and set. -#}

{%- macro write_field(f) -%}
{%- match f.shape -%}
{%- when Shape::Singular -%}
if w.emit_defaults() || !runtime::json::is_default(&self.{{ f.ident }}) {
    w.key({{ f.json_key() }}, {{ f.proto_key() }});
    w.{{ f.value.method }}{{ f.value.type_arg }}(&self.{{ f.ident }});
}
{%- when Shape::Optional -%}
if let Some(v) = &self.{{ f.ident }} {
    w.key({{ f.json_key() }}, {{ f.proto_key() }});
    w.{{ f.value.method }}{{ f.value.type_arg }}(v);
}
{%- when Shape::Message | Shape::Wrapper -%}
{#- A field with presence is written only when set, defaults emitted or not: `null` would read
    back as a set `google.protobuf.Value`, and protobuf's own option leaves these out too. -#}
if let Some(v) = &self.{{ f.ident }} {
    w.key({{ f.json_key() }}, {{ f.proto_key() }});
    w.{{ f.value.method }}{{ f.value.type_arg }}(v);
}
{%- when Shape::Repeated -%}
if w.emit_defaults() || !self.{{ f.ident }}.is_empty() {
    w.key({{ f.json_key() }}, {{ f.proto_key() }});
    w.begin_array();
    for v in &self.{{ f.ident }} {
        w.item();
        w.{{ f.value.method }}{{ f.value.type_arg }}(v);
    }
    w.end_array();
}
{%- when Shape::Map -%}
if w.emit_defaults() || !self.{{ f.ident }}.is_empty() {
    w.key({{ f.json_key() }}, {{ f.proto_key() }});
    w.begin_object();
    for (k, v) in &self.{{ f.ident }} {
        w.map_key(k);
        w.{{ f.value.method }}{{ f.value.type_arg }}(v);
    }
    w.end_object();
}
{%- endmatch -%}
{%- endmacro -%}

{#- Writes a field's value alone, always (the `response_body` of a binding). -#}
{%- macro write_value(f, target) -%}
{%- match f.shape -%}
{%- when Shape::Singular -%}
{%- if f.oneof.is_some() -%}
match &{{ target }}.{{ f.oneof_ident() }} {
    Some({{ f.oneof_variant() }}(v)) => w.{{ f.value.method }}{{ f.value.type_arg }}(v),
    _ => w.null(),
}
{%- else -%}
w.{{ f.value.method }}{{ f.value.type_arg }}(&{{ target }}.{{ f.ident }});
{%- endif -%}
{%- when Shape::Optional | Shape::Wrapper -%}
match &{{ target }}.{{ f.ident }} {
    Some(v) => w.{{ f.value.method }}{{ f.value.type_arg }}(v),
    None => w.null(),
}
{%- when Shape::Message -%}
match &{{ target }}.{{ f.ident }} {
    Some(v) => w.{{ f.value.method }}{{ f.value.type_arg }}(v),
    None => w.{{ f.value.method }}{{ f.value.type_arg }}(&Default::default()),
}
{%- when Shape::Repeated -%}
w.begin_array();
for v in &{{ target }}.{{ f.ident }} {
    w.item();
    w.{{ f.value.method }}{{ f.value.type_arg }}(v);
}
w.end_array();
{%- when Shape::Map -%}
w.begin_object();
for (k, v) in &{{ target }}.{{ f.ident }} {
    w.map_key(k);
    w.{{ f.value.method }}{{ f.value.type_arg }}(v);
}
w.end_object();
{%- endmatch -%}
{%- endmacro -%}

{#- The `Reader` method that reads one value of a field's element type. -#}
{%- macro read_one(f) -%}
{%- if f.value.is_message -%}message_value{%- else -%}{{ f.value.method }}{%- endif -%}{{ f.value.type_arg }}
{%- endmacro -%}

{#- Reads a field from the reader `r` into `target`. -#}
{%- macro read_field(f, target) -%}
{%- if f.oneof.is_some() -%}
r.oneof(&mut {{ target }}.{{ f.oneof_ident() }}, "{{ f.oneof_name() }}", |r| Ok({{ f.oneof_variant() }}(r.{% call read_one(f) %}{% endcall %}()?.into())))?
{%- else -%}
{%- match f.shape -%}
{%- when Shape::Singular -%}
{{ target }}.{{ f.ident }} = r.{% call read_one(f) %}{% endcall %}()?
{%- when Shape::Optional | Shape::Wrapper -%}
{{ target }}.{{ f.ident }} = r.optional(Reader::{% call read_one(f) %}{% endcall %})?
{%- when Shape::Message -%}
r.message(&mut {{ target }}.{{ f.ident }})?
{%- when Shape::Repeated -%}
r.repeated(&mut {{ target }}.{{ f.ident }}, Reader::{% call read_one(f) %}{% endcall %})?
{%- when Shape::Map -%}
r.map(&mut {{ target }}.{{ f.ident }}, Reader::{% call read_one(f) %}{% endcall %})?
{%- endmatch -%}
{%- endif -%}
{%- endmacro -%}

{#- The place a setter writes to: `runtime::field::message(&mut request.filter).author`; a oneof
    member on the way is made the oneof's value. -#}
{%- macro place(s, root) -%}
{%- for p in s.parents -%}
{%- match p.member -%}
{%- when Some with (_) -%}runtime::field::oneof_message(&mut {% when None -%}runtime::field::message(&mut {% endmatch -%}
{%- endfor -%}
{{ root }}
{%- for p in s.parents -%}
.{{ p.field }}
{%- match p.member -%}
{%- when Some with (m) -%}, {{ m.variant }}, |o| match o { {{ m.variant }}(m) => Some(m), {% if !m.only %}_ => None, {% endif %}})?
{%- when None -%})
{%- endmatch -%}
{%- endfor -%}
.{{ s.field }}
{%- endmacro -%}

{#- Stores `value` (already parsed) through a setter; `name` names the source in errors. -#}
{%- macro assign(s, root, name) -%}
{%- match s.assign -%}
{%- when Assign::Set -%}
{% call place(s, root) %}{% endcall %} = value;
{%- when Assign::SetSome -%}
{% call place(s, root) %}{% endcall %} = Some(value);
{%- when Assign::Push -%}
{% call place(s, root) %}{% endcall %}.push(value);
{%- when Assign::Insert with (_key) -%}
runtime::query::insert(&mut {% call place(s, root) %}{% endcall %}, key, value, {{ name }})?;
{%- when Assign::Oneof with { enum_type, variant, oneof } -%}
runtime::field::set_oneof(&mut {% call place(s, root) %}{% endcall %}, {{ enum_type }}::{{ variant }}(value), "{{ oneof }}", {{ name }})?;
{%- endmatch -%}
{%- endmacro -%}
