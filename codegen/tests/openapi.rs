#![allow(clippy::unwrap_used)]
//! The OpenAPI 3.1 document (`openapi.json`): what it says about each binding, parameter, body,
//! response and field kind, checked on `fixtures/openapi/openapi.proto`; that it agrees with the
//! router on the example API; the options that shape it; and the `protogate openapi` command.
//! The committed `generated-example/openapi.json` is checked byte for byte by `tests/golden.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use protogate::{Builder, Input, Layout};
use serde_json::{Value, json};

mod common;
use common::{INCLUDE, PROTOS, workspace};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi")
}

fn fixture_input(name: &str) -> Input {
    Input::protos(&[fixtures().join(name)], &[fixtures()])
}

fn example_input() -> Input {
    let root = workspace();
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    Input::protos(&protos, &[root.join(INCLUDE)])
}

fn document_text(builder: &Builder, input: &Input) -> String {
    builder
        .openapi(input, Some("fixture"))
        .unwrap_or_else(|e| panic!("generation failed:\n{e}"))
}

fn document_with(builder: Builder) -> Value {
    serde_json::from_str(&document_text(&builder, &fixture_input("openapi.proto"))).unwrap()
}

fn document() -> Value {
    document_with(protogate::configure())
}

/// The operation with this id, wherever it is: `(path, method, operation)`.
fn operation<'a>(doc: &'a Value, id: &str) -> (&'a str, String, &'a Value) {
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let ops: Vec<(String, &Value)> = if method == "x-additionalOperations" {
                op.as_object()
                    .unwrap()
                    .iter()
                    .map(|(m, o)| (m.clone(), o))
                    .collect()
            } else {
                vec![(method.clone(), op)]
            };
            for (m, o) in ops {
                if o["operationId"] == id {
                    return (path, m, o);
                }
            }
        }
    }
    panic!("no operation {id}")
}

fn parameter<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name} in {op:#}"))
}

fn parameter_names(op: &Value) -> Vec<&str> {
    op["parameters"]
        .as_array()
        .map(|ps| ps.iter().map(|p| p["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no component {name}");
    s
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[test]
fn document_is_deterministic_json_with_a_final_newline() {
    let input = fixture_input("openapi.proto");
    let first = document_text(&protogate::configure(), &input);
    let second = document_text(&protogate::configure(), &input);
    assert_eq!(first, second);
    assert!(first.ends_with("}\n") && !first.ends_with("\n\n"));
    let doc: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "fixture");
    // The top-level keys in OpenAPI's order, paths sorted.
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert!(first.find("\"openapi\"").unwrap() < first.find("\"info\"").unwrap());
    assert!(first.find("\"paths\"").unwrap() < first.find("\"components\"").unwrap());
    assert_eq!(keys.len(), 5, "{keys:?}");
    let paths: Vec<&str> = first
        .lines()
        .filter(|l| l.starts_with("    \"/"))
        .map(str::trim)
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);

    // The example protos in either order give the same bytes.
    let root = workspace();
    let forward: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let backward: Vec<PathBuf> = forward.iter().rev().cloned().collect();
    let include = [root.join(INCLUDE)];
    let a = document_text(&protogate::configure(), &Input::protos(&forward, &include));
    let b = document_text(&protogate::configure(), &Input::protos(&backward, &include));
    assert_eq!(a, b);
}

#[test]
fn the_crate_holds_the_document_and_its_library_embeds_it() {
    let generated = protogate::configure()
        .generate(
            &example_input(),
            &Layout::Crate {
                name: "protogate-example".into(),
            },
        )
        .unwrap();
    let document = &generated.files["openapi.json"];
    assert!(
        document
            == &protogate::configure()
                .openapi(&example_input(), Some("protogate-example"))
                .unwrap(),
        "the crate's openapi.json is the document"
    );
    let lib = &generated.files["src/lib.rs"];
    assert!(
        lib.contains(r#"pub const OPENAPI_JSON: &str = include_str!("../openapi.json");"#),
        "{lib}"
    );
    assert!(
        lib.contains(r#"openapi_path: Some("/openapi.json".to_string()),"#),
        "{lib}"
    );
    // The include! layout carries the text itself.
    let module = protogate::configure()
        .generate(&example_input(), &Layout::Module)
        .unwrap();
    let file = &module.files["protogate.rs"];
    assert!(
        file.contains(r#"pub const OPENAPI_JSON: &str = "{\n  \"openapi\": \"3.1.0\","#),
        "the module embeds the document"
    );
    // The crate's document in the version asked for.
    let generated = protogate::configure()
        .openapi_version(protogate::OpenapiVersion::V3_0)
        .generate(
            &example_input(),
            &Layout::Crate {
                name: "protogate-example".into(),
            },
        )
        .unwrap();
    assert!(generated.files["openapi.json"].starts_with("{\n  \"openapi\": \"3.0.3\","));
}

#[test]
fn operations_have_ids_tags_and_every_binding() {
    let doc = document();
    // Every binding, additional ones included: `Service_Method`, then `_2`, `_3`.
    let (path, method, op) = operation(&doc, "DocumentStore_GetDocument");
    assert_eq!(
        (path, method.as_str()),
        ("/v1/stores/{store}/documents/{document}", "get")
    );
    assert_eq!(op["tags"], json!(["DocumentStore"]));
    let (path, _, _) = operation(&doc, "DocumentStore_GetDocument_2");
    assert_eq!(path, "/v1/archives/{archive}/documents/{document}");
    // A custom method OpenAPI 3.1 cannot name.
    let (path, method, _) = operation(&doc, "DocumentStore_GetDocument_3");
    assert_eq!(
        (path, method.as_str()),
        ("/v1/stores/{store}/documents/{document}", "FETCH")
    );
    let item = &doc["paths"][path];
    assert!(item["x-additionalOperations"]["FETCH"].is_object());
    // Said where tools that skip extensions still look, and in the operation itself.
    assert!(
        text(&item["description"]).starts_with("Also `FETCH` under `x-additionalOperations`"),
        "{item}"
    );
    assert!(
        text(&item["x-additionalOperations"]["FETCH"]["description"])
            .contains("`FETCH` is a custom HTTP method, which OpenAPI cannot name"),
        "{item}"
    );
    // And a warning to print, with the rule's location.
    let warnings = protogate::configure()
        .openapi_document(&fixture_input("openapi.proto"), None)
        .unwrap()
        .warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("openapi.proto:") && warnings[0].contains(": warning: docs.v1.DocumentStore.GetDocument: OpenAPI cannot name the custom HTTP method `FETCH` of `FETCH /v1/{name=stores/*/documents/*}`"),
        "{warnings:?}"
    );
    // `:verb` stays literal.
    let (path, method, _) = operation(&doc, "DocumentStore_ArchiveDocument");
    assert_eq!(
        (path, method.as_str()),
        ("/v1/stores/{store}/documents/{document}:archive", "post")
    );
    // Tags per service, with the service's comments.
    let tags = doc["tags"].as_array().unwrap();
    assert_eq!(tags[0]["name"], "DocumentStore");
    assert_eq!(
        tags[0]["description"],
        "Keeps documents.\n\nA second paragraph about the store.\n\n`docs.v1.DocumentStore`"
    );
    assert_eq!(tags[1]["name"], "OldStore");
    let ids: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| match k.as_str() {
                    "x-additionalOperations" => v.as_object().unwrap().len(),
                    "description" => 0,
                    _ => 1,
                })
                .sum::<usize>()
        })
        .sum();
    assert_eq!(ids, 13, "every binding is one operation");
}

#[test]
fn path_parameters() {
    let doc = document();
    // A multi-segment capture is spelled out: one parameter per wildcard, named after the
    // collection before it (singular), so that clients which escape a `/` inside a parameter
    // still send the path the proxy routes.
    let (path, _, op) = operation(&doc, "DocumentStore_GetTitle");
    assert_eq!(path, "/v1/stores/{store}/documents/{document}/title");
    assert_eq!(parameter_names(op), ["store", "document"]);
    let part = parameter(op, "document");
    assert_eq!(part["in"], "path");
    assert_eq!(part["required"], true);
    assert_eq!(
        part["schema"],
        json!({"type": "string", "pattern": "^[^/]+$"})
    );
    assert!(
        text(&part["description"])
            .contains("`name`, which is `stores/{store}/documents/{document}`"),
        "{part}"
    );
    // A nested field path.
    let (path, _, op) = operation(&doc, "DocumentStore_CreateDocument");
    assert_eq!(path, "/v1/stores/{store}/documents");
    assert_eq!(parameter_names(op), ["store"]);
    // `**` alone has nothing to spell out: one or more segments, sent as they are.
    let (path, _, op) = operation(&doc, "DocumentStore_GetFile");
    assert_eq!(path, "/v1/files/{path}");
    let deep = parameter(op, "path");
    assert_eq!(deep["schema"]["pattern"], "^[^/]+(/[^/]+)*$");
    assert!(
        text(&deep["description"]).contains("sent unescaped"),
        "{deep}"
    );
    // A single segment: any non-empty text. Paths of one shape are one path to OpenAPI, so
    // `/v1/stores/{store_id}/documents` takes the parameter name of the POST at that path.
    let (path, _, op) = operation(&doc, "DocumentStore_ListDocuments");
    assert_eq!(path, "/v1/stores/{store}/documents");
    let renamed = parameter(op, "store");
    assert_eq!(renamed["schema"], json!({"type": "string", "minLength": 1}));
    assert!(
        text(&renamed["description"]).starts_with("The field `storeId` (named `store`"),
        "{renamed}"
    );
    let (path, _, op) = operation(&doc, "DocumentStore_GetDocument_2");
    assert_eq!(path, "/v1/archives/{archive}/documents/{document}");
    assert_eq!(parameter_names(op), ["archive", "document"]);
    // The example API: every binding of a book at one path, with natural names.
    let example: Value = serde_json::from_str(
        &protogate::configure()
            .openapi(&example_input(), None)
            .unwrap(),
    )
    .unwrap();
    let book = &example["paths"]["/v1/shelves/{shelf}/books/{book}"];
    for method in ["get", "put", "patch", "delete"] {
        assert_eq!(
            parameter_names(&book[method])[..2],
            ["shelf", "book"],
            "{method}"
        );
    }

    // Whole captures, on request: one parameter named by its field path, with a pattern and the
    // note that `/` is part of the value.
    let doc = document_with(protogate::configure().openapi_whole_captures(true));
    let (path, _, op) = operation(&doc, "DocumentStore_GetTitle");
    assert_eq!(path, "/v1/{name}/title");
    let name = parameter(op, "name");
    assert_eq!(name["schema"]["pattern"], "^stores/[^/]+/documents/[^/]+$");
    let description = text(&name["description"]);
    assert!(
        description.starts_with("The document's resource name."),
        "{description}"
    );
    assert!(
        description.contains("`/` characters are part of the value"),
        "{description}"
    );
    let (path, _, op) = operation(&doc, "DocumentStore_CreateDocument");
    assert_eq!(path, "/v1/{parent.name}/documents");
    assert_eq!(
        parameter(op, "parent.name")["schema"]["pattern"],
        "^stores/[^/]+$"
    );
    let (path, _, op) = operation(&doc, "DocumentStore_ListDocuments");
    assert_eq!(path, "/v1/stores/{storeId}/documents");
    assert_eq!(
        parameter(op, "storeId")["schema"],
        json!({"type": "string", "minLength": 1})
    );
    // Two GET bindings that would share `/v1/{name}` are spelled out all the same.
    let (path, _, _) = operation(&doc, "DocumentStore_GetDocument_2");
    assert_eq!(path, "/v1/archives/{archive}/documents/{document}");
    // `PATCH /v1/{book.name=shelves/*/books/*}` joins `GET /v1/{name=shelves/*/books/*}` under
    // the first one's parameter name.
    let example: Value = serde_json::from_str(
        &protogate::configure()
            .openapi_whole_captures(true)
            .openapi(&example_input(), None)
            .unwrap(),
    )
    .unwrap();
    let (path, method, op) = operation(&example, "LibraryService_UpdateBook");
    assert_eq!((path, method.as_str()), ("/v1/{name}", "patch"));
    let renamed = parameter(op, "name");
    assert!(
        text(&renamed["description"]).starts_with("The field `book.name` (named `name`"),
        "{renamed}"
    );
    assert_eq!(renamed["schema"]["pattern"], "^shelves/[^/]+/books/[^/]+$");
    assert!(example["paths"]["/v1/{name}"]["get"].is_object());
}

#[test]
fn query_parameters() {
    let doc = document();
    let (_, _, op) = operation(&doc, "DocumentStore_ListDocuments");
    // Every field the path leaves, nested ones by dotted names, maps last.
    assert_eq!(
        parameter_names(op),
        [
            "store",
            "pageSize",
            "minSize",
            "states",
            "filter.text",
            "filter.state",
            "filter.after",
            "maxAge",
            "readMask",
            "archived",
            "token",
            "ids",
            "verbose",
            "orderBy",
            "orderDesc",
            "filter.labels",
        ]
    );
    let p = |name: &str| parameter(op, name).clone();
    assert_eq!(p("pageSize")["in"], "query");
    assert_eq!(p("pageSize")["description"], "How many to return.");
    assert_eq!(p("pageSize")["schema"]["format"], "int32");
    assert_eq!(
        p("minSize")["schema"],
        json!({"type": "string", "format": "int64", "pattern": "^-?(0|[1-9][0-9]*)$"})
    );
    // Repeated: exploded arrays.
    let states = p("states");
    assert_eq!(
        (&states["style"], &states["explode"]),
        (&json!("form"), &json!(true))
    );
    assert_eq!(states["schema"]["type"], "array");
    assert_eq!(
        states["schema"]["items"]["$ref"],
        "#/components/schemas/docs.v1.State"
    );
    assert_eq!(p("ids")["schema"]["items"]["format"], "int64");
    // Well-known types in their string forms; a wrapper as its primitive.
    assert_eq!(
        p("filter.after")["schema"],
        json!({"type": "string", "format": "date-time"})
    );
    assert_eq!(p("maxAge")["schema"]["type"], "string");
    assert!(p("maxAge")["schema"]["pattern"].is_string());
    assert_eq!(p("readMask")["schema"]["type"], "string");
    assert!(
        text(&p("readMask")["schema"]["pattern"]).contains("[A-Za-z_]"),
        "proto names are accepted in the query"
    );
    assert!(text(&p("readMask")["description"]).contains("Comma-separated"));
    assert_eq!(p("archived")["schema"], json!({"type": "boolean"}));
    assert_eq!(
        p("token")["schema"],
        json!({"type": "string", "format": "byte"})
    );
    assert_eq!(p("verbose")["deprecated"], true);
    assert!(text(&p("orderBy")["description"]).contains("oneof `order`"));
    // The only map: `key=value`, the form clients send objects in (`filter.labels[key]=value`
    // works too).
    let labels = p("filter.labels");
    assert_eq!(labels["style"], "form");
    assert_eq!(labels["explode"], true);
    assert_eq!(
        labels["schema"],
        json!({"type": "object", "additionalProperties": {"type": "string"}})
    );
    assert!(
        text(&labels["description"]).contains("`filter.labels[key]=value`"),
        "{labels}"
    );
    // Several maps: only `deepObject` (`labels[key]=value`) tells them apart.
    let echo = workspace().join("tests/proto");
    let echo: Value = serde_json::from_str(
        &protogate::configure()
            .openapi(
                &Input::protos(&[echo.join("echo/v1/echo.proto")], &[echo]),
                None,
            )
            .unwrap(),
    )
    .unwrap();
    let maps: Vec<&Value> = echo["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .flat_map(|op| op["parameters"].as_array().into_iter().flatten())
        .filter(|p| p["schema"]["type"] == "object")
        .collect();
    assert!(maps.len() >= 2, "{maps:?}");
    assert!(maps.iter().all(|p| p["style"] == "deepObject"), "{maps:?}");
    // None for `body: "*"`, and none for what the path binds.
    let (_, _, op) = operation(&doc, "DocumentStore_CreateDocument");
    assert_eq!(parameter_names(op), ["store"]);
    // Enums are names in the query even when the JSON writes numbers.
    let doc = document_with(protogate::configure().enums_as_numbers(true));
    let (_, _, op) = operation(&doc, "DocumentStore_ListDocuments");
    assert_eq!(
        parameter(op, "filter.state")["schema"],
        json!({"type": "string", "enum": ["STATE_UNSPECIFIED", "DRAFT", "PUBLISHED", "RETIRED"]})
    );
}

#[test]
fn request_bodies() {
    let doc = document();
    // `*` without the path-bound fields: `parent.name` goes, `parent` stays.
    let (_, _, op) = operation(&doc, "DocumentStore_CreateDocument");
    let body = &op["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["type"], "object");
    assert!(body["properties"]["title"].is_object());
    assert_eq!(body["properties"]["parent"]["properties"], json!({}));
    assert_eq!(body["required"], json!(["title"]));
    // `*` with nothing bound: the message itself.
    let (_, _, op) = operation(&doc, "DocumentStore_ArchiveDocument");
    let body = &op["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["properties"], json!({}), "`name` is bound by the path");
    // None for a GET.
    let (_, _, op) = operation(&doc, "DocumentStore_GetTitle");
    assert!(op.get("requestBody").is_none());
    // A raw HttpBody field: any content.
    let (_, _, op) = operation(&doc, "DocumentStore_PutFile");
    assert_eq!(op["requestBody"]["content"], json!({"*/*": {}}));
    assert!(text(&op["requestBody"]["description"]).contains("`content_type`"));
    // A client stream: NDJSON (or concatenated JSON) of messages.
    let (_, _, op) = operation(&doc, "DocumentStore_Import");
    let content = &op["requestBody"]["content"];
    for media in ["application/x-ndjson", "application/json"] {
        assert_eq!(
            content[media]["schema"]["$ref"], "#/components/schemas/docs.v1.Document",
            "{media}"
        );
    }
}

#[test]
fn responses() {
    let doc = document();
    let (_, _, op) = operation(&doc, "DocumentStore_ListDocuments");
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/docs.v1.ListDocumentsResponse"
    );
    assert_eq!(
        op["responses"]["default"]["$ref"],
        "#/components/responses/Error"
    );
    let error = &doc["components"]["responses"]["Error"];
    assert_eq!(
        error["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/google.rpc.Status"
    );
    let status = schema(&doc, "google.rpc.Status");
    assert_eq!(
        status["properties"]["details"]["items"]["$ref"],
        "#/components/schemas/google.protobuf.Any"
    );
    assert_eq!(
        schema(&doc, "google.protobuf.Any")["properties"]["@type"]["type"],
        "string"
    );
    // response_body: the field alone.
    let (_, _, op) = operation(&doc, "DocumentStore_GetTitle");
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"type": "string", "description": "The title, always given."})
    );
    // Empty.
    let (_, _, op) = operation(&doc, "DocumentStore_ArchiveDocument");
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    );
    // A raw HttpBody: any content type.
    let (_, _, op) = operation(&doc, "DocumentStore_GetFile");
    assert_eq!(op["responses"]["200"]["content"], json!({"*/*": {}}));
    // A server stream: NDJSON of `{result}|{error}`, and Server-Sent Events.
    for id in ["DocumentStore_Watch", "DocumentStore_Collaborate"] {
        let (_, _, op) = operation(&doc, id);
        let content = &op["responses"]["200"]["content"];
        let line = &content["application/x-ndjson"]["schema"]["oneOf"];
        assert_eq!(
            line[0]["properties"]["result"]["$ref"], "#/components/schemas/docs.v1.Document",
            "{id}"
        );
        assert_eq!(line[0]["required"], json!(["result"]));
        assert_eq!(
            line[1]["properties"]["error"]["$ref"],
            "#/components/schemas/google.rpc.Status"
        );
        assert_eq!(content["text/event-stream"]["schema"]["type"], "string");
        assert!(text(&op["description"]).contains("WebSocket"), "{id}");
    }
    let (_, _, op) = operation(&doc, "DocumentStore_Import");
    assert!(op["responses"]["200"]["content"]["application/json"].is_object());
    // Bare stream messages: the message itself, or the final error.
    let doc = document_with(protogate::configure().bare_stream_messages(true));
    let (_, _, op) = operation(&doc, "DocumentStore_Watch");
    let line = &op["responses"]["200"]["content"]["application/x-ndjson"]["schema"]["anyOf"];
    assert_eq!(line[0]["$ref"], "#/components/schemas/docs.v1.Document");
    assert_eq!(line[1]["required"], json!(["error"]));
}

#[test]
fn schemas_follow_the_proto3_json_mapping() {
    let doc = document();
    let document = schema(&doc, "docs.v1.Document");
    assert_eq!(document["type"], "object");
    assert_eq!(document["additionalProperties"], false);
    let p = |name: &str| {
        let v = &document["properties"][name];
        assert!(v.is_object(), "no property {name}");
        v.clone()
    };
    let int32 = json!({"type": "integer", "format": "int32",
        "minimum": -2147483648_i64, "maximum": 2147483647});
    assert_eq!(p("i32"), int32);
    assert_eq!(p("s32"), int32);
    let uint32 = json!({"type": "integer", "format": "uint32",
        "minimum": 0, "maximum": 4294967295_i64});
    assert_eq!(p("u32"), uint32);
    assert_eq!(p("f32"), uint32);
    assert_eq!(
        p("i64"),
        json!({"type": "string", "format": "int64", "pattern": "^-?(0|[1-9][0-9]*)$"})
    );
    let uint64 = json!({"type": "string", "format": "uint64", "pattern": "^(0|[1-9][0-9]*)$"});
    assert_eq!(p("u64"), uint64);
    assert_eq!(p("f64"), uint64);
    assert_eq!(
        p("dbl"),
        json!({"type": ["number", "string"], "format": "double", "pattern": "^(NaN|-?Infinity)$"})
    );
    assert_eq!(p("flt")["format"], "float");
    // f32::MAX exactly (serde_json reads it back a little off, so check the text).
    assert!(
        document_text(&protogate::configure(), &fixture_input("openapi.proto"))
            .contains("\"maximum\": 3.4028234663852886e38,")
    );
    assert!(p("flt")["minimum"].is_number());
    assert_eq!(p("flag"), json!({"type": "boolean"}));
    assert_eq!(p("blob"), json!({"type": "string", "format": "byte"}));
    assert_eq!(
        p("state"),
        json!({"$ref": "#/components/schemas/docs.v1.State"})
    );
    assert_eq!(p("nickname"), json!({"type": "string"}));
    assert_eq!(
        p("tags"),
        json!({"type": "array", "items": {"type": "string"}})
    );
    assert_eq!(
        p("counts"),
        json!({"type": "object", "additionalProperties":
            {"type": "string", "format": "int64", "pattern": "^-?(0|[1-9][0-9]*)$"}})
    );
    assert_eq!(
        p("byNumber"),
        json!({"type": "object",
            "additionalProperties": {"$ref": "#/components/schemas/docs.v1.Document"},
            "propertyNames": {"pattern": "^-?(0|[1-9][0-9]*)$"}})
    );
    // The JSON name, `json_name` included.
    assert_eq!(p("CUSTOM_name"), json!({"type": "string"}));
    // Well-known types; an unset message field is `null`.
    assert_eq!(
        p("created"),
        json!({"type": ["string", "null"], "format": "date-time"})
    );
    assert_eq!(
        p("ttl"),
        json!({"type": ["string", "null"], "pattern": r"^-?[0-9]{1,11}(\.[0-9]{1,9})?s$"})
    );
    assert_eq!(p("mask")["type"], json!(["string", "null"]));
    assert!(text(&p("mask")["pattern"]).starts_with("^([A-Za-z][A-Za-z0-9]*"));
    assert_eq!(p("meta"), json!({"type": ["object", "null"]}));
    assert_eq!(p("anything"), json!({}));
    assert_eq!(p("list"), json!({"type": ["array", "null"]}));
    assert_eq!(p("nullValue"), json!({"type": "null"}));
    assert_eq!(
        p("extra"),
        json!({"oneOf": [{"$ref": "#/components/schemas/google.protobuf.Any"}, {"type": "null"}]})
    );
    // Wrappers: the primitive, nullable.
    assert_eq!(p("wInt32")["type"], json!(["integer", "null"]));
    assert_eq!(p("wUint32")["format"], "uint32");
    assert_eq!(p("wInt64")["type"], json!(["string", "null"]));
    assert_eq!(p("wUint64")["format"], "uint64");
    assert_eq!(p("wDouble")["type"], json!(["number", "string", "null"]));
    assert_eq!(p("wFloat")["format"], "float");
    assert_eq!(p("wBool"), json!({"type": ["boolean", "null"]}));
    assert_eq!(p("wString"), json!({"type": ["string", "null"]}));
    assert_eq!(
        p("wBytes"),
        json!({"type": ["string", "null"], "format": "byte"})
    );
    // Recursion through `$ref`.
    assert_eq!(
        p("related")["items"]["$ref"],
        "#/components/schemas/docs.v1.Document"
    );
    assert_eq!(
        p("parentDocument")["oneOf"][0]["$ref"],
        "#/components/schemas/docs.v1.Document"
    );
    // Nested types are components of their own.
    assert_eq!(
        p("revision")["oneOf"][0]["$ref"],
        "#/components/schemas/docs.v1.Document.Revision"
    );
    // A oneof: at most one member, described.
    assert_eq!(
        document["not"],
        json!({"anyOf": [
            {"required": ["person", "store"]},
            {"required": ["person", "shelf"]},
            {"required": ["store", "shelf"]},
        ]})
    );
    assert_eq!(p("store")["$ref"], "#/components/schemas/docs.v1.Store");
    assert!(text(&p("shelf")["description"]).contains("oneof `holder`"));
    assert!(
        text(&document["description"]).contains(
            "Oneof `holder`: at most one of `person`, `store`, `shelf` is set. Who has it."
        )
    );
    // Enums: their names.
    let state = schema(&doc, "docs.v1.State");
    assert_eq!(
        state["enum"],
        json!(["STATE_UNSPECIFIED", "DRAFT", "PUBLISHED", "RETIRED"])
    );
    assert_eq!(state["type"], "string");
}

#[test]
fn comments_field_behavior_and_deprecation() {
    let doc = document();
    // Methods: the first paragraph is the summary, the rest (and the trailing comment) the
    // description.
    let (_, _, op) = operation(&doc, "DocumentStore_GetDocument");
    assert_eq!(op["summary"], "Gets a document.");
    let description = text(&op["description"]);
    assert!(
        description.starts_with(
            "By its resource name, slashes included.\n\nTrailing words on the method.\n\n\
             `GET /v1/{name=stores/*/documents/*}` calls `/docs.v1.DocumentStore/GetDocument`."
        ),
        "{description}"
    );
    // Messages, fields, enums and their values.
    let document = schema(&doc, "docs.v1.Document");
    assert!(text(&document["description"]).starts_with("A document and everything about it."));
    let name = &document["properties"]["name"];
    assert_eq!(name["description"], "Resource name. Set by the server.");
    let state = schema(&doc, "docs.v1.State");
    assert_eq!(
        state["description"],
        "The way a document is kept.\n\n- `STATE_UNSPECIFIED` (0): Not set.\n- `DRAFT` (1): \
         Being written.\n- `PUBLISHED` (2): Out in the world.\n- `RETIRED` (3): Deprecated."
    );
    // field_behavior.
    assert_eq!(name["readOnly"], true);
    assert_eq!(document["required"], json!(["title"]));
    assert_eq!(document["properties"]["secret"]["writeOnly"], true);
    // deprecated: fields, methods, and every method of a deprecated service.
    assert_eq!(document["properties"]["oldCount"]["deprecated"], true);
    assert!(document["properties"]["i32"].get("deprecated").is_none());
    assert_eq!(
        operation(&doc, "DocumentStore_ArchiveDocument").2["deprecated"],
        true
    );
    assert!(
        operation(&doc, "DocumentStore_GetTitle")
            .2
            .get("deprecated")
            .is_none()
    );
    assert_eq!(operation(&doc, "OldStore_Ping").2["deprecated"], true);
}

#[test]
fn json_options_shape_the_document() {
    // Proto field names, in properties and parameters.
    let doc = document_with(
        protogate::configure()
            .proto_field_names(true)
            .openapi_whole_captures(true),
    );
    let document = schema(&doc, "docs.v1.Document");
    assert!(document["properties"]["old_count"].is_object());
    assert!(document["properties"]["custom"].is_object());
    let (path, _, op) = operation(&doc, "DocumentStore_ListDocuments");
    assert_eq!(path, "/v1/stores/{store_id}/documents");
    assert!(parameter_names(op).contains(&"filter.labels"));
    assert!(parameter_names(op).contains(&"page_size"));
    // Enums as numbers.
    let doc = document_with(protogate::configure().enums_as_numbers(true));
    assert_eq!(schema(&doc, "docs.v1.State")["enum"], json!([0, 1, 2, 3]));
    // Unknown fields dropped: objects are open.
    let doc = document_with(protogate::configure().ignore_unknown_fields(true));
    assert!(
        schema(&doc, "docs.v1.Document")
            .get("additionalProperties")
            .is_none()
    );
}

/// Every schema keyword and value of a document, for checks on the dialect.
fn walk<'a>(value: &'a Value, visit: &mut dyn FnMut(&'a serde_json::Map<String, Value>)) {
    match value {
        Value::Object(map) => {
            visit(map);
            map.values().for_each(|v| walk(v, visit));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

#[test]
fn openapi_3_0_says_the_same_in_its_dialect() {
    let new = document();
    let old =
        document_with(protogate::configure().openapi_version(protogate::OpenapiVersion::V3_0));
    assert_eq!(old["openapi"], "3.0.3");
    // The same paths, operations and components.
    let keys = |doc: &Value, at: &str| -> Vec<String> {
        doc[at].as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&old, "paths"), keys(&new, "paths"));
    assert_eq!(
        old["components"]["schemas"].as_object().unwrap().len(),
        new["components"]["schemas"].as_object().unwrap().len()
    );
    let (_, _, op) = operation(&old, "DocumentStore_ListDocuments");
    assert_eq!(parameter_names(op)[0], "store");
    // 3.0's dialect: one type per schema, `nullable` instead of a `null` type, nothing beside a
    // `$ref`, no `propertyNames`, and `items` on every array.
    let mut nullable = 0;
    walk(&old, &mut |map| {
        if let Some(t) = map.get("type") {
            if t.is_string() || t.is_array() {
                assert!(t.is_string() && t != "null", "{map:?}");
            }
        }
        if map.contains_key("$ref") {
            assert_eq!(map.len(), 1, "{map:?}");
        }
        assert!(!map.contains_key("propertyNames"), "{map:?}");
        if map.get("type") == Some(&json!("array")) {
            assert!(map.contains_key("items"), "{map:?}");
        }
        if map.get("nullable") == Some(&json!(true)) {
            nullable += 1;
        }
    });
    assert!(nullable > 0);
    // A message field: the reference in `allOf`, `nullable`, its description beside them.
    let document = schema(&old, "docs.v1.Document");
    let parent = &document["properties"]["parent"];
    assert_eq!(
        parent["allOf"],
        json!([{"$ref": "#/components/schemas/docs.v1.Store"}])
    );
    assert_eq!(parent["nullable"], true);
    // A double: a number or the strings `NaN` and `Infinity`.
    let dbl = &document["properties"]["dbl"];
    assert_eq!(dbl["anyOf"][0]["type"], "number");
    assert_eq!(dbl["anyOf"][0]["format"], "double");
    assert_eq!(dbl["anyOf"][1]["type"], "string");
    assert!(dbl["anyOf"][1]["pattern"].is_string());
    assert!(dbl.get("pattern").is_none());
}

#[test]
fn the_document_path_stays_out_of_the_api_routes() {
    let input = fixture_input("catch_all.proto");
    let crate_layout = Layout::Crate {
        name: "catch-all".into(),
    };
    // The default path is a route of the API: not served, with a note.
    let generated = protogate::configure()
        .generate(&input, &crate_layout)
        .unwrap();
    assert!(
        generated.files["src/lib.rs"].contains("openapi_path: None,"),
        "{}",
        generated.files["src/lib.rs"]
    );
    let note = generated
        .notes
        .iter()
        .find(|n| n.contains("OpenAPI"))
        .unwrap_or_else(|| panic!("{:?}", generated.notes));
    assert!(
        note.contains("`/openapi.json` is the route `GET /{name}` of catchall.v1.Pages.GetPage"),
        "{note}"
    );
    // A chosen path elsewhere is served.
    let generated = protogate::configure()
        .openapi_path("/api/openapi.json")
        .generate(&input, &crate_layout)
        .unwrap();
    assert!(
        generated.files["src/lib.rs"]
            .contains(r#"openapi_path: Some("/api/openapi.json".to_string()),"#)
    );
    // A chosen path the API routes is an error.
    let error = protogate::configure()
        .openapi_path("/docs")
        .generate(&input, &crate_layout)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`/docs` is the route `GET /{name}`"),
        "{error}"
    );
    assert!(error.contains("help: "), "{error}");
    // Not a path at all.
    let error = protogate::configure()
        .openapi_path("openapi.json")
        .generate(&input, &crate_layout)
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not start with `/`"), "{error}");
    // Turned off.
    let generated = protogate::configure()
        .serve_openapi(false)
        .generate(&example_input(), &Layout::Crate { name: "x".into() })
        .unwrap();
    assert!(generated.files["src/lib.rs"].contains("openapi_path: None,"));
    assert!(generated.files.contains_key("openapi.json"));
}

/// An example value for a path parameter, from its pattern.
fn sample(param: &Value) -> String {
    let pattern = param["schema"]["pattern"].as_str().unwrap_or("^[^/]+$");
    pattern
        .trim_start_matches('^')
        .trim_end_matches('$')
        .replace("[^/]+(/[^/]+)*", "a/b")
        .replace("(/[^/]+)*", "/c")
        .replace("[^/]+", "x")
        .replace('\\', "")
}

/// The document and the router agree on the example API: every binding is one operation, and
/// each operation's path, filled in, is matched by its binding's template.
#[test]
fn the_example_document_agrees_with_the_router() {
    let root = workspace();
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let loaded = protogate::load::compile(&protos, &[root.join(INCLUDE)]).unwrap();
    let api = protogate::model::build(&loaded, &Default::default()).unwrap();
    let committed = std::fs::read_to_string(root.join("generated-example/openapi.json")).unwrap();
    assert_agrees(&serde_json::from_str(&committed).unwrap(), &api);
    // Whole captures describe the same routes.
    let whole = protogate::configure()
        .openapi_whole_captures(true)
        .openapi(&example_input(), None)
        .unwrap();
    assert_agrees(&serde_json::from_str(&whole).unwrap(), &api);
}

fn assert_agrees(doc: &Value, api: &protogate::model::Api) {
    let bindings: Vec<_> = api.services.iter().flat_map(|s| &s.bindings).collect();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let mut ops: Vec<(String, &Value)> = Vec::new();
        for (method, op) in item.as_object().unwrap() {
            if method == "x-additionalOperations" {
                ops.extend(op.as_object().unwrap().iter().map(|(m, o)| (m.clone(), o)));
            } else if method != "description" {
                ops.push((method.to_ascii_uppercase(), op));
            }
        }
        for (method, op) in ops {
            operations += 1;
            let mut concrete = path.clone();
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = text(&p["name"]);
                    concrete = concrete.replace(&format!("{{{name}}}"), &sample(p));
                }
            }
            assert!(!concrete.contains('{'), "{concrete}");
            let description = text(&op["description"]);
            let binding = bindings
                .iter()
                .find(|b| {
                    description.contains(&format!(
                        "`{} {}` calls `{}`",
                        b.http_method, b.template, b.grpc_path
                    ))
                })
                .unwrap_or_else(|| panic!("no binding for {method} {path}"));
            assert_eq!(binding.http_method, method);
            let matching = protogate::openapi::matching_bindings(api, Some(&method), &concrete);
            assert!(
                matching.iter().any(|b| b.ident == binding.ident),
                "{method} {concrete} does not reach {}",
                binding.template
            );
        }
    }
    assert_eq!(operations, bindings.len());
}

fn protogate_openapi(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_protogate"))
        .current_dir(workspace())
        .arg("openapi")
        .args(PROTOS.iter().flat_map(|p| ["--proto", p]))
        .args(["-I", INCLUDE])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_openapi_command_writes_the_crate_document() {
    let committed =
        std::fs::read_to_string(workspace().join("generated-example/openapi.json")).unwrap();
    // To standard output.
    let output = protogate_openapi(&["--title", "protogate-example"]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(": warning: library.v1.LibraryService.ListBooks: OpenAPI cannot name"),
        "{stderr}"
    );
    assert!(
        String::from_utf8(output.stdout).unwrap() == committed,
        "`protogate openapi` differs from generated-example/openapi.json (regenerate it)"
    );
    // To a file, and checked against it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    let file_arg = file.to_str().unwrap();
    let output = protogate_openapi(&["--title", "protogate-example", "--out", file_arg]);
    assert!(output.status.success(), "{output:?}");
    assert!(std::fs::read_to_string(&file).unwrap() == committed);
    let output = protogate_openapi(&["--title", "protogate-example", "--out", file_arg, "--check"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // A different title is a difference: exit 1, a diff, and the command that fixes it.
    let output = protogate_openapi(&["--out", file_arg, "--check"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let diff = String::from_utf8(output.stdout).unwrap();
    assert!(
        diff.contains("-    \"title\": \"protogate-example\","),
        "{diff}"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("help: regenerate it with:"), "{stderr}");
    // Whole captures on request; the old flag for spelled-out ones is still accepted.
    let output = protogate_openapi(&["--title", "protogate-example", "--whole-captures"]);
    assert!(output.status.success(), "{output:?}");
    let whole = String::from_utf8(output.stdout).unwrap();
    assert!(whole.contains("\"/v1/{name}\": {"), "{whole}");
    let output = protogate_openapi(&["--title", "protogate-example", "--expand-captures"]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8(output.stdout).unwrap() == committed);
    // OpenAPI 3.0.3 on request.
    let output = protogate_openapi(&["--openapi-version", "3.0"]);
    assert!(output.status.success(), "{output:?}");
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let output = protogate_openapi(&["--openapi-version", "2.0"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    // Bad input: exit 2.
    let output = Command::new(env!("CARGO_BIN_EXE_protogate"))
        .args(["openapi", "--proto", "missing.proto"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
