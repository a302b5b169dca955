//! The API docs page: an interactive reference of the router's own OpenAPI document, with "Try it
//! out" calls through the proxy, served at [`Options::docs_path`](super::Options::docs_path)
//! (`/docs` in generated crates) with its assets below it (`/docs/swagger-ui-bundle.js`).
//!
//! It is Swagger UI: of the packages that can call the API from the page it is the smallest
//! (`swagger-ui-dist`: 2.0 MB, 0.5 MB gzipped, against Scalar's 4.9 MB, 1.4 MB gzipped, which
//! also calls its vendor's services by default; Redoc cannot call the API at all), and the most
//! widely used. Its files are committed, unchanged and pinned, in `assets/swagger-ui/` (the
//! README there names the package, version and checksums; `assets/update.sh` re-fetches them)
//! and embedded in the binary with the `docs-ui` feature: the page fetches nothing from
//! elsewhere, and its Content-Security-Policy allows only its own origin.
//!
//! Every URL in the page is relative to it, so the page works behind a path prefix. It is served
//! only with the OpenAPI document, as an operation endpoint: outside the API's routes, not
//! limited and not counted in the request metrics.

use std::sync::{LazyLock, OnceLock};

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::binding::Routes;

/// Whether this build has the docs page: the `docs-ui` feature embeds its 2 MB of assets.
pub const AVAILABLE: bool = cfg!(feature = "docs-ui");

/// A file the page loads, served at `<docs_path>/<name>`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The assets, in the order the page loads them.
#[cfg(feature = "docs-ui")]
const ASSETS: &[Asset] = &[
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/swagger-ui/swagger-ui.css"),
    },
    Asset {
        name: "index.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/swagger-ui/index.css"),
    },
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
    },
    Asset {
        name: "docs-page.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/docs-page.js"),
    },
];

#[cfg(not(feature = "docs-ui"))]
const ASSETS: &[Asset] = &[];

/// The assets' entity tags, computed once per process on first use rather than at every
/// router's start.
static ASSET_TAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| entity_tag(a.bytes)).collect());

/// The page's policy: scripts, styles and calls from its own origin only, and no inline
/// script or style. Images may also be `data:` URLs, which Swagger UI's stylesheet uses for its
/// icons.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Assets change only with the binary, and the page names them with their tag (`?v=`), so
/// browsers may keep them.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// What the docs page of one router serves.
#[derive(Debug)]
pub(crate) struct Docs {
    path: String,
    /// The assets' paths, `<path>/<name>`, in the order of `ASSETS`.
    asset_paths: Vec<String>,
    openapi_path: String,
    /// The page and its entity tag, rendered on first use (it names the assets' tags).
    page: OnceLock<(Bytes, String)>,
}

/// Which file of the docs a path names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum File {
    Page,
    Asset(usize),
}

impl Docs {
    /// The docs at `path`, for the document at `openapi_path`. Refuses an asset path that an
    /// API route matches, or that another operation endpoint (`taken`) already has; the caller
    /// checks `path` itself with the other endpoints.
    pub(crate) fn new(
        path: &str,
        openapi_path: &str,
        routes: &Routes,
        taken: &[(&str, &Option<String>)],
    ) -> Result<Docs, String> {
        if !AVAILABLE {
            return Err(format!(
                "docs_path {path} needs protogate-runtime's `docs-ui` feature, which embeds the \
                 page's assets; enable it, or set docs_path to None"
            ));
        }
        let base = path.trim_end_matches('/');
        let asset_paths: Vec<String> = ASSETS
            .iter()
            .map(|a| format!("{base}/{}", a.name))
            .collect();
        for asset in &asset_paths {
            if let Some(b) = (routes.claims)(asset) {
                return Err(format!(
                    "docs_path {path}: its asset {asset} is inside the API: its route `{} {}` ({}) matches it; choose a path outside the API's routes",
                    b.method, b.template, b.grpc_method
                ));
            }
            if let Some((name, _)) = taken.iter().find(|(_, p)| p.as_deref() == Some(asset)) {
                return Err(format!(
                    "{name} {asset} is the path of an asset of the docs page at {path}"
                ));
            }
        }
        Ok(Docs {
            path: path.to_string(),
            asset_paths,
            openapi_path: openapi_path.to_string(),
            page: OnceLock::new(),
        })
    }

    /// The file at `path`, if it is one of the docs'.
    pub(crate) fn find(&self, path: &str) -> Option<File> {
        if path == self.path {
            return Some(File::Page);
        }
        self.asset_paths
            .iter()
            .position(|p| p == path)
            .map(File::Asset)
    }

    /// Answers a `GET` or `HEAD` of `file`: 304 when the client's copy is current.
    pub(crate) fn respond(&self, file: File, request: &HeaderMap) -> Response {
        let (body, tag, content_type, cache) = match file {
            File::Page => {
                let (page, tag) = self.page.get_or_init(|| self.render());
                (page.clone(), tag, "text/html; charset=utf-8", "no-cache")
            }
            File::Asset(i) => match (ASSETS.get(i), ASSET_TAGS.get(i)) {
                (Some(asset), Some(tag)) => (
                    Bytes::from_static(asset.bytes),
                    tag,
                    asset.content_type,
                    ASSET_CACHE,
                ),
                _ => return StatusCode::NOT_FOUND.into_response(),
            },
        };
        let current = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == tag || t == "*");
        let mut response = if current {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        };
        let headers = response.headers_mut();
        if let Ok(tag) = HeaderValue::from_str(tag) {
            headers.insert(header::ETAG, tag);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let File::Page = file {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
        }
        response
    }

    /// The page, and its entity tag. Its URLs are relative to it; the assets' carry their tag,
    /// so that a browser that keeps them fetches new ones when they change.
    fn render(&self) -> (Bytes, String) {
        let asset = |name: &str| {
            let i = ASSETS.iter().position(|a| a.name == name).unwrap_or(0);
            let path = self.asset_paths.get(i).map_or("", String::as_str);
            let tag = ASSET_TAGS.get(i).map_or("", String::as_str);
            escape(&format!(
                "{}?v={}",
                relative(&self.path, path),
                tag.trim_matches('"')
            ))
        };
        let openapi = escape(&relative(&self.path, &self.openapi_path));
        let root = escape(&relative(&self.path, "/"));
        let page = format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{swagger_css}">
<link rel="stylesheet" href="{index_css}">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}" data-root="{root}"></div>
<noscript>This page needs JavaScript. The API's OpenAPI document is at <a href="{openapi}">{openapi}</a>.</noscript>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"#,
            swagger_css = asset("swagger-ui.css"),
            index_css = asset("index.css"),
            bundle = asset("swagger-ui-bundle.js"),
            init = asset("docs-page.js"),
        );
        let tag = entity_tag(page.as_bytes());
        (Bytes::from(page), tag)
    }
}

/// A strong entity tag for `bytes`: their 64-bit FNV-1a hash. Not a security measure, only a
/// name that changes with the content.
fn entity_tag(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

/// The relative reference from the page at the absolute path `from` to the absolute path `to`:
/// `./openapi.json` from `/docs`, `../openapi.json` from `/ops/docs`. Resolved by the browser
/// against wherever the page was found, it keeps any prefix in front of both.
fn relative(from: &str, to: &str) -> String {
    let base: Vec<&str> = from.split('/').skip(1).collect();
    let base = &base[..base.len().saturating_sub(1)];
    let target: Vec<&str> = to.split('/').skip(1).collect();
    let (dirs, _) = target.split_at(target.len().saturating_sub(1));
    let common = base.iter().zip(dirs).take_while(|(a, b)| a == b).count();
    let up = base.len() - common;
    let rest = target[common..].join("/");
    if up == 0 {
        format!("./{rest}")
    } else {
        format!("{}{rest}", "../".repeat(up))
    }
}

/// `text` as an HTML attribute value or text.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_references_resolve_from_the_page() {
        for (from, to, expected) in [
            ("/docs", "/openapi.json", "./openapi.json"),
            ("/docs", "/docs/index.css", "./docs/index.css"),
            ("/docs", "/", "./"),
            ("/ops/docs", "/openapi.json", "../openapi.json"),
            ("/ops/docs", "/ops/openapi.json", "./openapi.json"),
            ("/ops/docs", "/", "../"),
            ("/a/b/docs", "/a/c/spec.json", "../c/spec.json"),
            ("/docs", "/docs/openapi.json", "./docs/openapi.json"),
            ("/", "/openapi.json", "./openapi.json"),
            ("/", "/index.css", "./index.css"),
            ("/docs/", "/docs/index.css", "./index.css"),
            ("/docs", "/v1:spec", "./v1:spec"),
        ] {
            assert_eq!(relative(from, to), expected, "from {from} to {to}");
        }
    }

    #[test]
    fn entity_tags_are_quoted_and_follow_the_content() {
        assert_eq!(entity_tag(b""), "\"cbf29ce484222325\"");
        assert_ne!(entity_tag(b"a"), entity_tag(b"b"));
    }

    #[test]
    fn escapes_attribute_values() {
        assert_eq!(escape(r#"./a"b<c>&'"#), "./a&quot;b&lt;c&gt;&amp;&#39;");
    }
}
