#![allow(clippy::unwrap_used)]
//! Generator errors, one bad proto per rejection (`tests/fixtures/errors/*.proto`).
//!
//! Each test pins the whole first line of the diagnostic — `file:line:col: error: rpc: message` —
//! and requires a `help:` line. Locations were checked by hand against the fixtures: rule-level
//! errors point at the `option (google.api.http)` statement (protox records no positions inside
//! the option's message literal), template syntax errors point at the offending character inside
//! the quoted template.

use std::path::{Path, PathBuf};

use protogate::{Diagnostic, Error, Generated, Input, Layout};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/errors")
}

fn generate(builder: protogate::Builder, fixture: &str) -> Result<Generated, Error> {
    let dir = fixtures();
    builder.generate(
        &Input::protos(&[dir.join(fixture)], &[&dir]),
        &Layout::Module,
    )
}

/// The diagnostics generating `fixture` fails with; panics if it succeeds.
fn diagnostics(fixture: &str) -> Vec<Diagnostic> {
    match generate(protogate::configure(), fixture) {
        Ok(generated) => panic!(
            "{fixture}: expected a generation error, but it succeeded (notes: {:?})",
            generated.notes
        ),
        Err(Error::Invalid(diagnostics)) => diagnostics,
        Err(other) => panic!("{fixture}: expected Error::Invalid, got {other:?}: {other}"),
    }
}

/// The first line of a diagnostic's display, and asserts the second is a non-empty help line.
fn headline(d: &Diagnostic) -> String {
    let text = d.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().to_string();
    let help = lines.next();
    assert!(
        help.is_some_and(|h| h.starts_with("  help: ") && h.len() > "  help: ".len()),
        "diagnostic has no help line:\n{text}"
    );
    assert!(
        d.help.as_deref().is_some_and(|h| !h.trim().is_empty()),
        "{text}"
    );
    first
}

/// Generating `fixture` fails with exactly one diagnostic whose first line is `expected`.
fn check(fixture: &str, expected: &str) {
    let diagnostics = diagnostics(fixture);
    let all: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        diagnostics.len(),
        1,
        "{fixture}: expected one diagnostic, got:\n{}",
        all.join("\n")
    );
    assert_eq!(
        headline(&diagnostics[0]),
        expected,
        "{fixture}: full diagnostic:\n{}",
        all[0]
    );
}

#[test]
fn bad_template_syntax_points_into_the_template() {
    // Line 11 is `      get: "/v1/shelves//books"`: the opening quote is column 12, the
    // template starts at column 13, and the second "/" of "//" (offset 12) is column 25.
    check(
        "bad_template.proto",
        "bad_template.proto:11:25: error: errors.v1.Shelves.GetBook: \
         invalid path template `/v1/shelves//books`: empty segment (\"//\")",
    );
}

#[test]
fn unknown_field_in_variable() {
    check(
        "unknown_field.proto",
        "unknown_field.proto:10:5: error: errors.v1.Shelves.GetBook: \
         path variable `{book_id}` in `/v1/books/{book_id}`: errors.v1.GetBookRequest has no field `book_id`",
    );
}

/// The help of an unknown path-variable field lists the fields there are (or the near one),
/// not the kinds of field a variable may bind.
#[test]
fn unknown_field_help_names_the_fields() {
    let diagnostics = diagnostics("unknown_field.proto");
    let help = diagnostics[0].help.as_deref().unwrap_or_default();
    assert_eq!(help, "name a field of errors.v1.GetBookRequest: `name`");
}

/// A missing import's help names the import, not the file that imports it.
#[test]
fn missing_import_help_names_the_import() {
    let diagnostics = diagnostics("missing_import.proto");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let text = diagnostics[0].to_string();
    assert!(
        text.starts_with("missing_import.proto:7:1: error:"),
        "{text}"
    );
    assert!(
        text.contains(
            "help: `errors/v1/not_there.proto` must lie inside one of the include directories"
        ),
        "{text}"
    );
}

#[test]
fn variable_on_repeated_field() {
    check(
        "repeated_var.proto",
        "repeated_var.proto:10:5: error: errors.v1.Shelves.ListBooks: \
         path variable `{tags}` in `/v1/books/{tags}`: `tags` is a repeated or map field",
    );
}

#[test]
fn variable_on_map_field() {
    check(
        "map_var.proto",
        "map_var.proto:10:5: error: errors.v1.Shelves.ListBooks: \
         path variable `{labels}` in `/v1/books/{labels}`: `labels` is a repeated or map field",
    );
}

#[test]
fn variable_inside_a_well_known_type() {
    check(
        "wkt_var.proto",
        "wkt_var.proto:11:5: error: errors.v1.Shelves.GetBook: \
         path variable `{when.seconds}` in `/v1/books/{when.seconds}`: `when` is a \
         google.protobuf.Timestamp (a well-known type with its own JSON form) and cannot be \
         descended into",
    );
}

#[test]
fn variable_on_message_field() {
    check(
        "message_var.proto",
        "message_var.proto:10:5: error: errors.v1.Shelves.GetBook: \
         path variable `{book}` in `/v1/books/{book}`: `book` is a message field",
    );
}

#[test]
fn get_with_body() {
    check(
        "get_with_body.proto",
        "get_with_body.proto:10:5: error: errors.v1.Shelves.GetBook: GET with a body (`body: \"*\"`)",
    );
}

#[test]
fn delete_with_body() {
    check(
        "delete_with_body.proto",
        "delete_with_body.proto:10:5: error: errors.v1.Shelves.DeleteBook: DELETE with a body (`body: \"*\"`)",
    );
}

#[test]
fn nested_additional_bindings() {
    check(
        "nested_bindings.proto",
        "nested_bindings.proto:10:5: error: errors.v1.Shelves.GetBook: \
         additional_bindings may not nest additional_bindings",
    );
}

#[test]
fn body_names_a_missing_field() {
    check(
        "missing_body_field.proto",
        "missing_body_field.proto:10:5: error: errors.v1.Shelves.CreateBook: \
         body field `volume` does not exist in errors.v1.CreateBookRequest",
    );
}

#[test]
fn response_body_names_a_missing_field() {
    check(
        "missing_response_body_field.proto",
        "missing_response_body_field.proto:10:5: error: errors.v1.Shelves.GetBook: \
         response_body field `title` does not exist in errors.v1.Book",
    );
}

#[test]
fn custom_method_with_invalid_token() {
    check(
        "invalid_custom.proto",
        "invalid_custom.proto:10:5: error: errors.v1.Shelves.SearchBooks: \
         `SEARCH BOOKS` is not a valid HTTP method name",
    );
}

/// A route conflict is reported once, at the rule of the RPC it is attributed to, and names both
/// RPCs and both templates. `rules` maps each RPC to its `option` line.
fn check_conflict(fixture: &str, kind: &str, rules: [(&str, &str, u32); 2]) {
    let diagnostics = diagnostics(fixture);
    let all: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        diagnostics.len(),
        1,
        "{fixture}: expected one diagnostic, got:\n{}",
        all.join("\n")
    );
    let d = &diagnostics[0];
    let first = headline(d);
    assert!(first.contains("error: errors.v1.Shelves."), "{first}");
    assert!(d.message.starts_with(&format!("{kind}: ")), "{first}");
    for (rpc, template, _) in rules {
        assert!(
            d.message
                .contains(&format!("`GET {template}` (errors.v1.Shelves.{rpc})")),
            "{fixture}: the message must name {rpc} with its template: {first}"
        );
    }
    let rpc = d.rpc.clone().unwrap_or_default();
    let Some((_, _, line)) = rules
        .iter()
        .find(|(name, _, _)| rpc == format!("errors.v1.Shelves.{name}"))
    else {
        panic!("{fixture}: the diagnostic belongs to neither RPC: {first}");
    };
    assert!(
        first.starts_with(&format!("{fixture}:{line}:5: error: {rpc}: ")),
        "{fixture}: the diagnostic must point at the rule of {rpc} ({fixture}:{line}:5): {first}"
    );
}

#[test]
fn duplicate_route_names_both_rpcs() {
    check_conflict(
        "duplicate_route.proto",
        "duplicate route",
        [
            ("GetBook", "/v1/books/{name}", 10),
            ("FetchBook", "/v1/books/{name}", 15),
        ],
    );
}

#[test]
fn ambiguous_routes_name_both_rpcs() {
    check_conflict(
        "ambiguous_routes.proto",
        "ambiguous routes",
        [("GetA", "/v1/{a}/x", 10), ("GetB", "/v1/{b}/x", 15)],
    );
}

#[test]
fn proto_syntax_error_has_a_location_and_help() {
    // Line 7 is `  string name = ;`: the `;` is column 17.
    check(
        "syntax_error.proto",
        "syntax_error.proto:7:17: error: expected an integer, but found ';'",
    );
}

#[test]
fn proto_outside_every_include_directory() {
    let outside = tempfile::tempdir().unwrap();
    let proto = outside.path().join("unannotated.proto");
    std::fs::copy(fixtures().join("unannotated.proto"), &proto).unwrap();
    let include = fixtures();
    let result =
        protogate::configure().generate(&Input::protos(&[&proto], &[&include]), &Layout::Module);
    let diagnostics = match result {
        Err(Error::Invalid(d)) => d,
        Err(other) => panic!("expected Error::Invalid, got {other:?}"),
        Ok(_) => panic!("a proto outside every -I directory was accepted"),
    };
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    let first = headline(d);
    // Nothing in a proto to point at: the message names the file, the help the directories.
    assert!(d.location.is_none(), "{d}");
    assert!(first.starts_with("error: "), "{first}");
    assert!(
        first.contains(&proto.display().to_string()),
        "the message must name the file: {first}"
    );
    assert!(first.contains("not in any include path"), "{first}");
    let help = d.help.clone().unwrap_or_default();
    assert!(
        help.contains(&include.display().to_string()),
        "the help must list the -I directories: {help}"
    );
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let diagnostics = diagnostics("several.proto");
    let lines: Vec<String> = diagnostics.iter().map(headline).collect();
    assert_eq!(
        lines,
        [
            "several.proto:10:5: error: errors.v1.Shelves.GetBook: GET with a body (`body: \"*\"`)",
            "several.proto:16:5: error: errors.v1.Shelves.ListBooks: \
             path variable `{tags}` in `/v1/books/{tags}/list`: `tags` is a repeated or map field",
            "several.proto:21:5: error: errors.v1.Shelves.CreateBook: \
             body field `missing` does not exist in errors.v1.Request",
        ]
    );
    // The error's Display is every diagnostic, each with its help line, in source order.
    let text = Error::Invalid(diagnostics).to_string();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("  help: ")).count(),
        3,
        "{text}"
    );
}

#[test]
fn method_without_rule_is_skipped_with_a_note() {
    let generated = generate(protogate::configure(), "unannotated.proto").unwrap();
    assert_eq!(generated.files.len(), 1);
    let file = &generated.files["protogate.rs"];
    assert!(
        file.contains("/v1/books/{name}"),
        "the annotated method is served"
    );
    assert!(
        !file.contains("fn shelves_ping"),
        "the unannotated method must not be routed as REST"
    );
    assert!(
        file.contains("grpc_method: \"/errors.v1.Shelves/Ping\""),
        "the unannotated method is served to the RPC protocols"
    );
    assert_eq!(generated.notes.len(), 1, "{:?}", generated.notes);
    let note = &generated.notes[0];
    assert!(note.starts_with("errors.v1.Shelves.Ping "), "{note}");
    assert!(note.contains("no google.api.http rule"), "{note}");
}

#[test]
fn route_unannotated_methods_serves_them() {
    let dir = fixtures();
    let generated = protogate::configure()
        .route_unannotated_methods(true)
        .generate(
            &Input::protos(&[dir.join("unannotated.proto")], &[&dir]),
            &Layout::Crate {
                name: "unannotated".into(),
            },
        )
        .unwrap();
    assert!(generated.notes.is_empty(), "{:?}", generated.notes);
    let routes = &generated.files["src/routes.rs"];
    assert!(
        routes.contains("/errors.v1.Shelves/Ping"),
        "routes.rs:\n{routes}"
    );
    assert!(
        routes.contains("POST /errors.v1.Shelves/Ping"),
        "routes.rs:\n{routes}"
    );
    assert!(routes.contains("/v1/books/{name}"), "routes.rs:\n{routes}");
}

/// DESIGN §1.4 lists "client streaming with path variables" among the model's validations.
#[test]
fn client_streaming_with_path_variables_is_rejected() {
    check(
        "client_streaming_vars.proto",
        "client_streaming_vars.proto:10:5: error: errors.v1.Shelves.UploadBooks: \
         client-streaming RPC with path variables in `/v1/shelves/{name}/books`",
    );
}

/// A client stream's messages come in the body (with or without `body: "*"`), which a GET
/// request does not have.
#[test]
fn client_streaming_on_get_is_rejected() {
    check(
        "client_streaming_get.proto",
        "client_streaming_get.proto:10:5: error: errors.v1.Shelves.UploadBooks: \
         client-streaming RPC bound to GET in `/v1/books:upload`",
    );
}
