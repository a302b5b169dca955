//! One HTTP binding of one RPC from one HttpRule: the rule checked against the method's
//! messages (a diagnostic for each mistake), its path, body, query and response.

use std::collections::BTreeSet;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

use super::docs::{docs, method_comments};
use super::json::field_model;
use super::mask::derived_mask;
use super::params::{query_fields, resolve_path_field};
use super::routes::pattern;
use super::rust_types::message_type;
use super::{Binding, Body, PathVar, RawBody};
use crate::error::{Diagnostic, Location};
use crate::ident;
use crate::rules::HttpRule;
use crate::template::{self, Segment};

pub(super) fn binding(
    method: &MethodDescriptor,
    rule: &HttpRule,
    ident: String,
) -> Result<Binding, Diagnostic> {
    let rpc = method.full_name().to_string();
    let err = |message: String, help: &str| {
        Diagnostic::new(message)
            .at(rule.location.clone())
            .rpc(rpc.clone())
            .help(help.to_string())
    };
    if rule.method.is_empty() {
        return Err(err(
            "the rule sets no HTTP method and path".into(),
            "set one of get, put, post, delete, patch or custom: { kind: \"…\" path: \"…\" }",
        ));
    }
    if !rule
        .method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(err(
            format!("`{}` is not a valid HTTP method name", rule.method),
            "a custom kind is an HTTP token such as SEARCH or PURGE",
        ));
    }
    let template = template::parse(&rule.path).map_err(|e| {
        let location = rule.path_location.clone().map(|l| Location {
            // The template's column within the quoted string (after the opening quote).
            column: l.column + 1 + e.offset as u32,
            ..l
        });
        Diagnostic::new(format!(
            "invalid path template `{}`: {}",
            rule.path, e.message
        ))
        .at(location.or_else(|| rule.location.clone()))
        .rpc(rpc.clone())
        .help(e.hint.clone())
    })?;
    let input = method.input();
    let output = method.output();

    if method.is_client_streaming() && !template.variables().is_empty() {
        return Err(err(
            format!(
                "client-streaming RPC with path variables in `{}`",
                rule.path
            ),
            "a client stream carries its messages in the body; move the variables into the messages",
        ));
    }
    let http_method = rule.method.clone();
    let body = match rule.body.as_str() {
        // A client stream's messages are its body, whether or not the rule says so (as
        // grpc-gateway serves `post: "/stream" ` with no `body`).
        "" if method.is_client_streaming() && !matches!(http_method.as_str(), "GET" | "DELETE") => {
            Body::Whole
        }
        "" => Body::None,
        _ if matches!(http_method.as_str(), "GET" | "DELETE") => {
            return Err(err(
                format!("{http_method} with a body (`body: \"{}\"`)", rule.body),
                "GET and DELETE requests carry no body; remove `body` or use POST, PUT or PATCH",
            ));
        }
        "*" => Body::Whole,
        name => match input.get_field_by_name(name) {
            Some(f) => Body::Field(Box::new(field_model(&f))),
            None => {
                return Err(err(
                    format!(
                        "body field `{name}` does not exist in {}",
                        input.full_name()
                    ),
                    &format!(
                        "name a top-level field of {}, or use \"*\" for the whole message",
                        input.full_name()
                    ),
                ));
            }
        },
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        name => match output.get_field_by_name(name) {
            Some(f) => Some(field_model(&f)),
            None => {
                return Err(err(
                    format!(
                        "response_body field `{name}` does not exist in {}",
                        output.full_name()
                    ),
                    &format!(
                        "name a top-level field of {}, or remove response_body",
                        output.full_name()
                    ),
                ));
            }
        },
    };
    if method.is_client_streaming() && matches!(body, Body::None) {
        return Err(err(
            format!(
                "client-streaming RPC bound to {http_method} in `{}`",
                rule.path
            ),
            "a client stream carries its messages in the body, which GET and DELETE requests do not have; use POST, PUT or PATCH",
        ));
    }
    let raw_request = match &body {
        Body::Whole => raw_body(&input, None),
        Body::Field(f) => input
            .get_field_by_name(&f.proto_name)
            .and_then(|field| raw_body(&input, Some(&field))),
        Body::None => None,
    };
    let raw_response = match &response_body {
        None => raw_body(&output, None),
        Some(f) => output
            .get_field_by_name(&f.proto_name)
            .and_then(|field| raw_body(&output, Some(&field))),
    };

    // Path variables.
    let mut path_vars = Vec::new();
    let mut bound: BTreeSet<Vec<String>> = BTreeSet::new();
    for var in template.variables() {
        let name = var.field_path.join(".");
        let setter = resolve_path_field(&input, &var.field_path).map_err(|(why, help)| {
            err(
                format!("path variable `{{{name}}}` in `{}`: {why}", rule.path),
                help.as_deref().unwrap_or(
                    "bind path variables to singular scalar, enum, Timestamp, Duration or wrapper fields",
                ),
            )
        })?;
        let multi_segment = !matches!(var.segments.as_slice(), [Segment::Wildcard]);
        bound.insert(var.field_path.clone());
        path_vars.push(PathVar {
            name,
            multi_segment,
            setter,
        });
    }

    // A client stream's messages each have their own body: no mask is derived for them.
    let field_mask = derived_mask(&http_method, &input, &rule.body, &bound)
        .filter(|_| !method.is_client_streaming());

    // Query parameters: every field bound by neither the path nor the body.
    let mut query = Vec::new();
    let mut query_maps = Vec::new();
    match &body {
        Body::Whole => {}
        Body::Field(f) => {
            bound.insert(vec![f.proto_name.clone()]);
            query_fields(
                &input,
                &mut Vec::new(),
                &mut Vec::new(),
                &bound,
                &mut query,
                &mut query_maps,
                &mut vec![input.full_name().to_string()],
            );
        }
        Body::None => {
            query_fields(
                &input,
                &mut Vec::new(),
                &mut Vec::new(),
                &bound,
                &mut query,
                &mut query_maps,
                &mut vec![input.full_name().to_string()],
            );
        }
    }

    let pattern = pattern(&template);
    let mut doc = vec![format!(
        "`{http_method} {template}` → `{}`",
        method.full_name()
    )];
    let comments = method_comments(method);
    if !comments.is_empty() {
        doc.push(String::new());
        doc.extend(comments);
    }
    if let Some(mask) = &field_mask {
        doc.push(String::new());
        doc.push(format!(
            "An unset `{}` lists the fields in the JSON body, relative to `{}`.",
            mask.name, rule.body
        ));
    }
    Ok(Binding {
        variant: ident::to_upper_camel(&ident),
        ident,
        http_method,
        template: template.to_string(),
        grpc_path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        rpc,
        input_type: message_type(&input),
        output_type: message_type(&output),
        doc,
        pattern,
        path_vars,
        body,
        query,
        query_maps,
        request_fields: input
            .fields()
            .flat_map(|f| [f.name().to_string(), f.json_name().to_string()])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        response_body,
        field_mask,
        location: rule.location.clone(),
        path_template: template,
        input_message: input.full_name().to_string(),
        output_message: output.full_name().to_string(),
        client_streaming: method.is_client_streaming(),
        server_streaming: method.is_server_streaming(),
        rpc_docs: docs(
            &method.parent_file(),
            method.path(),
            method
                .method_descriptor_proto()
                .options
                .as_ref()
                .is_some_and(|o| o.deprecated()),
        ),
        raw_request,
        raw_response,
    })
}

/// The `google.api.HttpBody` of a message: the message itself (`field` is `None`) or one of its
/// singular fields.
fn raw_body(message: &MessageDescriptor, field: Option<&FieldDescriptor>) -> Option<RawBody> {
    const HTTP_BODY: &str = "google.api.HttpBody";
    match field {
        None => (message.full_name() == HTTP_BODY).then(|| RawBody {
            field: None,
            rust_type: message_type(message),
        }),
        Some(f) if f.is_list() || f.is_map() => None,
        Some(f) => match f.kind() {
            Kind::Message(m) if m.full_name() == HTTP_BODY => Some(RawBody {
                field: Some(ident::to_snake(f.name())),
                rust_type: message_type(&m),
            }),
            _ => None,
        },
    }
}
