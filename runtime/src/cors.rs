//! Cross-origin resource sharing, for browser clients on other origins: preflights are
//! answered by the router, and every reply to an allowed origin says so. Only requests with an
//! `Origin` header are concerned; only an `OPTIONS` request with
//! `Access-Control-Request-Method` is a preflight (other `OPTIONS` requests are routed).
//!
//! Written here rather than taken from tower-http's `CorsLayer`, which answers every `OPTIONS`
//! request as a preflight (tower-http 0.6.11, `Cors::call`: any `OPTIONS`, with or without
//! `Origin` or `Access-Control-Request-Method`). An API's own `OPTIONS` binding, and a plain
//! `OPTIONS` request, would never reach the router (tests/tests/cors.rs checks that such a
//! request is routed: 405 where no binding takes it). The allowed methods also default to the
//! route table's, which a `CorsLayer` would need listed by hand.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

/// Which cross-origin requests browsers may make (`Options::cors`).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Origins allowed to call the API, exactly as browsers send them
    /// (`https://app.example.com`), or `*` for any (not with credentials).
    pub allow_origins: Vec<String>,
    /// Methods a preflight allows; empty for every method the API serves, and `POST` for
    /// gRPC-Web.
    pub allow_methods: Vec<String>,
    /// Request headers a preflight allows; empty for whichever the browser asks for, `*` for
    /// any (not with credentials).
    pub allow_headers: Vec<String>,
    /// Response headers the page may read beyond the CORS-safelisted ones (`grpc-metadata-x`),
    /// or `*` for all (not with credentials).
    pub expose_headers: Vec<String>,
    /// Let pages send cookies and HTTP authentication (`credentials: "include"`).
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight's answer.
    pub max_age: Option<Duration>,
}

/// [`Cors`] checked and turned into header values once, when the router is built.
#[derive(Debug)]
pub(super) struct CorsPolicy {
    any_origin: bool,
    origins: Vec<HeaderValue>,
    methods: HeaderValue,
    /// `None`: mirror `Access-Control-Request-Headers`.
    headers: Option<HeaderValue>,
    expose: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

impl CorsPolicy {
    /// Checks `cors`; `api_methods` are the API's methods, for an empty `allow_methods`.
    pub(super) fn new(cors: &Cors, api_methods: &[&str]) -> Result<Self, String> {
        let wildcard = |list: &[String]| list.iter().any(|v| v.trim() == "*");
        let any_origin = wildcard(&cors.allow_origins);
        if cors.allow_credentials {
            for (name, list) in [
                ("origins", &cors.allow_origins),
                ("headers", &cors.allow_headers),
                ("exposed headers", &cors.expose_headers),
            ] {
                if wildcard(list) {
                    return Err(format!(
                        "CORS: `*` {name} cannot be combined with credentials; list them"
                    ));
                }
            }
        }
        if cors.allow_origins.is_empty() {
            return Err("CORS: no allowed origins; list them, or `*` for any".to_string());
        }
        let mut origins = Vec::new();
        for origin in cors
            .allow_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| *o != "*")
        {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/');
            let value = HeaderValue::from_str(origin).ok().filter(|_| valid).ok_or_else(|| {
                format!(
                    "CORS: origin {origin:?} is not `scheme://host[:port]` (no path, no trailing `/`)"
                )
            })?;
            origins.push(value);
        }
        let methods: Vec<String> = if cors.allow_methods.is_empty() {
            let mut methods: Vec<String> = api_methods.iter().map(|m| m.to_string()).collect();
            if !methods.iter().any(|m| m == "POST") {
                methods.push("POST".to_string());
            }
            methods
        } else {
            let mut methods = Vec::new();
            for m in &cors.allow_methods {
                let m = m.trim();
                Method::from_bytes(m.as_bytes())
                    .map_err(|_| format!("CORS: {m:?} is not an HTTP method"))?;
                methods.push(m.to_string());
            }
            methods
        };
        let headers = if cors.allow_headers.is_empty() {
            None
        } else {
            Some(header_list("allowed header", &cors.allow_headers)?)
        };
        let expose = if cors.expose_headers.is_empty() {
            None
        } else {
            Some(header_list("exposed header", &cors.expose_headers)?)
        };
        Ok(CorsPolicy {
            any_origin,
            origins,
            methods: HeaderValue::from_str(&methods.join(", "))
                .map_err(|_| "CORS: invalid methods".to_string())?,
            headers,
            expose,
            credentials: cors.allow_credentials,
            max_age: cors.max_age.map(|age| HeaderValue::from(age.as_secs())),
        })
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        if self.any_origin {
            Some(HeaderValue::from_static("*"))
        } else {
            self.origins.contains(origin).then(|| origin.clone())
        }
    }

    /// Whether `request` is a preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`.
    pub(super) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to a preflight: 204, with the CORS headers when the origin is allowed.
    pub(super) fn preflight(&self, headers: &HeaderMap) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let out = response.headers_mut();
        self.vary(out, true);
        let Some(allow) = headers
            .get(header::ORIGIN)
            .and_then(|o| self.allow_origin(o))
        else {
            return response;
        };
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        let requested = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS);
        match (&self.headers, requested) {
            (Some(list), _) => {
                out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, list.clone());
            }
            (None, Some(requested)) => {
                out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
            }
            (None, None) => {}
        }
        if let Some(age) = &self.max_age {
            out.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        response
    }

    /// Adds the CORS headers to the reply to an actual request from `origin`.
    pub(super) fn decorate(&self, origin: Option<&HeaderValue>, response: &mut Response) {
        let out = response.headers_mut();
        self.vary(out, false);
        let Some(allow) = origin.and_then(|o| self.allow_origin(o)) else {
            return;
        };
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        let grpc_web = out
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"application/grpc-web"));
        if grpc_web {
            // A gRPC-Web client reads the status and metadata from the headers: every one the
            // reply has is exposed, besides the configured ones.
            let mut names: Vec<&str> = self
                .expose
                .as_ref()
                .and_then(|e| e.to_str().ok())
                .into_iter()
                .collect();
            names.extend(
                out.keys()
                    .map(HeaderName::as_str)
                    .filter(|n| !n.starts_with("access-control-") && *n != "vary"),
            );
            if let Ok(value) = HeaderValue::from_str(&names.join(", ")) {
                out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
            }
        } else if let Some(expose) = &self.expose {
            out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }

    /// Caches must keep answers for different origins apart (unless any origin gets `*`).
    fn vary(&self, out: &mut HeaderMap, preflight: bool) {
        if !self.any_origin {
            out.append(header::VARY, HeaderValue::from_static("origin"));
        }
        if preflight {
            out.append(
                header::VARY,
                HeaderValue::from_static(
                    "access-control-request-method, access-control-request-headers",
                ),
            );
        }
    }
}

/// A comma-separated header value of header names (or `*`).
fn header_list(what: &str, names: &[String]) -> Result<HeaderValue, String> {
    let mut list = Vec::new();
    for name in names {
        let name = name.trim();
        if name != "*" {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("CORS: {what} {name:?} is not a header name"))?;
        }
        list.push(name.to_ascii_lowercase());
    }
    HeaderValue::from_str(&list.join(", ")).map_err(|_| format!("CORS: invalid {what}s"))
}
