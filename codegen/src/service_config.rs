//! Step 2, second source: HttpRules from a `google.api.Service` YAML file (`--http-rules`), for
//! protos the user does not own and so cannot annotate — grpc-gateway's
//! `grpc_api_configuration`:
//!
//! ```yaml
//! type: google.api.Service
//! config_version: 3
//! http:
//!   rules:
//!     - selector: helloworld.v1.Greeter.SayHello
//!       get: /v1/greeter/{name}
//!       additional_bindings:
//!         - post: /v1/greeter
//!           body: "*"
//! ```
//!
//! The rules are read into the same `HttpRule` as the `google.api.http` annotations, located in
//! the YAML file, so every later error (a bad template, a GET with a body, a clash with another
//! route) points into it. Every problem in the file is reported at once, each with the fix.
//! Only `type`, `config_version` and `http` are read; the rest of a service config (`name`,
//! `apis`, `documentation`, …) is left alone.
//!
//! **(differs)** grpc-gateway adds a YAML rule to the method's own annotation, and accepts
//! several rules for one method. Here a method takes its rules from one place: a selector naming
//! a method that has its own annotation and two rules for one method are errors (extra routes go
//! in `additional_bindings`). A selector naming no served method is an error in both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

use crate::error::{Diagnostic, Error, Location};
use crate::rules::HttpRule;

/// One `http.rules` entry of a service config: the method it names and its rule.
#[derive(Debug, Clone)]
pub struct ExternalRule {
    /// The fully qualified method, `package.Service.Method` (without a leading dot).
    pub selector: String,
    /// Where the selector is written.
    pub location: Location,
    pub(crate) rule: HttpRule,
}

/// The keys of an HttpRule, for the help of an unknown key.
const RULE_KEYS: &str =
    "selector, get, put, post, delete, patch, custom, body, response_body, additional_bindings";

/// Largest number of nodes aliases (`*anchor`) may copy in, against alias bombs.
const ALIAS_BUDGET: usize = 10_000;

/// Reads the rules of every file, in order, and reports a method named twice (in one file or
/// across files) at its second rule.
///
/// # Errors
/// A file that cannot be read, or every problem found in the files.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<ExternalRule>, Error> {
    let (rules, mut diagnostics) = read_all_partial(paths)?;
    if diagnostics.is_empty() {
        Ok(rules)
    } else {
        diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
        Err(Error::Invalid(diagnostics))
    }
}

/// The rules of the files that are whole, and every problem found: the model still checks the
/// whole rules, so one run reports the files' problems and the rules' together.
///
/// # Errors
/// A file that cannot be read.
pub fn read_all_partial(paths: &[PathBuf]) -> Result<(Vec<ExternalRule>, Vec<Diagnostic>), Error> {
    let mut rules = Vec::new();
    let mut diagnostics = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let (mut r, mut d) = parse_partial(&path.display().to_string(), &text);
        rules.append(&mut r);
        diagnostics.append(&mut d);
    }
    let mut first: BTreeMap<&str, &ExternalRule> = BTreeMap::new();
    for rule in &rules {
        if let Some(earlier) = first.get(rule.selector.as_str()) {
            diagnostics.push(
                Diagnostic::new(format!(
                    "a second rule for `{}` (the first is at {})",
                    rule.selector, earlier.location
                ))
                .at(Some(rule.location.clone()))
                .rpc(&rule.selector)
                .help(
                    "give each method one rule; put its other routes in that rule's additional_bindings",
                ),
            );
        } else {
            first.insert(&rule.selector, rule);
        }
    }
    Ok((rules, diagnostics))
}

/// Reads the rules of one service config file. Locations name the file as `path` is written.
///
/// # Errors
/// The file cannot be read, or it is not a valid service config (every problem at once).
pub fn read(path: &Path) -> Result<Vec<ExternalRule>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&path.display().to_string(), &text).map_err(Error::Invalid)
}

/// Parses the text of a service config named `file` (for locations).
///
/// # Errors
/// Every problem in the text, with its line and column.
pub fn parse(file: &str, text: &str) -> Result<Vec<ExternalRule>, Vec<Diagnostic>> {
    let (rules, mut diagnostics) = parse_partial(file, text);
    if diagnostics.is_empty() {
        Ok(rules)
    } else {
        diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
        Err(diagnostics)
    }
}

/// The rules of `text` that have no problem of their own, and every problem found.
fn parse_partial(file: &str, text: &str) -> (Vec<ExternalRule>, Vec<Diagnostic>) {
    let mut reader = Reader {
        file,
        diagnostics: Vec::new(),
    };
    let rules = match load(text) {
        Ok(root) => reader.service(root.as_ref()),
        Err((at, message, help)) => {
            reader.error(at, message, help);
            Vec::new()
        }
    };
    (rules, reader.diagnostics)
}

/// Checks the rules against the served methods (an error for each selector that names none) —
/// after the model took the rules of the methods it found.
pub(crate) fn unmatched(
    rules: &[&ExternalRule],
    pool: &prost_reflect::DescriptorPool,
    served: &[String],
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for rule in rules {
        let selector = rule.selector.as_str();
        let (parent, name) = selector.rsplit_once('.').unwrap_or(("", selector));
        let help = if let Some(method) = pool.get_service_by_name(parent).and_then(|s| {
            s.methods()
                .find(|m| m.name() == name)
                .map(|m| m.parent_file())
        }) {
            format!(
                "`{selector}` is declared in {}, which is imported but not served: pass that file with --proto too",
                method.name()
            )
        } else if pool.get_service_by_name(selector).is_some() {
            format!("`{selector}` is a service; a selector names one method: `{selector}.Method`")
        } else {
            let same_name = served
                .iter()
                .map(String::as_str)
                .find(|m| m.rsplit('.').next() == Some(name));
            let near = same_name
                .or_else(|| crate::suggest::closest(selector, served.iter().map(String::as_str)));
            match near {
                Some(m) => format!("did you mean `{m}`?"),
                None if served.is_empty() => {
                    "the served protos declare no method; check the --proto files".to_string()
                }
                None => format!(
                    "a selector is a fully qualified method of the served protos: {}",
                    list(served)
                ),
            }
        };
        diagnostics.push(
            Diagnostic::new(format!(
                "selector `{selector}` names no method of the served protos"
            ))
            .at(Some(rule.location.clone()))
            .help(help),
        );
    }
    diagnostics
}

/// The error for a method that has both an annotation and a YAML rule.
pub(crate) fn conflict(external: &ExternalRule, annotation: &HttpRule) -> Diagnostic {
    let place = annotation
        .location
        .as_ref()
        .map_or_else(|| "in its proto".to_string(), |l| format!("at {l}"));
    Diagnostic::new(format!(
        "this method already has a google.api.http annotation ({place})"
    ))
    .at(Some(external.location.clone()))
    .rpc(&external.selector)
    .help("a method takes its rules from one place: remove this YAML rule, or the annotation (extra routes go in additional_bindings)")
}

/// `a`, `b`, `c` … (the first few).
fn list(names: &[String]) -> String {
    let mut text: Vec<String> = names.iter().take(6).map(|n| format!("`{n}`")).collect();
    if names.len() > 6 {
        text.push(format!("and {} more", names.len() - 6));
    }
    text.join(", ")
}

/// A YAML node with where it starts.
#[derive(Debug, Clone)]
enum Node {
    Scalar {
        text: String,
        style: ScalarStyle,
        at: Marker,
    },
    Map {
        entries: Vec<(Node, Node)>,
        at: Marker,
    },
    Seq {
        items: Vec<Node>,
        at: Marker,
    },
}

impl Node {
    fn at(&self) -> Marker {
        match self {
            Node::Scalar { at, .. } | Node::Map { at, .. } | Node::Seq { at, .. } => *at,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Node::Scalar { .. } => "string",
            Node::Map { .. } => "mapping",
            Node::Seq { .. } => "list",
        }
    }

    fn size(&self) -> usize {
        match self {
            Node::Scalar { .. } => 1,
            Node::Map { entries, .. } => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
            Node::Seq { items, .. } => 1 + items.iter().map(Node::size).sum::<usize>(),
        }
    }
}

/// A collection being built.
enum Frame {
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        at: Marker,
        anchor: usize,
    },
    Seq {
        items: Vec<Node>,
        at: Marker,
        anchor: usize,
    },
}

type LoadError = (Marker, String, String);

/// Builds the tree of the single document in `text` (`None` when there is none), resolving
/// aliases. Duplicate keys are an error, as YAML requires.
fn load(text: &str) -> Result<Option<Node>, LoadError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: BTreeMap<usize, Node> = BTreeMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let mut budget = ALIAS_BUDGET;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            (
                *e.marker(),
                format!("invalid YAML: {}", e.info()),
                "fix the YAML syntax at this position".to_string(),
            )
        })?;
        let at = span.start;
        let node = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err((
                        at,
                        "a second YAML document".into(),
                        "keep one service config per file; pass several files with --http-rules each".into(),
                    ));
                }
                continue;
            }
            Event::Scalar(text, style, anchor, _) => {
                let node = Node::Scalar {
                    text: text.into_owned(),
                    style,
                    at,
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                node
            }
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| {
                    (
                        at,
                        "an alias to an unknown anchor".to_string(),
                        "define the anchor (`&name`) before its alias (`*name`)".to_string(),
                    )
                })?;
                budget = budget.checked_sub(node.size()).ok_or_else(|| {
                    (
                        at,
                        "aliases expand to too many nodes".to_string(),
                        "write the rules out instead of nesting aliases".to_string(),
                    )
                })?;
                node
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    at,
                    anchor,
                });
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    at,
                    anchor,
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (node, anchor) = match stack.pop() {
                    Some(Frame::Map {
                        entries,
                        at,
                        anchor,
                        ..
                    }) => (Node::Map { entries, at }, anchor),
                    Some(Frame::Seq { items, at, anchor }) => (Node::Seq { items, at }, anchor),
                    None => continue,
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                node
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {
                continue;
            }
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if let Node::Scalar { text, .. } = &k {
                        let earlier = entries.iter().find_map(|(e, _)| match e {
                            Node::Scalar { text: t, at, .. } if t == text => Some(*at),
                            _ => None,
                        });
                        if let Some(earlier) = earlier {
                            return Err((
                                k.at(),
                                format!(
                                    "duplicate key `{text}` (first at line {}, column {})",
                                    earlier.line(),
                                    earlier.col() + 1
                                ),
                                "give each key once per mapping; a second route goes in additional_bindings".into(),
                            ));
                        }
                    }
                    entries.push((k, node));
                }
            },
        }
    }
    Ok(root)
}

/// Turns the tree into rules, collecting every problem.
struct Reader<'a> {
    file: &'a str,
    diagnostics: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn location(&self, at: Marker) -> Location {
        Location {
            file: self.file.to_string(),
            line: at.line() as u32,
            column: at.col() as u32 + 1,
        }
    }

    fn error(&mut self, at: Marker, message: impl Into<String>, help: impl Into<String>) {
        let d = Diagnostic::new(message)
            .at(Some(self.location(at)))
            .help(help);
        self.diagnostics.push(d);
    }

    /// The text of a scalar, or an error naming `what` and `None`.
    fn text<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n str> {
        match node {
            Node::Scalar { text, .. } => Some(text),
            other => {
                self.error(
                    other.at(),
                    format!("`{what}` is a {}, not a string", other.kind()),
                    format!("write `{what}` as a string on one line"),
                );
                None
            }
        }
    }

    /// The entries of a mapping, or an error and none.
    fn entries<'n>(&mut self, node: &'n Node, what: &str, example: &str) -> &'n [(Node, Node)] {
        match node {
            Node::Map { entries, .. } => entries,
            other => {
                self.error(
                    other.at(),
                    format!("{what} is a {}, not a mapping", other.kind()),
                    format!("write {what} as a mapping: {example}"),
                );
                &[]
            }
        }
    }

    /// The top level: `type`, `config_version`, `http`.
    fn service(&mut self, root: Option<&Node>) -> Vec<ExternalRule> {
        const EXAMPLE: &str = "`type: google.api.Service`, `config_version: 3` and `http: { rules: [ { selector: pkg.Service.Method, get: /v1/… } ] }`";
        let start = Marker::new(0, 1, 0);
        let Some(root) = root else {
            self.error(
                start,
                "the file holds no service config",
                format!("write {EXAMPLE}"),
            );
            return Vec::new();
        };
        let entries = self.entries(root, "the service config", EXAMPLE);
        let mut has_type = false;
        let mut http = None;
        for (key, value) in entries {
            let Some(name) = self.text(key, "key") else {
                continue;
            };
            match name {
                "type" => {
                    has_type = true;
                    if let Some(t) = self.text(value, "type") {
                        if t != "google.api.Service" {
                            self.error(
                                value.at(),
                                format!("`type` is `{t}`, not `google.api.Service`"),
                                "protogate reads the HttpRules of a google.api.Service config: set `type: google.api.Service`",
                            );
                        }
                    }
                }
                "config_version" => {
                    if let Some(v) = self.text(value, "config_version") {
                        if v != "3" {
                            self.error(
                                value.at(),
                                format!("`config_version` is `{v}`; protogate reads version 3"),
                                "set `config_version: 3` (its `http.rules` are the HttpRules of google/api/http.proto)",
                            );
                        }
                    }
                }
                "http" => http = Some(value),
                // The rest of a service config (name, apis, documentation, …) is not ours.
                _ => {}
            }
        }
        if !has_type {
            self.error(
                root.at(),
                "the file does not say `type: google.api.Service`",
                "begin the file with `type: google.api.Service` and `config_version: 3`, as grpc-gateway's and Google's service configs do",
            );
        }
        let Some(http) = http else {
            if !has_type {
                // Not a service config at all: one error says so.
                return Vec::new();
            }
            self.error(
                root.at(),
                "the service config has no `http` section, so it adds no HttpRule",
                "add `http:` with `rules:`, a list of `- selector: pkg.Service.Method` with `get: /v1/…` (or put, post, delete, patch, custom)",
            );
            return Vec::new();
        };
        let mut rules_node = None;
        for (key, value) in self.entries(http, "`http`", "`http: { rules: [ … ] }`") {
            let Some(name) = self.text(key, "key") else {
                continue;
            };
            match name {
                "rules" => rules_node = Some(value),
                "fully_decode_reserved_expansion" => {
                    if self.text(value, name) != Some("false") {
                        self.error(
                            value.at(),
                            "`fully_decode_reserved_expansion` is not supported",
                            "remove it: protogate decodes multi-segment variables as google/api/http.proto specifies (`%2F` stays encoded)",
                        );
                    }
                }
                other => self.error(
                    key.at(),
                    format!("unknown key `{other}` in `http`"),
                    "`http` holds `rules`, the list of HttpRules",
                ),
            }
        }
        let items: &[Node] = match rules_node {
            Some(Node::Seq { items, .. }) => items,
            Some(other) => {
                self.error(
                    other.at(),
                    format!("`http.rules` is a {}, not a list", other.kind()),
                    "write each rule as a list item: `- selector: pkg.Service.Method`",
                );
                return Vec::new();
            }
            None => &[],
        };
        if items.is_empty() {
            self.error(
                rules_node.map_or(http.at(), Node::at),
                "`http.rules` lists no rule",
                "add rules: `- selector: pkg.Service.Method` with `get: /v1/…` (or put, post, delete, patch, custom)",
            );
        }
        let mut rules = Vec::new();
        for item in items {
            let before = self.diagnostics.len();
            let read = self.rule(item, true);
            // A rule with a problem of its own is reported once, here, and not checked again.
            if self.diagnostics.len() != before {
                continue;
            }
            if let (Some(selector), rule) = read {
                rules.push(ExternalRule {
                    selector: selector.0,
                    location: selector.1,
                    rule,
                });
            }
        }
        rules
    }

    /// One HttpRule (`top`: an `http.rules` item, with its selector; otherwise an additional
    /// binding). The rule's method stays empty when it sets none: the model reports that.
    fn rule(&mut self, node: &Node, top: bool) -> (Option<(String, Location)>, HttpRule) {
        let mut rule = HttpRule {
            method: String::new(),
            path: String::new(),
            body: String::new(),
            response_body: String::new(),
            additional_bindings: Vec::new(),
            location: Some(self.location(node.at())),
            path_location: None,
        };
        let mut selector = None;
        let mut pattern_key: Option<String> = None;
        let what = if top {
            "an `http.rules` item"
        } else {
            "an additional binding"
        };
        let example = "`get: /v1/…` (or put, post, delete, patch, custom), `body`, `response_body`";
        for (key, value) in self.entries(node, what, example) {
            let Some(name) = self.text(key, "key") else {
                continue;
            };
            let is_pattern = matches!(name, "get" | "put" | "post" | "delete" | "patch" | "custom");
            if is_pattern {
                if let Some(first) = &pattern_key {
                    self.error(
                        key.at(),
                        format!("the rule sets both `{first}` and `{name}`"),
                        "a rule has one HTTP method and path; give the other route as an additional binding",
                    );
                    continue;
                }
                pattern_key = Some(name.to_string());
            }
            match name {
                "selector" if top => {
                    if let Some(text) = self.text(value, name) {
                        selector = self.selector(text, value.at());
                    }
                }
                "selector" => self.error(
                    key.at(),
                    "an additional binding has no selector of its own",
                    "remove `selector` here: additional bindings belong to the method of their rule",
                ),
                "get" | "put" | "post" | "delete" | "patch" => {
                    if let Some(path) = self.text(value, name) {
                        rule.method = name.to_ascii_uppercase();
                        rule.path = path.to_string();
                        rule.path_location = self.template_location(value);
                    }
                }
                "custom" => {
                    let custom = "`custom: { kind: SEARCH, path: /v1/… }`";
                    for (k, v) in self.entries(value, "`custom`", custom) {
                        match self.text(k, "key") {
                            Some("kind") => {
                                if let Some(kind) = self.text(v, "kind") {
                                    rule.method = kind.to_string();
                                }
                            }
                            Some("path") => {
                                if let Some(path) = self.text(v, "path") {
                                    rule.path = path.to_string();
                                    rule.path_location = self.template_location(v);
                                }
                            }
                            Some(other) => self.error(
                                k.at(),
                                format!("unknown key `{other}` in `custom`"),
                                format!("`custom` has `kind` and `path`: {custom}"),
                            ),
                            None => {}
                        }
                    }
                }
                "body" => {
                    if let Some(body) = self.text(value, name) {
                        rule.body = body.to_string();
                    }
                }
                "response_body" => {
                    if let Some(body) = self.text(value, name) {
                        rule.response_body = body.to_string();
                    }
                }
                "additional_bindings" => match value {
                    Node::Seq { items, .. } => {
                        for item in items {
                            let (_, binding) = self.rule(item, false);
                            rule.additional_bindings.push(binding);
                        }
                    }
                    other => self.error(
                        other.at(),
                        format!("`additional_bindings` is a {}, not a list", other.kind()),
                        "write each binding as a list item: `- post: /v1/…`",
                    ),
                },
                other => {
                    let hint = match other {
                        "responseBody" => " (did you mean `response_body`?)",
                        "additionalBindings" => " (did you mean `additional_bindings`?)",
                        "pattern" | "method" | "path" => " (the method is the key: `get: /v1/…`)",
                        _ => "",
                    };
                    self.error(
                        key.at(),
                        format!("unknown key `{other}` in an HttpRule{hint}"),
                        format!("an HttpRule has {RULE_KEYS}"),
                    );
                }
            }
        }
        if top && selector.is_none() && !self.has_key(node, "selector") {
            self.error(
                node.at(),
                "the rule has no `selector`",
                "name the method the rule is for: `selector: package.Service.Method`",
            );
        }
        (selector, rule)
    }

    fn has_key(&self, node: &Node, name: &str) -> bool {
        matches!(node, Node::Map { entries, .. }
            if entries.iter().any(|(k, _)| matches!(k, Node::Scalar { text, .. } if text == name)))
    }

    /// A checked selector: one fully qualified method.
    fn selector(&mut self, text: &str, at: Marker) -> Option<(String, Location)> {
        let name = text.strip_prefix('.').unwrap_or(text);
        if name.contains(['*', ',', ' ', ';']) {
            self.error(
                at,
                format!("selector `{text}` names more than one method"),
                "write one rule per method, with its fully qualified name: `package.Service.Method` (wildcards and lists are not supported)",
            );
            return None;
        }
        let ident = |part: &str| {
            part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !name.contains('.') || !name.split('.').all(ident) {
            self.error(
                at,
                format!("selector `{text}` is not a fully qualified method name"),
                "write `package.Service.Method`, e.g. `helloworld.v1.Greeter.SayHello`",
            );
            return None;
        }
        Some((name.to_string(), self.location(at)))
    }

    /// Where a template's opening quote is — what the model expects, to point into the
    /// template. A plain scalar has no quote: the column before its first character stands in.
    /// Block scalars (`|`, `>`) have no usable offsets.
    fn template_location(&self, node: &Node) -> Option<Location> {
        match node {
            Node::Scalar {
                style: ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted,
                at,
                ..
            } => Some(self.location(*at)),
            Node::Scalar {
                style: ScalarStyle::Plain,
                at,
                ..
            } => {
                let mut location = self.location(*at);
                location.column -= 1;
                Some(location)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse("api.yaml", text) {
            Ok(rules) => panic!("expected errors, got {rules:?}"),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn reads_rules_with_locations() {
        let text = "type: google.api.Service\nconfig_version: 3\nhttp:\n  rules:\n  - selector: a.v1.S.Get\n    get: /v1/{name=things/*}\n    additional_bindings:\n    - post: \"/v1/things\"\n      body: '*'\n    - custom: {kind: SEARCH, path: /v1/things:search}\n      response_body: items\n";
        let rules = parse("api.yaml", text).unwrap();
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(r.selector, "a.v1.S.Get");
        assert_eq!(r.location.to_string(), "api.yaml:5:15");
        assert_eq!(r.rule.method, "GET");
        assert_eq!(r.rule.path, "/v1/{name=things/*}");
        assert_eq!(
            r.rule.location.as_ref().unwrap().to_string(),
            "api.yaml:5:5"
        );
        // Plain: the column before the template (the model adds one).
        assert_eq!(
            r.rule.path_location.as_ref().unwrap().to_string(),
            "api.yaml:6:9"
        );
        let post = &r.rule.additional_bindings[0];
        assert_eq!(
            (post.method.as_str(), post.path.as_str(), post.body.as_str()),
            ("POST", "/v1/things", "*")
        );
        // Quoted: the opening quote.
        assert_eq!(
            post.path_location.as_ref().unwrap().to_string(),
            "api.yaml:8:13"
        );
        let search = &r.rule.additional_bindings[1];
        assert_eq!(
            (search.method.as_str(), search.path.as_str()),
            ("SEARCH", "/v1/things:search")
        );
        assert_eq!(search.response_body, "items");
    }

    #[test]
    fn reports_every_problem_with_its_position() {
        let text = "type: google.api.Service\nconfig_version: 2\nhttp:\n  rules:\n  - selector: a.S.*\n    get: /x\n  - get: /y\n    post: /z\n    bodyy: x\n  - selector: a.S.M\n    additional_bindings:\n    - selector: a.S.N\n";
        let all = errors(text);
        let expected = [
            "api.yaml:2:17: error: `config_version` is `2`; protogate reads version 3",
            "api.yaml:5:15: error: selector `a.S.*` names more than one method",
            "api.yaml:7:5: error: the rule has no `selector`",
            "api.yaml:8:5: error: the rule sets both `get` and `post`",
            "api.yaml:9:5: error: unknown key `bodyy` in an HttpRule",
            "api.yaml:12:7: error: an additional binding has no selector of its own",
        ];
        assert_eq!(all.len(), expected.len(), "{all:#?}");
        for (line, want) in all.iter().zip(expected) {
            assert!(line.starts_with(want), "{line}\nwanted {want}");
            assert!(line.contains("\n  help: "), "{line}");
        }
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_are_located() {
        let all = errors(
            "type: google.api.Service\nhttp:\n  rules:\n  - selector: a.S.M\n    get: /a\n    get: /b\n",
        );
        assert!(
            all[0].starts_with(
                "api.yaml:6:5: error: duplicate key `get` (first at line 5, column 5)"
            ),
            "{all:?}"
        );
        let all = errors("type: google.api.Service\nhttp: [\n");
        assert!(all[0].contains("error: invalid YAML"), "{all:?}");
        assert!(all[0].starts_with("api.yaml:"), "{all:?}");
        let all = errors("");
        assert!(
            all[0].starts_with("api.yaml:1:1: error: the file holds no service config"),
            "{all:?}"
        );
        let all = errors("type: openapi\nhttp:\n  rules: []\n");
        assert!(
            all[0].starts_with("api.yaml:1:7: error: `type` is `openapi`"),
            "{all:?}"
        );
        assert!(
            all[1].starts_with("api.yaml:3:10: error: `http.rules` lists no rule"),
            "{all:?}"
        );
    }

    #[test]
    fn aliases_are_resolved_within_a_budget() {
        let text = "type: google.api.Service\nhttp:\n  rules:\n  - selector: a.S.M\n    get: &p /v1/x\n  - selector: a.S.N\n    get: *p\n";
        let rules = parse("api.yaml", text).unwrap();
        assert_eq!(rules[1].rule.path, "/v1/x");
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..6 {
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                p = if i == 0 {
                    "a".to_string()
                } else {
                    format!("b{}", i - 1)
                }
            ));
        }
        let all = errors(&bomb);
        assert!(
            all[0].contains("aliases expand to too many nodes"),
            "{all:?}"
        );
    }
}
