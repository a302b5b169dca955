//! The route table: which binding serves a request. Each HTTP method has one generated `match`
//! over the raw path segments, most specific template first (literal before `*` before `**`,
//! segment by segment), so the answer never depends on declaration order.

{% macro arms(routes) -%}
        {% for r in routes -%}
        // {{ r.template }}
        {% match r.pattern.verb -%}
        {% when Some with (verb) -%}
        (Some({{ "{:?}"|format(verb) }}), [{% call elements(r.pattern) %}{% endcall %}], _) => Route::{{ r.variant }}([
            {%- for c in r.pattern.captures -%}
            p.head_span({% call position(c.start) %}{% endcall %}, {% call position(c.end) %}{% endcall %}),
            {%- endfor -%}
        ]),
        {% when None -%}
        (_, _, [{% call elements(r.pattern) %}{% endcall %}]) => Route::{{ r.variant }}([
            {%- for c in r.pattern.captures -%}
            p.span({% call position(c.start) %}{% endcall %}, {% call position(c.end) %}{% endcall %}),
            {%- endfor -%}
        ]),
        {% endmatch -%}
        {% endfor -%}
{%- endmacro -%}

{#- A pattern's segments as a slice pattern: `"v1"`, `_` for `*`, `..` for `**`. -#}
{% macro elements(pattern) -%}
{% for e in pattern.elements -%}
{% if !loop.first %}, {% endif -%}
{% match e -%}
{% when Element::Literal with (l) -%}{{ "{:?}"|format(l) }}
{%- when Element::One -%}_
{%- when Element::Rest -%}..
{%- endmatch -%}
{% endfor -%}
{%- endmacro -%}

{#- A capture boundary as an index into the segments `p`. -#}
{% macro position(at) -%}
{% match at -%}
{% when Position::FromStart with (n) -%}{{ n }}
{%- when Position::FromEnd with (n) -%}
{% if *n == 0 %}usize::MAX{% else %}p.all().len() - {{ n }}{% endif -%}
{%- endmatch -%}
{%- endmacro -%}

{#- A matcher over `routes`: one `match`, or, for a long list, its parts tried in order. -#}
{% macro matcher(name, routes, doc) -%}
{% let parts = crate::model::match_parts(routes) -%}
/// {{ doc }}
{% if parts.len() <= 1 -%}
fn {{ name }}<'a>(p: &Segments<'a>) -> Option<Route<'a>> {
    Some(match (p.verb(), p.head(), p.all()) {
        {% call arms(routes) %}{% endcall %}
        _ => return None,
    })
}
{% else -%}
///
/// The routes are tried in order, {{ crate::model::MATCH_PART }} at a time: one `match` over all of them would
/// take the compiler far longer.
fn {{ name }}<'a>(p: &Segments<'a>) -> Option<Route<'a>> {
    {{ name }}_1(p){% for _part in parts.iter().skip(1) %}.or_else(|| {{ name }}_{{ loop.index + 1 }}(p)){% endfor %}
}
{% for part in parts -%}

/// Part {{ loop.index }} of [`{{ name }}`].
fn {{ name }}_{{ loop.index }}<'a>(p: &Segments<'a>) -> Option<Route<'a>> {
    Some(match (p.verb(), p.head(), p.all()) {
        {% call arms(part) %}{% endcall %}
        _ => return None,
    })
}
{% endfor -%}
{% endif -%}
{%- endmacro -%}

use super::runtime::codegen::axum::body::Body;
use super::runtime::codegen::axum::extract::Request;
use super::runtime::codegen::axum::response::Response;
use super::runtime::codegen::http::Method;
use super::runtime::codegen::http::request::Parts;

use super::handlers;
use super::runtime::path::Segments;
use super::runtime::{self, Error, Gateway};
use super::runtime::binding::HandlerFuture;
use super::runtime::ops::{self, Binding};

/// A matched binding and the raw text of its path variables, in template order.
// Variants are named after service and method: one service gives them all the same prefix.
#[allow(clippy::enum_variant_names)]
enum Route<'a> {
    {% for group in api.methods -%}
    {% for r in group.routes -%}
    /// `{{ r.template }}`
    {{ r.variant }}([&'a str; {{ r.pattern.captures.len() }}]),
    {% endfor -%}
    {% endfor -%}
}

{% for s in api.services -%}
{% for b in s.bindings -%}
{% if b.streaming() != Streaming::Unary -%}
/// `{{ b.http_method }} {{ b.template }}`, for logs and metrics (a unary binding's is in its
/// constant in `handlers.rs`).
static {{ b.ident|upper }}: Binding = Binding {
    method: {{ "{:?}"|format(b.http_method) }},
    template: {{ "{:?}"|format(b.template) }},
    grpc_method: {{ "{:?}"|format(b.grpc_path) }},
};
{% endif -%}
{% endfor -%}
{% endfor %}
/// How a binding is served: through the one unary call path with the binding's request and
/// reply functions, or by its own streaming handler.
#[derive(Clone, Copy)]
#[allow(dead_code)] // An API may have no streaming binding, or no unary one.
enum Serve {
    Unary(&'static runtime::Unary),
    Stream(for<'a> fn(&'a Gateway, &'a Parts, &'a [&'a str], Body) -> HandlerFuture<'a>),
}

impl<'a> Route<'a> {
    /// The binding this route serves, how, and the text of its path variables.
    fn target(&self) -> (&'static Binding, Serve, &[&'a str]) {
        match self {
            {% for s in api.services -%}
            {% for b in s.bindings -%}
            {% if b.streaming() == Streaming::Unary -%}
            Route::{{ b.variant }}(c) => (&handlers::{{ b.constant() }}.binding, Serve::Unary(&handlers::{{ b.constant() }}), c),
            {% else -%}
            Route::{{ b.variant }}(c) => (&{{ b.ident|upper }}, Serve::Stream(|gw, parts, c, body| Box::pin(handlers::{{ b.ident }}(gw, parts, c, body))), c),
            {% endif -%}
            {% endfor -%}
            {% endfor -%}
        }
    }

    /// The binding this route serves.
    fn binding(&self) -> &'static Binding {
        self.target().0
    }
}

/// The gRPC methods of the API's services, in byte order: what gRPC, gRPC-Web and Connect
/// clients may call through the proxy, on the same port, with the JSON form of their messages.
const GRPC: &[ops::GrpcMethod] = &[
    {% for m in api.grpc_methods() -%}
    ops::GrpcMethod {
        binding: Binding { method: "POST", template: {{ "{:?}"|format(m.path) }}, grpc_method: {{ "{:?}"|format(m.path) }} },
        kind: ops::Kind::{% match m.streaming %}{% when Streaming::Unary %}Unary{% when Streaming::Server %}ServerStreaming{% when Streaming::Client %}ClientStreaming{% when Streaming::Bidi %}Bidi{% endmatch %},
        no_side_effects: {{ m.no_side_effects }},
        request_from_json: runtime::connect_rpc::json_to_proto::<{{ m.input_type }}>,
        reply_to_json: runtime::connect_rpc::proto_to_json::<{{ m.output_type }}>,
    },
    {% endfor -%}
];

/// What the operations layer needs of the route table: the binding of a request, the binding
/// that claims a path (operation endpoints must lie outside the API), every method served, the
/// gRPC methods.
pub(super) const ROUTES: ops::Routes = ops::Routes {
    find,
    claims,
    grpc: GRPC,
    methods: &[{% for m in api.served_methods() %}{{ "{:?}"|format(m) }}, {% endfor %}],
};

/// The binding that serves `method` on `path`, if any.
fn find(method: &Method, path: &str) -> Option<&'static Binding> {
    let p = Segments::parse(path)?;
    route(method, &p).map(|r| r.binding())
}

/// A binding whose template matches `path` under any method.
fn claims(path: &str) -> Option<&'static Binding> {
    let p = Segments::parse(path)?;
    {% for group in api.methods -%}
    if let Some(r) = {{ group.matcher }}(&p) {
        return Some(r.binding());
    }
    {% endfor -%}
    None
}

{% for group in api.methods -%}
{% call matcher(group.matcher, group.routes.as_slice(), group.doc()) %}{% endcall %}

{% endfor -%}
{% if !api.websocket.is_empty() -%}
{% call matcher("match_websocket", api.websocket.as_slice(), "The streaming routes, for WebSocket upgrades (whatever their HTTP method).") %}{% endcall %}

{% endif -%}
/// Finds the route for a request among the routes of its method.
fn route<'a>(method: &Method, p: &Segments<'a>) -> Option<Route<'a>> {
    match *method {
        {% for group in api.methods -%}
        {% if group.constant == "GET" && !api.has_head_routes() -%}
        Method::GET | Method::HEAD => {{ group.matcher }}(p),
        {% else if group.constant == "HEAD" && api.has_get_routes() -%}
        // A HEAD binding of its own first; else HEAD is served by the GET route.
        Method::HEAD => {{ group.matcher }}(p).or_else(|| match_get(p)),
        {% else if !group.constant.is_empty() -%}
        Method::{{ group.constant }} => {{ group.matcher }}(p),
        {% endif -%}
        {% endfor -%}
        {% if api.has_custom_methods() -%}
        _ => match method.as_str() {
            {% for group in api.methods -%}
            {% if group.constant.is_empty() -%}
            "{{ group.http_method }}" => {{ group.matcher }}(p),
            {% endif -%}
            {% endfor -%}
            _ => None,
        },
        {%- else -%}
        _ => None,
        {%- endif %}
    }
}

/// No route for the method: 405 with `Allow` when other methods match the path, else 404.
fn miss(method: &Method, p: Option<&Segments<'_>>, path: &str) -> Error {
    let mut allow: Vec<&str> = Vec::new();
    if let Some(p) = p {
        {% for group in api.methods -%}
        {% let allows = group.allows() -%}
        if {{ group.matcher }}(p).is_some() {
            {% if allows.len() == 1 -%}
            allow.push({{ "{:?}"|format(allows[0]) }});
            {%- else -%}
            allow.extend([{% for m in allows %}{{ "{:?}"|format(m) }}{% if !loop.last %}, {% endif %}{% endfor %}]);
            {%- endif %}
        }
        {% endfor -%}
    }
    if allow.is_empty() {
        Error::not_found(method, path)
    } else {
        Error::method_not_allowed(method, path, &allow)
    }
}

/// Serves one request: route, then the binding's handler; every failure is a JSON error reply.
pub(super) async fn dispatch(gw: &Gateway, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    // `$alt` and the like choose the reply's form; the bindings never see them.
    if let Err(e) = runtime::system_params::take(&mut parts, {{ api.alt_is_system_parameter() }}) {
        return ops::reply(Err(e), None);
    }
    {% if !api.websocket.is_empty() -%}
    // A WebSocket upgrade on a streaming route carries the stream's messages as frames; on any
    // other route it is an ordinary request.
    if runtime::websocket::is_upgrade(&parts) {
        let upgrade = runtime::websocket::upgrade(&mut parts).await;
        let segments = Segments::parse(parts.uri.path());
        let route = segments.as_ref().and_then(match_websocket);
        let binding = route.as_ref().map(Route::binding);
        let result = match (&route, upgrade) {
            (None, _) => None,
            (Some(_), Err(e)) => Some(Box::pin(std::future::ready(Err(e))) as HandlerFuture<'_>),
            {% for s in api.services -%}
            {% for b in s.bindings -%}
            {% if b.streaming() != Streaming::Unary -%}
            (Some(Route::{{ b.variant }}(c)), Ok(upgrade)) => {
                Some(Box::pin(handlers::{{ b.ident }}_websocket(gw, &parts, c, upgrade)) as HandlerFuture<'_>)
            }
            {% endif -%}
            {% endfor -%}
            {% endfor -%}
            #[allow(unreachable_patterns)]
            (Some(_), Ok(_)) => None,
        };
        if let Some(handler) = result {
            return ops::reply(handler.await, binding);
        }
    }
    {% endif -%}
    let segments = Segments::parse(parts.uri.path());
    let route = segments.as_ref().and_then(|p| route(&parts.method, p));
    let binding = route.as_ref().map(Route::binding);
    // The handler is boxed and awaited once: the dispatch future stays small however many
    // bindings the API has, and this function has no code per binding.
    let parts = &parts;
    let handler: HandlerFuture<'_> = match route.as_ref().map(Route::target) {
        Some((_, Serve::Unary(unary), c)) => Box::pin(gw.unary(unary, parts, c, body)),
        Some((_, Serve::Stream(handler), c)) => handler(gw, parts, c, body),
        None => return ops::reply(Err(miss(&parts.method, segments.as_ref(), parts.uri.path())), binding),
    };
    ops::reply(handler.await, binding)
}
