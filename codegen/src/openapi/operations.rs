//! Operations: parameters from the query, request bodies and responses of one binding.

use super::json::{Json, strings};
use super::schemas::{QUERY_FIELD_MASK_PATTERN, map_key_pattern, nullable, strip_annotations};
use super::{
    Doc, ERROR, Placed, STATUS, docs_text, join_paragraphs, lowercase_first, summary_and_rest,
};
use crate::model::{Binding, Body, Field, QueryParam, Shape};

impl Doc<'_> {
    pub(super) fn operation(&mut self, p: &Placed<'_>, path_params: Vec<Json>) -> Json {
        let b = p.binding;
        let mut operation = Json::obj().with("tags", strings(&[&p.tag]));
        let (summary, rest) = summary_and_rest(&b.rpc_docs);
        if !summary.is_empty() {
            operation.set("summary", summary);
        }
        let mut paragraphs: Vec<String> = rest;
        paragraphs.push(format!(
            "`{} {}` calls `{}`{}.",
            b.http_method,
            b.template,
            b.grpc_path,
            match (b.client_streaming, b.server_streaming) {
                (true, true) => " (bidirectional streaming)",
                (true, false) => " (client streaming)",
                (false, true) => " (server streaming)",
                (false, false) => "",
            }
        ));
        if self.api.websocket.iter().any(|r| r.variant == b.variant) {
            paragraphs.push(
                "A WebSocket upgrade on this path (`GET` with `Upgrade: websocket`) carries the \
                 stream too: one JSON message per text frame each way; a failure ends with an \
                 `{\"error\": status}` frame and close code 4000 + the gRPC code."
                    .to_string(),
            );
        }
        if !super::is_standard(&b.http_method) {
            paragraphs.push(format!(
                "`{}` is a custom HTTP method, which OpenAPI cannot name: this operation is in \
                 the `x-additionalOperations` extension, which client generators skip.",
                b.http_method
            ));
        }
        if let Some(mask) = &b.field_mask {
            let body = match &b.body {
                Body::Field(f) => self.name(f).to_string(),
                _ => String::new(),
            };
            paragraphs.push(format!(
                "When `{}` is not set, it lists the fields present in the JSON body, relative to \
                 `{body}`.",
                mask.name
            ));
        }
        operation.set("description", paragraphs.join("\n\n"));
        operation.set("operationId", p.operation_id.as_str());

        let mut parameters = path_params;
        for q in &b.query {
            let param = self.query_parameter(q);
            parameters.push(param);
        }
        for q in &b.query_maps {
            let param = self.query_map_parameter(q, b.query_maps.len() == 1);
            parameters.push(param);
        }
        if !parameters.is_empty() {
            operation.set("parameters", Json::Arr(parameters));
        }
        if let Some(body) = self.request_body(b) {
            operation.set("requestBody", body);
        }
        let ok = self.ok_response(b);
        let error = Json::obj().with("$ref", format!("#/components/responses/{ERROR}"));
        operation.set(
            "responses",
            Json::obj().with("200", ok).with("default", error),
        );
        if b.rpc_docs.deprecated || p.service.docs.deprecated {
            operation.set("deprecated", true);
        }
        operation
    }

    pub(super) fn query_name(&self, q: &QueryParam) -> String {
        let names = &q.names;
        let name = if self.options.proto_names {
            names.first()
        } else {
            names.last()
        };
        name.cloned().unwrap_or_default()
    }

    fn query_parameter(&mut self, q: &QueryParam) -> Json {
        let f = &q.field;
        let element = self.query_value_schema(f);
        let mut description = docs_text(&f.docs);
        if let Some(o) = &f.oneof {
            description = join_paragraphs(&[
                &description,
                &format!(
                    "A member of the oneof `{}`: give at most one of them.",
                    o.name
                ),
            ]);
        }
        if f.type_name == "google.protobuf.FieldMask" {
            description = join_paragraphs(&[&description, "Comma-separated field paths."]);
        }
        let mut param = Json::obj()
            .with("name", self.query_name(q))
            .with("in", "query");
        if !description.is_empty() {
            param.set("description", description);
        }
        if f.docs.deprecated {
            param.set("deprecated", true);
        }
        if q.repeated {
            param.with("style", "form").with("explode", true).with(
                "schema",
                Json::obj().with("type", "array").with("items", element),
            )
        } else {
            param.with("schema", element)
        }
    }

    /// A map left to the query. The proxy reads `labels[key]=value` for any map, and a bare
    /// `key=value` for the one map of a binding that has only one: OpenAPI's default `form`
    /// style, the form client generators send an object parameter in (openapi-python-client
    /// knows no other). With several maps only `deepObject` tells them apart.
    fn query_map_parameter(&mut self, q: &QueryParam, alone: bool) -> Json {
        let f = &q.field;
        let value = self.query_value_schema(f);
        let name = self.query_name(q);
        let form = if alone {
            format!(
                "A map: one `key=value` parameter per entry, or `{name}[key]=value`, which a key \
                 named like another parameter of this operation needs."
            )
        } else {
            format!("A map: one `{name}[key]=value` parameter per entry.")
        };
        let description = join_paragraphs(&[&docs_text(&f.docs), &form]);
        let mut schema = Json::obj()
            .with("type", "object")
            .with("additionalProperties", value);
        if let Some(keys) = f.map_key.and_then(map_key_pattern) {
            schema.set("propertyNames", Json::obj().with("pattern", keys));
        }
        let mut param = Json::obj()
            .with("name", name)
            .with("in", "query")
            .with("description", description);
        if f.docs.deprecated {
            param.set("deprecated", true);
        }
        param
            .with("style", if alone { "form" } else { "deepObject" })
            .with("explode", true)
            .with("schema", schema)
    }

    /// A query value: like the JSON value, except that enums are always their names.
    fn query_value_schema(&mut self, f: &Field) -> Json {
        if f.type_name == "google.protobuf.FieldMask" {
            return Json::obj()
                .with("type", "string")
                .with("pattern", QUERY_FIELD_MASK_PATTERN);
        }
        if f.value.method == "enumeration" && self.options.enums_as_numbers {
            if let Some(e) = self.enums.get(f.type_name.as_str()) {
                let names: Vec<&str> = e.values.iter().map(|v| v.name.as_str()).collect();
                return Json::obj()
                    .with("type", "string")
                    .with("enum", strings(&names));
            }
        }
        self.value_schema(f)
    }

    fn request_body(&mut self, b: &Binding) -> Option<Json> {
        if b.raw_request.is_some() {
            let what = match &b.body {
                Body::Field(f) => format!(
                    "the `{}` field of `{}`, a `google.api.HttpBody`",
                    f.proto_name, b.input_message
                ),
                _ => "the `google.api.HttpBody` request".to_string(),
            };
            let streamed = if b.client_streaming {
                " It is streamed upstream as it arrives."
            } else {
                ""
            };
            return Some(
                Json::obj()
                    .with(
                        "description",
                        format!(
                            "Any content, as is: the body becomes the `data` of {what}, and its \
                             Content-Type the `content_type`.{streamed}"
                        ),
                    )
                    .with("content", Json::obj().with("*/*", Json::obj())),
            );
        }
        let (schema, description) = match &b.body {
            Body::None if !b.client_streaming => return None,
            Body::None | Body::Whole => {
                let bound: Vec<Vec<String>> = b
                    .path_vars
                    .iter()
                    .map(|v| v.name.split('.').map(str::to_string).collect())
                    .collect();
                let schema = self.body_schema(&b.input_message, &bound);
                let description = if bound.is_empty() {
                    format!("The `{}` request.", b.input_message)
                } else {
                    format!(
                        "The `{}` request without the fields the path sets.",
                        b.input_message
                    )
                };
                (schema, description)
            }
            Body::Field(f) => {
                let schema = match f.shape {
                    // `null` reads as unset, but an absent body says the same.
                    Shape::Message | Shape::Wrapper => self.value_schema(f),
                    _ => self.field_schema(f, &[]),
                };
                (
                    strip_annotations(schema),
                    format!("The `{}` field of `{}`.", f.proto_name, b.input_message),
                )
            }
        };
        let (content, description) = if b.client_streaming {
            let stream = Json::obj().with("schema", schema);
            (
                Json::obj()
                    .with("application/x-ndjson", stream.clone())
                    .with("application/json", stream),
                format!(
                    "A stream of messages, each {}: JSON objects one after another \
                     (newline-delimited or concatenated), each sent upstream as it arrives.",
                    lowercase_first(&description)
                ),
            )
        } else {
            (
                Json::obj().with("application/json", Json::obj().with("schema", schema)),
                format!("{description} An empty body is an empty message."),
            )
        };
        Some(
            Json::obj()
                .with("description", description)
                .with("content", content),
        )
    }

    /// The request message with the path-bound fields (`bound`, proto paths) left out.
    fn body_schema(&mut self, message: &str, bound: &[Vec<String>]) -> Json {
        if bound.is_empty() || !self.messages.contains_key(message) {
            return self.message_value(message);
        }
        self.message_schema(message, bound)
    }

    fn ok_response(&mut self, b: &Binding) -> Json {
        if b.raw_response.is_some() {
            let what = match &b.response_body {
                Some(f) => format!(
                    "the `{}` field (a `google.api.HttpBody`) of `{}`",
                    f.proto_name, b.output_message
                ),
                None => "the `google.api.HttpBody` reply".to_string(),
            };
            let description = if b.server_streaming {
                format!(
                    "The `data` of {what}, message after message as they arrive with nothing \
                     between them, and the first one's `content_type` as the Content-Type."
                )
            } else {
                format!("The `data` of {what} as is, with its `content_type` as the Content-Type.")
            };
            return Json::obj()
                .with("description", description)
                .with("content", Json::obj().with("*/*", Json::obj()));
        }
        let (schema, what) = match &b.response_body {
            Some(f) => {
                let schema = match (&f.shape, &f.oneof) {
                    // An unset message is written as its default, an empty object.
                    (Shape::Message, _) => self.value_schema(f),
                    (Shape::Singular, Some(_)) => {
                        let v = self.value_schema(f);
                        nullable(v)
                    }
                    _ => self.field_schema(f, &[]),
                };
                (
                    strip_annotations(schema),
                    format!("The `{}` field of `{}`", f.proto_name, b.output_message),
                )
            }
            None => (
                self.message_value(&b.output_message),
                format!("`{}`", b.output_message),
            ),
        };
        let content = if b.server_streaming {
            let error = Json::obj()
                .with("type", "object")
                .with(
                    "properties",
                    Json::obj().with("error", self.reference(STATUS)),
                )
                .with("required", strings(&["error"]))
                .with("additionalProperties", false);
            let line = if self.options.bare_stream_messages {
                Json::obj()
                    .with(
                        "description",
                        "One line of the stream: a message, or a final `error` after which the \
                         stream ends.",
                    )
                    .with("anyOf", Json::Arr(vec![schema, error]))
            } else {
                let result = Json::obj()
                    .with("type", "object")
                    .with("properties", Json::obj().with("result", schema))
                    .with("required", strings(&["result"]))
                    .with("additionalProperties", false);
                Json::obj()
                    .with(
                        "description",
                        "One line of the stream: `{\"result\": message}`, or a final \
                         `{\"error\": status}` after which the stream ends.",
                    )
                    .with("oneOf", Json::Arr(vec![result, error]))
            };
            Json::obj()
                .with("application/x-ndjson", Json::obj().with("schema", line))
                .with(
                    "text/event-stream",
                    Json::obj().with(
                        "schema",
                        Json::obj().with("type", "string").with(
                            "description",
                            "Server-Sent Events (with `Accept: text/event-stream`): one `data:` \
                             event per message, and an `error` event with a `google.rpc.Status` \
                             when the stream fails.",
                        ),
                    ),
                )
        } else {
            Json::obj().with("application/json", Json::obj().with("schema", schema))
        };
        let description = if b.server_streaming {
            format!(
                "A stream of {what}: newline-delimited JSON, one line per message; an error \
                 before the first message is an ordinary error response."
            )
        } else {
            format!("{what}.")
        };
        Json::obj()
            .with("description", description)
            .with("content", content)
    }
}
