//! The route table: each template compiled to a slice pattern with its specificity, the routes
//! of each HTTP method in match order (ambiguous ones refused), and the WebSocket routes.

use std::collections::BTreeMap;

use super::{Api, Binding, Capture, MethodRoutes, Pattern, RouteRef, Service, Streaming};
use crate::error::Diagnostic;
use crate::template::{Flat, PathTemplate};

/// Compiles a template into a slice pattern over path segments and its specificity key.
pub(super) fn pattern(template: &PathTemplate) -> Pattern {
    let mut elements = Vec::new();
    let mut key = Vec::new();
    let mut shape = String::new();
    let mut captures: Vec<Capture> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut deep = false;
    for flat in template.flatten() {
        match flat {
            Flat::Literal(lit) => {
                elements.push(format!("{lit:?}"));
                key.push(0);
                shape.push('/');
                shape.push_str(&lit);
            }
            Flat::Wildcard => {
                elements.push("_".into());
                key.push(2);
                shape.push_str("/*");
            }
            Flat::DeepWildcard => {
                elements.push("..".into());
                key.push(3);
                shape.push_str("/**");
                deep = true;
            }
            Flat::VarStart(_) => {
                open.push(elements.len());
            }
            Flat::VarEnd(_) => {
                let start = open.pop().unwrap_or(0);
                captures.push(Capture {
                    start,
                    end: if deep { None } else { Some(elements.len()) },
                    tail: elements.len(),
                });
            }
        }
    }
    // A capture that holds `**` ends as many segments before the path's end as the template has
    // literals after the capture.
    for c in &mut captures {
        c.tail = if c.end.is_none() {
            elements.len() - c.tail
        } else {
            0
        };
    }
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

impl Capture {
    /// The capture's end as an expression over the matched `Segments` named `p`.
    pub fn end_expr(&self) -> String {
        match (self.end, self.tail) {
            (Some(end), _) => end.to_string(),
            (None, 0) => "usize::MAX".to_string(),
            (None, tail) => format!("p.all().len() - {tail}"),
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

impl MethodRoutes {
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
