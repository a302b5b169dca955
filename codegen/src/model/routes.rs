//! The route table: each template compiled to a slice pattern with its specificity, the routes
//! of each HTTP method in match order (ambiguous ones refused), and the WebSocket routes.

use std::collections::BTreeMap;

use super::{
    Api, Binding, Capture, Element, MethodRoutes, Pattern, Position, RouteRef, Service, Streaming,
};
use crate::error::Diagnostic;
use crate::template::{Flat, PathTemplate};

/// Compiles a template into a pattern over path segments and its specificity key.
pub(super) fn pattern(template: &PathTemplate) -> Pattern {
    let mut elements = Vec::new();
    let mut key = Vec::new();
    let mut shape = String::new();
    // Each variable's boundaries as element indices, and whether they lie after the `**`.
    let mut spans: Vec<((usize, bool), (usize, bool))> = Vec::new();
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut deep = false;
    for flat in template.flatten() {
        match flat {
            Flat::Literal(lit) => {
                shape.push('/');
                shape.push_str(&lit);
                elements.push(Element::Literal(lit));
                key.push(0);
            }
            Flat::Wildcard => {
                elements.push(Element::One);
                key.push(2);
                shape.push_str("/*");
            }
            Flat::DeepWildcard => {
                elements.push(Element::Rest);
                key.push(3);
                shape.push_str("/**");
                deep = true;
            }
            Flat::VarStart(_) => open.push((elements.len(), deep)),
            Flat::VarEnd(_) => {
                let start = open.pop().unwrap_or((0, false));
                spans.push((start, (elements.len(), deep)));
            }
        }
    }
    // A boundary after the `**` is as many segments before the path's end as the template has
    // after it: the `**` takes whatever the segments around it leave.
    let total = elements.len();
    let position = |(index, after_deep): (usize, bool)| {
        if after_deep {
            Position::FromEnd(total - index)
        } else {
            Position::FromStart(index)
        }
    };
    let captures = spans
        .into_iter()
        .map(|(start, end)| Capture {
            start: position(start),
            end: position(end),
        })
        .collect();
    if !deep {
        key.push(1);
    }
    match &template.verb {
        Some(v) => {
            key.push(0);
            shape.push(':');
            shape.push_str(v);
        }
        None => key.push(1),
    }
    Pattern {
        elements,
        verb: template.verb.clone(),
        captures,
        key,
        shape,
    }
}

impl Pattern {
    /// The segments before and after the `**`, if there is one.
    fn around_rest(&self) -> Option<(&[Element], &[Element])> {
        let rest = self.elements.iter().position(|e| *e == Element::Rest)?;
        Some((&self.elements[..rest], &self.elements[rest + 1..]))
    }

    /// Whether this pattern matches every path `other` matches (with the same verb).
    pub fn covers(&self, other: &Pattern) -> bool {
        if self.verb != other.verb {
            return false;
        }
        // Whether `a`'s element matches every segment `b`'s does.
        let covers = |a: &Element, b: &Element| match (a, b) {
            (Element::Rest, _) => true,
            (_, Element::Rest) => false,
            (Element::One, _) => true,
            (Element::Literal(x), Element::Literal(y)) => x == y,
            (Element::Literal(_), Element::One) => false,
        };
        let all = |a: &[Element], b: &[Element]| a.iter().zip(b).all(|(a, b)| covers(a, b));
        match (self.around_rest(), other.around_rest()) {
            (None, None) => {
                self.elements.len() == other.elements.len() && all(&self.elements, &other.elements)
            }
            // A fixed length never covers the lengths a `**` allows.
            (None, Some(_)) => false,
            (Some((before, after)), None) => {
                let n = other.elements.len();
                n >= before.len() + after.len()
                    && all(before, &other.elements[..before.len()])
                    && all(after, &other.elements[n - after.len()..])
            }
            // `other`'s `**` may hold anything: this one's fixed segments must fall within
            // `other`'s own fixed ones, on each side.
            (Some((before, after)), Some((other_before, other_after))) => {
                before.len() <= other_before.len()
                    && after.len() <= other_after.len()
                    && all(before, other_before)
                    && all(after, &other_after[other_after.len() - after.len()..])
            }
        }
    }

    /// Whether the pattern matches a path's segments (split at `/`, the verb cut from the last
    /// one) and verb, as the generated router does: the router's slice patterns and this are
    /// two readings of the same elements.
    pub fn matches(&self, segments: &[&str], verb: Option<&str>) -> bool {
        if self.verb.as_deref() != verb {
            return false;
        }
        let fits = |elements: &[Element], segments: &[&str]| {
            elements.len() == segments.len()
                && elements.iter().zip(segments).all(|(e, s)| match e {
                    Element::Literal(l) => l == s,
                    Element::One => true,
                    Element::Rest => false,
                })
        };
        match self.around_rest() {
            None => fits(&self.elements, segments),
            Some((before, after)) => {
                segments.len() >= before.len() + after.len()
                    && fits(before, &segments[..before.len()])
                    && fits(after, &segments[segments.len() - after.len()..])
            }
        }
    }
}

/// Groups bindings by HTTP method, sorts each group by specificity, and rejects templates that
/// match the same requests with the same method.
pub(super) fn route_table(services: &[Service]) -> Result<Vec<MethodRoutes>, Vec<Diagnostic>> {
    let mut groups: BTreeMap<String, Vec<(&Binding, &str)>> = BTreeMap::new();
    for service in services {
        for b in &service.bindings {
            groups
                .entry(b.http_method.clone())
                .or_default()
                .push((b, &b.rpc));
        }
    }
    let mut diagnostics = Vec::new();
    let mut out = Vec::new();
    for (method, mut bindings) in groups {
        bindings.sort_by(|(a, _), (b, _)| {
            a.pattern
                .key
                .cmp(&b.pattern.key)
                .then_with(|| a.pattern.shape.cmp(&b.pattern.shape))
                .then_with(|| a.ident.cmp(&b.ident))
        });
        // A route that a more specific one before it always takes would never be chosen (and
        // would be a dead arm of the generated `match`).
        for (i, (b, b_rpc)) in bindings.iter().enumerate() {
            let shadow = bindings[..i]
                .iter()
                .find(|(a, _)| a.pattern.shape != b.pattern.shape && a.pattern.covers(&b.pattern));
            if let Some((a, a_rpc)) = shadow {
                diagnostics.push(
                    Diagnostic::new(format!(
                        "unreachable route: `{method} {}` ({b_rpc}) is never chosen: `{method} {}` ({a_rpc}), tried first as more specific, matches every request it would",
                        b.template, a.template
                    ))
                    .at(b.location.clone())
                    .rpc(b_rpc.to_string())
                    .help("change one of the templates (a literal segment or a :verb) or remove one binding"),
                );
            }
        }
        for pair in bindings.windows(2) {
            let ((a, a_rpc), (b, b_rpc)) = (pair[0], pair[1]);
            if a.pattern.shape == b.pattern.shape {
                let what = if a.template == b.template {
                    "duplicate route"
                } else {
                    "ambiguous routes"
                };
                diagnostics.push(
                    Diagnostic::new(format!(
                        "{what}: `{method} {}` ({a_rpc}) and `{method} {}` ({b_rpc}) match the same requests",
                        a.template, b.template
                    ))
                    .at(b.location.clone())
                    .rpc(b_rpc.to_string())
                    .help("change one of the templates (a literal segment or a :verb) or remove one binding"),
                );
            }
        }
        let constant = match method.as_str() {
            "GET" | "PUT" | "POST" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "TRACE"
            | "CONNECT" => method.clone(),
            _ => String::new(),
        };
        out.push(MethodRoutes {
            matcher: format!(
                "match_{}",
                method
                    .to_ascii_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
            constant,
            routes: bindings
                .iter()
                .map(|(b, _)| RouteRef {
                    variant: b.variant.clone(),
                    template: format!("{} {}", b.http_method, b.template),
                    pattern: b.pattern.clone(),
                })
                .collect(),
            http_method: method,
        });
    }
    if diagnostics.is_empty() {
        Ok(out)
    } else {
        Err(diagnostics)
    }
}

/// The routes a WebSocket upgrade may take: every streaming binding, whatever its HTTP method
/// (an upgrade is a `GET`, or a `CONNECT` over HTTP/2), most specific first. Of two bindings
/// with the same template shape the `GET` one wins, then the first by method name.
pub(super) fn websocket_routes(services: &[Service]) -> Vec<RouteRef> {
    let mut streaming: Vec<&Binding> = services
        .iter()
        .flat_map(|s| &s.bindings)
        .filter(|b| b.streaming() != Streaming::Unary)
        .collect();
    streaming.sort_by(|a, b| {
        a.pattern
            .key
            .cmp(&b.pattern.key)
            .then_with(|| a.pattern.shape.cmp(&b.pattern.shape))
            .then_with(|| (a.http_method != "GET").cmp(&(b.http_method != "GET")))
            .then_with(|| a.http_method.cmp(&b.http_method))
            .then_with(|| a.ident.cmp(&b.ident))
    });
    streaming.dedup_by(|later, earlier| later.pattern.shape == earlier.pattern.shape);
    streaming
        .into_iter()
        .map(|b| RouteRef {
            variant: b.variant.clone(),
            template: format!("{} {}", b.http_method, b.template),
            pattern: b.pattern.clone(),
        })
        .collect()
}

/// Most routes one generated `match` holds. rustc's match checking takes time growing far
/// faster than the number of arms (450 path patterns in one `match`: minutes), so a longer
/// route list is matched in consecutive parts tried in order, which keeps first-match order.
pub const MATCH_PART: usize = 16;

/// `routes` cut into the parts of its matcher (one part when it fits in one `match`).
pub fn match_parts(routes: &[RouteRef]) -> Vec<&[RouteRef]> {
    routes.chunks(MATCH_PART).collect()
}

/// Whether a binding of HTTP method `binding` serves requests of `method`: its own, and `HEAD`
/// for a `GET` (RFC 9110 §9.3.2). The router, its `Allow` lists and the OpenAPI check all read
/// this rule from here.
pub fn serves(binding: &str, method: &str) -> bool {
    binding == method || (binding == "GET" && method == "HEAD")
}

impl MethodRoutes {
    /// The methods a request matching one of these routes may use: its part of an `Allow` list.
    pub fn allows(&self) -> Vec<&str> {
        let mut methods = vec![self.http_method.as_str()];
        if self.http_method != "HEAD" && serves(&self.http_method, "HEAD") {
            methods.push("HEAD");
        }
        methods
    }

    /// The doc comment of the method's matcher.
    pub fn doc(&self) -> String {
        if self.http_method == "GET" {
            "The `GET` routes (also serving `HEAD` where no `HEAD` binding matches).".to_string()
        } else {
            format!("The `{}` routes.", self.http_method)
        }
    }
}

impl Api {
    /// Every method the API's routes serve, each once, in route-table order.
    pub fn served_methods(&self) -> Vec<&str> {
        let mut methods: Vec<&str> = Vec::new();
        for method in self.methods.iter().flat_map(MethodRoutes::allows) {
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        methods
    }

    /// Whether some binding is a `GET`: its routes serve `HEAD` too.
    pub fn has_get_routes(&self) -> bool {
        self.methods.iter().any(|m| m.http_method == "GET")
    }

    /// Whether some binding is a `HEAD` of its own (`custom: { kind: "HEAD" … }`): it is tried
    /// before the `GET` routes for `HEAD` requests.
    pub fn has_head_routes(&self) -> bool {
        self.methods.iter().any(|m| m.http_method == "HEAD")
    }

    /// Whether any binding uses a custom HTTP method (matched by name, not by constant).
    pub fn has_custom_methods(&self) -> bool {
        self.methods.iter().any(|m| m.constant.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(template: &str) -> Pattern {
        match crate::template::parse(template) {
            Ok(parsed) => pattern(&parsed),
            Err(e) => panic!("{template}: {e:?}"),
        }
    }

    fn matches(template: &str, path: &str) -> bool {
        let pattern = compiled(template);
        let mut segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut verb = None;
        if pattern.verb.is_some()
            && let Some((stem, v)) = segments.last().and_then(|l| l.rsplit_once(':'))
        {
            *segments.last_mut().unwrap_or(&mut "") = stem;
            verb = Some(v);
        }
        pattern.matches(&segments, verb)
    }

    #[test]
    fn patterns_match_as_the_router_does() {
        let firestore = "/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}";
        assert!(matches(
            firestore,
            "/v1/projects/p/databases/d/documents/c/col"
        ));
        assert!(matches(
            firestore,
            "/v1/projects/p/databases/d/documents/c/x/y/z/col"
        ));
        assert!(!matches(
            firestore,
            "/v1/projects/p/databases/d/documents/c"
        ));
        let schema = "/v1/{name=projects/*/schemas/**}/schema:get";
        assert!(matches(schema, "/v1/projects/p/schemas/s/1/schema:get"));
        assert!(!matches(schema, "/v1/projects/p/schemas/s/1/other:get"));
        assert!(!matches(schema, "/v1/projects/p/schemas/s/1/schema"));
        assert!(matches("/v1/{name=**}", "/v1"), "** matches zero segments");
        assert!(matches("/v1/{a}/b", "/v1/x/b"));
        assert!(!matches("/v1/{a}/b", "/v1/x/y/b"));
    }

    #[test]
    fn a_pattern_covers_another_when_it_matches_all_its_paths() {
        let covers = |a: &str, b: &str| compiled(a).covers(&compiled(b));
        let get = "/v1/{name=projects/*/databases/*/documents/*/**}";
        let list = "/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}";
        assert!(
            covers(get, list),
            "Firestore's Get takes every List request"
        );
        assert!(!covers(list, get));
        assert!(covers("/v1/*", "/v1/a"));
        assert!(!covers("/v1/a", "/v1/*"));
        assert!(!covers("/v1/*", "/v1/a/b"));
        assert!(covers("/v1/**", "/v1/a/{b=**}"));
        assert!(!covers("/v1/a/**", "/v1/**"));
        assert!(covers("/v1/**/x", "/v1/a/**/b/x"));
        assert!(!covers("/v1/**/x", "/v1/a/**/b"));
        assert!(!covers("/v1/**/a/b", "/v1/**/b"));
        assert!(!covers("/v1/*:get", "/v1/a"), "another verb");
        assert!(covers("/v1/**:get", "/v1/a/b:get"));
    }

    #[test]
    fn captures_after_the_deep_wildcard_count_from_the_end() {
        let firestore =
            compiled("/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}");
        let spans: Vec<(Position, Position)> = firestore
            .captures
            .iter()
            .map(|c| (c.start, c.end))
            .collect();
        assert_eq!(
            spans,
            [
                (Position::FromStart(1), Position::FromEnd(1)),
                (Position::FromEnd(1), Position::FromEnd(0)),
            ]
        );
        let plain = compiled("/v1/{a}/b/{c=x/*}");
        let spans: Vec<(Position, Position)> =
            plain.captures.iter().map(|c| (c.start, c.end)).collect();
        assert_eq!(
            spans,
            [
                (Position::FromStart(1), Position::FromStart(2)),
                (Position::FromStart(3), Position::FromStart(5)),
            ]
        );
    }
}
