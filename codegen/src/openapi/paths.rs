//! Path keys and path parameters: templates as OpenAPI paths, captures spelled out or whole,
//! and the matching the router does, so the document can be checked against it.

use std::collections::{BTreeMap, BTreeSet};

use super::json::Json;
use super::{Doc, Placed, docs_text, join_paragraphs};
use crate::model::{Api, Binding, Field};
use crate::template::Segment;

/// One or more path segments, as `**` captures them.
const SEGMENTS_PATTERN: &str = "[^/]+(/[^/]+)*";
/// What a `**` parameter asks of clients: the proxy keeps `%2F` as is in a capture (as the
/// HttpRule specification says), and most client generators escape every `/` of a parameter.
const DEEP_NOTE: &str = " Its `/` characters must be sent as they are: an escaped `%2F` stays \
                         in the value, so a client that escapes path parameters can send one \
                         segment only.";

/// The API bindings whose templates match `method path` (a raw request path; any method when
/// `None`), in model order: the document must not be served at a path the API itself routes.
/// (The router picks the most specific of them.)
pub fn matching_bindings<'a>(api: &'a Api, method: Option<&str>, path: &str) -> Vec<&'a Binding> {
    let Some(rest) = path.strip_prefix('/') else {
        return Vec::new();
    };
    let segments: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    if segments.iter().any(|s| s.is_empty()) {
        return Vec::new();
    }
    api.services
        .iter()
        .flat_map(|s| &s.bindings)
        .filter(|b| match method {
            None => true,
            Some(m) => crate::model::serves(&b.http_method, m),
        })
        .filter(|b| template_matches(b, &segments))
        .collect()
}

/// Whether a binding's template matches raw path segments: the route's own pattern, as the
/// generated matcher reads it.
fn template_matches(b: &Binding, segments: &[&str]) -> bool {
    let mut segments: Vec<&str> = segments.to_vec();
    let mut verb = None;
    if b.pattern.verb.is_some() {
        let Some(last) = segments.last_mut() else {
            return false;
        };
        match last.rsplit_once(':') {
            Some((stem, v)) if !stem.is_empty() => {
                *last = stem;
                verb = Some(v);
            }
            _ => return false,
        }
    }
    b.pattern.matches(&segments, verb)
}

impl Doc<'_> {
    /// The path key and path parameters of every placed binding.
    pub(super) fn path_keys(&mut self, placed: &[Placed<'_>]) -> Vec<(String, Vec<Json>)> {
        // Captures are spelled out unless asked otherwise. Paths that differ only in parameter
        // names are one path to OpenAPI: where two bindings of one HTTP method would share one,
        // their captures are spelled out anyway (`{name=shelves/*}` and `{name=publishers/*}`
        // differ in their literals).
        let expand = !self.options.openapi_whole_captures;
        let mut keyed: Vec<(String, Vec<Json>)> = placed
            .iter()
            .map(|p| self.path(p.binding, expand))
            .collect();
        let mut count: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (p, (key, _)) in placed.iter().zip(&keyed) {
            *count
                .entry((shape(key), p.binding.http_method.clone()))
                .or_default() += 1;
        }
        let colliding: BTreeSet<String> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|((key, _), _)| key.clone())
            .collect();
        for (i, p) in placed.iter().enumerate() {
            if colliding.contains(&shape(&keyed[i].0)) {
                keyed[i] = self.path(p.binding, true);
            }
        }
        // One set of parameter names per path shape, the first binding's.
        unify_names(&mut keyed);
        // A last resort that keeps keys distinct whatever the templates: rename a parameter.
        let mut taken: BTreeSet<(String, String)> = BTreeSet::new();
        for (p, (key, params)) in placed.iter().zip(keyed.iter_mut()) {
            while !taken.insert((key.clone(), p.binding.http_method.clone())) {
                rename_first_parameter(key, params);
            }
        }
        keyed
    }

    /// The OpenAPI path of a binding and its path parameters. `expand` spells multi-segment
    /// captures out as literals and one parameter per wildcard.
    fn path(&mut self, b: &Binding, expand: bool) -> (String, Vec<Json>) {
        let mut key = String::new();
        let mut params = Vec::new();
        let mut anonymous = 0;
        let mut var_index = 0;
        // Names taken by parameters that keep their own name, so spelled-out ones avoid them:
        // the other path variables, and the query parameters (a client function takes both as
        // arguments of one namespace).
        let mut used: BTreeSet<String> = b
            .path_template
            .variables()
            .iter()
            .zip(&b.path_vars)
            .filter(|(_, var)| !(expand && var.multi_segment))
            .map(|(v, _)| {
                self.field_at(&b.input_message, &v.field_path)
                    .map_or_else(|| v.field_path.join("."), |(name, _)| name)
            })
            .collect();
        used.extend(
            b.query
                .iter()
                .chain(&b.query_maps)
                .map(|q| self.query_name(q)),
        );
        for segment in &b.path_template.segments {
            key.push('/');
            match segment {
                Segment::Literal(l) => key.push_str(l),
                Segment::Wildcard | Segment::DeepWildcard => {
                    anonymous += 1;
                    let deep = matches!(segment, Segment::DeepWildcard);
                    let name = format!("_{anonymous}");
                    key.push_str(&format!("{{{name}}}"));
                    params.push(anonymous_parameter(&name, deep));
                }
                Segment::Variable(v) => {
                    let Some(var) = b.path_vars.get(var_index) else {
                        continue;
                    };
                    var_index += 1;
                    let proto_path = v.field_path.join(".");
                    let (name, field) = match self.field_at(&b.input_message, &v.field_path) {
                        Some((name, field)) => (name, Some(field)),
                        None => (proto_path.clone(), None),
                    };
                    let sub: Vec<String> = v.segments.iter().map(ToString::to_string).collect();
                    // A capture of one `**` and nothing else has nothing to spell out.
                    if expand && var.multi_segment && v.segments.len() > 1 {
                        let parts = expanded_parts(&name, &v.segments, &mut used);
                        let value = expanded_value(&parts);
                        for (i, part) in parts.iter().enumerate() {
                            if i > 0 {
                                key.push('/');
                            }
                            let (part, deep) = match part {
                                Part::Literal(l) => {
                                    key.push_str(l);
                                    continue;
                                }
                                Part::Wildcard(p) => (p, false),
                                Part::Deep(p) => (p, true),
                            };
                            key.push_str(&format!("{{{part}}}"));
                            let mut description = format!(
                                "{} of `{name}`, which is `{value}`: the capture \
                                 `{{{proto_path}={}}}` of `{}` spelled out.",
                                if deep {
                                    "The last segments"
                                } else {
                                    "One segment"
                                },
                                sub.join("/"),
                                b.template
                            );
                            if deep {
                                description.push_str(DEEP_NOTE);
                            }
                            let pattern = if deep {
                                format!("^{SEGMENTS_PATTERN}$")
                            } else {
                                "^[^/]+$".to_string()
                            };
                            params.push(
                                Json::obj()
                                    .with("name", part.as_str())
                                    .with("in", "path")
                                    .with("description", description)
                                    .with("required", true)
                                    .with(
                                        "schema",
                                        Json::obj().with("type", "string").with("pattern", pattern),
                                    ),
                            );
                        }
                    } else {
                        key.push_str(&format!("{{{name}}}"));
                        let param = self.path_parameter(&name, field, var.multi_segment, &sub);
                        params.push(param);
                    }
                }
            }
        }
        if let Some(verb) = &b.path_template.verb {
            key.push(':');
            key.push_str(verb);
        }
        (key, params)
    }

    fn path_parameter(
        &mut self,
        name: &str,
        field: Option<&Field>,
        multi_segment: bool,
        sub: &[String],
    ) -> Json {
        let mut schema = match field {
            Some(f) => self.value_schema(f),
            None => Json::obj().with("type", "string"),
        };
        let is_string = schema.get("type") == Some(&Json::from("string"));
        let mut description = field.map(|f| docs_text(&f.docs)).unwrap_or_default();
        if multi_segment {
            if is_string {
                schema.set("pattern", format!("^{}$", capture_pattern(sub)));
            }
            let note = format!(
                "The value is a path matching `{}`: its `/` characters are part of the value \
                 and are sent unescaped (an escaped `%2F` stays inside one segment).",
                sub.join("/")
            );
            description = join_paragraphs(&[&description, &note]);
        } else if is_string && schema.get("pattern").is_none() {
            schema.set("minLength", 1);
        }
        let mut param = Json::obj().with("name", name).with("in", "path");
        if !description.is_empty() {
            param.set("description", description);
        }
        param.set("required", true);
        if field.is_some_and(|f| f.docs.deprecated) {
            param.set("deprecated", true);
        }
        param.with("schema", schema)
    }
}

fn anonymous_parameter(name: &str, deep: bool) -> Json {
    let (description, pattern) = if deep {
        (
            "Any path (`**` in the template), slashes included; not sent upstream.",
            format!("^{SEGMENTS_PATTERN}$"),
        )
    } else {
        (
            "Any one path segment (`*` in the template); not sent upstream.",
            "^[^/]+$".to_string(),
        )
    };
    Json::obj()
        .with("name", name)
        .with("in", "path")
        .with("description", description)
        .with("required", true)
        .with(
            "schema",
            Json::obj().with("type", "string").with("pattern", pattern),
        )
}

/// The regular expression of a capture's sub-template (`shelves/*/books/*`).
fn capture_pattern(sub: &[String]) -> String {
    let mut out = String::new();
    for (i, s) in sub.iter().enumerate() {
        match s.as_str() {
            "*" => {
                if i > 0 {
                    out.push('/');
                }
                out.push_str("[^/]+");
            }
            "**" => {
                if i == 0 {
                    out.push_str(SEGMENTS_PATTERN);
                } else {
                    out.push_str("(/[^/]+)*");
                }
            }
            literal => {
                if i > 0 {
                    out.push('/');
                }
                for c in literal.chars() {
                    if "\\^$.|?*+()[]{}".contains(c) {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    out
}

/// One element of a spelled-out capture.
enum Part {
    Literal(String),
    /// A `*`, with its parameter name.
    Wildcard(String),
    /// A `**`, with its parameter name.
    Deep(String),
}

/// Names the wildcards of a capture after the collection before each, singular, as Google's
/// API linter and AIP-122 name a resource after its collection id (`shelves/*` → `{shelf}`,
/// `people/*` → `{person}`, `billingAccounts/*` → `{billingAccount}`). A wildcard after no
/// literal, or whose name is taken, is `<field>_<n>`. Names never contain dots, which some
/// tools read as attribute access.
fn expanded_parts(field: &str, segments: &[Segment], used: &mut BTreeSet<String>) -> Vec<Part> {
    let stem = field.replace('.', "_");
    let mut parts = Vec::new();
    let mut previous: Option<&str> = None;
    for (i, s) in segments.iter().enumerate() {
        match s {
            Segment::Literal(l) => {
                parts.push(Part::Literal(l.clone()));
                previous = Some(l);
                continue;
            }
            Segment::Wildcard | Segment::DeepWildcard | Segment::Variable(_) => {}
        }
        let mut name = match previous.and_then(singular) {
            Some(n) if !used.contains(&n) => n,
            _ => format!("{stem}_{}", i + 1),
        };
        while used.contains(&name) {
            name.push('_');
        }
        used.insert(name.clone());
        parts.push(if matches!(s, Segment::DeepWildcard) {
            Part::Deep(name)
        } else {
            Part::Wildcard(name)
        });
        previous = None;
    }
    parts
}

/// The singular of a collection id (`shelves` → `shelf`, `indices` → `index`), by the rules of
/// the `pluralize` library that Google's API linter uses for the same purpose; `None` for a
/// literal that makes no parameter name (`v1.2`, `2024`).
fn singular(collection: &str) -> Option<String> {
    let identifier = collection.starts_with(|c: char| c.is_ascii_alphabetic())
        && collection
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !identifier {
        return None;
    }
    let name = pluralizer::pluralize(collection, 1, false);
    (!name.is_empty()).then_some(name)
}

/// `shelves/{shelf}/books/{book}`: how a spelled-out capture's value is put together.
fn expanded_value(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Literal(l) => l.clone(),
            Part::Wildcard(n) | Part::Deep(n) => format!("{{{n}}}"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The parameter names of a path key, in order.
fn key_names(key: &str) -> Vec<String> {
    key.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// A path key with its parameter names erased: OpenAPI treats keys of one shape as one path.
fn shape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut inside = false;
    for c in key.chars() {
        match c {
            '{' => {
                inside = true;
                out.push(c);
            }
            '}' => {
                inside = false;
                out.push(c);
            }
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

/// Gives every path of one shape the parameter names of the first binding at that shape (so
/// `PATCH /v1/{book.name=…}` joins `GET /v1/{name=…}` under `/v1/{name}`); a renamed parameter
/// says which field it sets.
fn unify_names(keyed: &mut [(String, Vec<Json>)]) {
    let mut canonical: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, params) in keyed.iter_mut() {
        let names = key_names(key);
        let first = canonical.entry(shape(key)).or_insert_with(|| names.clone());
        if *first == names {
            continue;
        }
        let mut renamed = String::new();
        let mut parts = key.split('{');
        renamed.push_str(parts.next().unwrap_or_default());
        for (part, name) in parts.zip(first.iter()) {
            let tail = part.split_once('}').map_or("", |(_, tail)| tail);
            renamed.push('{');
            renamed.push_str(name);
            renamed.push('}');
            renamed.push_str(tail);
        }
        *key = renamed;
        // Find every parameter before renaming any, so swapped names cannot mix.
        let found: Vec<(usize, &String, &String)> = names
            .iter()
            .zip(first.iter())
            .filter(|(old, new)| old != new)
            .filter_map(|(old, new)| {
                params
                    .iter()
                    .position(|p| {
                        p.get("in") == Some(&Json::from("path"))
                            && p.get("name") == Some(&Json::from(old.as_str()))
                    })
                    .map(|i| (i, old, new))
            })
            .collect();
        for (i, old, new) in found {
            let param = &mut params[i];
            let description = match param.get("description") {
                Some(Json::Str(d)) => d.clone(),
                _ => String::new(),
            };
            param.set("name", new.as_str());
            param.set(
                "description",
                join_paragraphs(&[
                    &format!(
                        "The field `{old}` (named `{new}` like the other operations of this path)."
                    ),
                    &description,
                ]),
            );
        }
    }
}

/// Keeps a path key distinct by renaming its first parameter (`{x}` → `{x_}`).
fn rename_first_parameter(key: &mut String, params: &mut [Json]) {
    let Some(start) = key.find('{') else {
        key.push('_');
        return;
    };
    let Some(len) = key[start..].find('}') else {
        return;
    };
    let old = key[start + 1..start + len].to_string();
    let new = format!("{old}_");
    key.replace_range(start + 1..start + len, &new);
    for p in params.iter_mut() {
        if p.get("name") == Some(&Json::from(old.as_str())) {
            p.set("name", new.as_str());
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_patterns() {
        let p = |s: &str| capture_pattern(&s.split('/').map(str::to_string).collect::<Vec<_>>());
        assert_eq!(p("shelves/*/books/*"), "shelves/[^/]+/books/[^/]+");
        assert_eq!(p("**"), "[^/]+(/[^/]+)*");
        assert_eq!(p("files/**"), r"files(/[^/]+)*");
        assert_eq!(p("a.b/*"), r"a\.b/[^/]+");
    }

    #[test]
    fn collections_name_their_resources() {
        for (collection, resource) in [
            ("shelves", "shelf"),
            ("books", "book"),
            ("people", "person"),
            ("indices", "index"),
            ("policies", "policy"),
            ("addresses", "address"),
            ("statuses", "status"),
            ("databases", "database"),
            ("analyses", "analysis"),
            ("children", "child"),
            ("billingAccounts", "billingAccount"),
            ("accessPolicies", "accessPolicy"),
            ("series", "series"),
            ("v1", "v1"),
        ] {
            assert_eq!(
                singular(collection).as_deref(),
                Some(resource),
                "{collection}"
            );
        }
        for no_name in ["", "s", "2024", "v1.2", "a b"] {
            assert_eq!(singular(no_name), None, "{no_name:?}");
        }
    }

    #[test]
    fn spelled_out_captures_are_named_after_their_collections() {
        let names = |field: &str, template: &str, used: &[&str]| {
            let segments: Vec<Segment> = template
                .split('/')
                .map(|s| match s {
                    "*" => Segment::Wildcard,
                    "**" => Segment::DeepWildcard,
                    l => Segment::Literal(l.to_string()),
                })
                .collect();
            let mut used = used.iter().map(ToString::to_string).collect();
            expanded_value(&expanded_parts(field, &segments, &mut used))
        };
        assert_eq!(
            names("name", "shelves/*/books/*", &[]),
            "shelves/{shelf}/books/{book}"
        );
        assert_eq!(
            names("name", "people/*/files/**", &[]),
            "people/{person}/files/{file}"
        );
        // Taken names and wildcards after no literal fall back to the field's name.
        assert_eq!(
            names("book.name", "shelves/*/*", &["shelf"]),
            "shelves/{book_name_2}/{book_name_3}"
        );
        assert_eq!(
            names("name", "shelves/*/shelves/*", &[]),
            "shelves/{shelf}/shelves/{name_4}"
        );
    }
}
