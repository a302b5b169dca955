//! Step 2: read each method's `google.api.http` option into a plain [`HttpRule`].

use prost_reflect::{DynamicMessage, MethodDescriptor, Value};

use crate::error::Location;
use crate::load;

/// Field number of the `google.api.http` extension on `MethodOptions`.
const HTTP_EXTENSION: i32 = 72_295_728;
/// `MethodDescriptorProto.options`.
const METHOD_OPTIONS: i32 = 4;
/// `HttpRule.additional_bindings`.
const ADDITIONAL_BINDINGS: i32 = 11;

/// One HttpRule as written, before validation.
#[derive(Debug, Clone)]
pub struct HttpRule {
    /// `GET`, `POST`, … or the `custom` kind as written.
    pub method: String,
    pub path: String,
    pub body: String,
    pub response_body: String,
    pub additional_bindings: Vec<HttpRule>,
    /// Where the rule is written, for error messages.
    pub location: Option<Location>,
    /// Where the path template string is written (its opening quote), when the source records
    /// it. A template from a YAML file without quotes stands one column before its first
    /// character.
    pub path_location: Option<Location>,
}

/// Reads the rule of `method`, or `None` when it has no `google.api.http` option. `source` is
/// the text of the method's file, if known, to locate the template strings.
pub fn http_rule(method: &MethodDescriptor, source: Option<&str>) -> Option<HttpRule> {
    let pool = method.parent_pool();
    let extension = pool.get_extension_by_name("google.api.http")?;
    let options = method.options();
    if !options.has_extension(&extension) {
        return None;
    }
    let value = options.get_extension(&extension);
    let Value::Message(rule) = value.as_ref() else {
        return None;
    };
    let mut path: Vec<i32> = method.path().to_vec();
    path.extend([METHOD_OPTIONS, HTTP_EXTENSION]);
    let mut rule = read_rule(rule, method, &path);
    if let Some(source) = source {
        locate_templates(&mut rule, source);
    }
    Some(rule)
}

/// Points each template at its string literal: the first `"template"` after the rule's start.
/// protox records no positions inside an option's value, only the option itself.
fn locate_templates(rule: &mut HttpRule, source: &str) {
    if rule.path_location.is_none() || rule.path_location == rule.location {
        if let Some(start) = &rule.location {
            rule.path_location = find_string(source, start, &rule.path);
        }
    }
    for extra in &mut rule.additional_bindings {
        locate_templates(extra, source);
    }
}

fn find_string(source: &str, from: &Location, text: &str) -> Option<Location> {
    let mut offset = 0;
    for (i, line) in source.split_inclusive('\n').enumerate() {
        if i + 1 == from.line as usize {
            offset += line
                .char_indices()
                .nth(from.column.saturating_sub(1) as usize)
                .map_or(0, |(o, _)| o);
            break;
        }
        offset += line.len();
    }
    let rest = source.get(offset..)?;
    let found = [format!("\"{text}\""), format!("'{text}'")]
        .iter()
        .filter_map(|quoted| rest.find(quoted.as_str()))
        .min()?;
    let before = &source[..offset + found];
    let line = before.matches('\n').count() as u32 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    Some(Location {
        file: from.file.clone(),
        line,
        column,
    })
}

fn read_rule(rule: &DynamicMessage, method: &MethodDescriptor, path: &[i32]) -> HttpRule {
    let file = method.parent_file();
    let text = |name: &str| match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let mut verb = String::new();
    let mut template = String::new();
    let mut template_field = 0;
    for (name, number) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("patch", 6),
    ] {
        if rule.has_field_by_name(name) {
            verb = name.to_ascii_uppercase();
            template = text(name);
            template_field = number;
        }
    }
    if rule.has_field_by_name("custom") {
        if let Some(Value::Message(custom)) = rule.get_field_by_name("custom").as_deref() {
            let field = |name: &str| match custom.get_field_by_name(name).as_deref() {
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            verb = field("kind");
            template = field("path");
            template_field = 8;
        }
    }
    let mut additional_bindings = Vec::new();
    if let Some(Value::List(list)) = rule.get_field_by_name("additional_bindings").as_deref() {
        for (i, item) in list.iter().enumerate() {
            if let Value::Message(binding) = item {
                let mut sub = path.to_vec();
                sub.extend([ADDITIONAL_BINDINGS, i as i32]);
                additional_bindings.push(read_rule(binding, method, &sub));
            }
        }
    }
    let mut template_path = path.to_vec();
    template_path.push(template_field);
    if template_field == 8 {
        template_path.push(2);
    }
    HttpRule {
        method: verb,
        path: template,
        body: text("body"),
        response_body: text("response_body"),
        additional_bindings,
        location: load::location(&file, path),
        path_location: load::location(&file, &template_path),
    }
}
