#![allow(clippy::unwrap_used)]
//! Real APIs nobody here wrote, vendored in `tests/fixtures/realworld/` (see its README): the
//! shapes they use that the project's own protos did not, each generating as its peers serve it.
//! That the generated crates also compile without a warning is checked in `standalone.rs`.

use std::path::{Path, PathBuf};

use protogate::{Error, Generated, Input, Layout};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realworld")
}

fn googleapis() -> PathBuf {
    fixtures().join("googleapis")
}

fn grpc_gateway() -> PathBuf {
    fixtures().join("grpc-gateway")
}

fn generate(
    builder: protogate::Builder,
    protos: &[&str],
    include: &Path,
) -> Result<Generated, Error> {
    let protos: Vec<PathBuf> = protos.iter().map(PathBuf::from).collect();
    builder.generate(
        &Input::protos(&protos, &[include]),
        &Layout::Crate {
            name: "real-api".into(),
        },
    )
}

fn routes(generated: &Generated) -> &str {
    &generated.files["src/routes.rs"]
}

/// The REST route table: `routes.rs` without the table of gRPC methods, which the RPC
/// protocols serve whatever their HTTP rules.
fn rest_routes(generated: &Generated) -> String {
    let text = routes(generated);
    let start = text.find("const GRPC: &[").expect("the gRPC method table");
    let end = start + text[start..].find("\n];\n").expect("its end");
    format!("{}{}", &text[..start], &text[end..])
}

/// Cloud Tasks imports `google.type` (through IAM): a package segment that is a Rust keyword is
/// the module `r#type`, as prost names it (this used to panic in the generator).
#[test]
fn packages_named_after_rust_keywords() {
    let generated = generate(
        protogate::configure(),
        &["google/cloud/tasks/v2/cloudtasks.proto"],
        &googleapis(),
    )
    .unwrap();
    assert!(routes(&generated).contains("/v2/{name=projects/*/locations/*/queues/*}"));
    assert!(generated.files["src/proto.rs"].contains("pub mod r#type {"));
}

/// A descriptor set made for a googleapis file serves it (its `google/` files used to be taken
/// for imports), but not the `google/` files it merely imports.
#[test]
fn a_descriptor_set_serves_the_google_file_it_was_made_for() {
    let mut compiler = protox::Compiler::new([
        googleapis(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("proto"),
    ])
    .unwrap();
    compiler.include_imports(true).include_source_info(true);
    compiler
        .open_files(["google/cloud/tasks/v2/cloudtasks.proto"])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("tasks.binpb");
    std::fs::write(&set, compiler.encode_file_descriptor_set()).unwrap();
    let generated = protogate::configure()
        .generate(
            &Input::DescriptorSet(set),
            &Layout::Crate {
                name: "tasks".into(),
            },
        )
        .unwrap();
    let routes = routes(&generated);
    assert!(routes.contains("google.cloud.tasks.v2.CloudTasks"));
    // IAM is imported: its service is not served.
    assert!(!routes.contains("google.iam.v1.IAMPolicy"), "{routes}");
}

/// `/v1/{name=projects/*/locations/*/schemaRegistries/*/contexts/*/schemas/**}/schema` and its
/// kind: literals after `**`, routed as Envoy and grpc-gateway route them.
#[test]
fn literals_after_a_double_star_capture() {
    let generated = generate(
        protogate::configure(),
        &["google/cloud/managedkafka/schemaregistry/v1/schema_registry.proto"],
        &googleapis(),
    )
    .unwrap();
    let routes = routes(&generated);
    assert!(routes.contains("schemas/**}/schema"), "{routes}");
    assert!(routes.contains("p.all().len() - 1"), "{routes}");
}

/// grpc-gateway's wrappers (an RPC taking and returning `google.protobuf.StringValue`),
/// echo_service (`{no.note}` inside a oneof member) and flow_combination (a client stream with
/// no `body`) generate whole.
#[test]
fn grpc_gateway_examples_generate() {
    let generated = generate(
        protogate::configure(),
        &[
            "examples/internal/proto/examplepb/wrappers.proto",
            "examples/internal/proto/examplepb/echo_service.proto",
            "examples/internal/proto/examplepb/flow_combination.proto",
        ],
        &grpc_gateway(),
    )
    .unwrap();
    let routes = routes(&generated);
    for template in [
        "/v1/testString",
        "/v1/example/echo/{id}/{num}/{lang}",
        "/stream/empty/rpc",
    ] {
        assert!(routes.contains(template), "{template}:\n{routes}");
    }
    assert!(
        generated.notes.iter().all(|n| !n.contains("skipped")),
        "{:?}",
        generated.notes
    );
}

/// a_bit_of_everything has three methods whose rules break the spec (a template with two
/// verbs, a nested body field, path variables on repeated fields). By default they fail the
/// run, all three named; `skip_invalid_methods` leaves them out with a note each and generates
/// the rest; `exclude_methods` leaves out methods by name without a word of error.
#[test]
fn invalid_methods_fail_unless_skipped_or_excluded() {
    const ABE: &str = "examples/internal/proto/examplepb/a_bit_of_everything.proto";
    const SERVICE: &str = "grpc.gateway.examples.internal.proto.examplepb.ABitOfEverythingService";
    let invalid = ["DoubleColon", "CreateNestedBodyOneof", "GetRepeatedQuery"];

    let Err(Error::Invalid(diagnostics)) =
        generate(protogate::configure(), &[ABE], &grpc_gateway())
    else {
        panic!("the invalid rules must fail the run by default");
    };
    let mut named: Vec<&str> = diagnostics
        .iter()
        .filter_map(|d| d.rpc.as_deref())
        .collect();
    named.sort();
    let mut expected: Vec<String> = invalid.iter().map(|m| format!("{SERVICE}.{m}")).collect();
    expected.sort();
    assert_eq!(named, expected, "{diagnostics:?}");
    assert!(
        diagnostics.iter().all(|d| d.location.is_some()),
        "{diagnostics:?}"
    );

    let generated = generate(
        protogate::configure().skip_invalid_methods(true),
        &[ABE],
        &grpc_gateway(),
    )
    .unwrap();
    for method in invalid {
        let note = generated
            .notes
            .iter()
            .find(|n| n.starts_with(&format!("{SERVICE}.{method} is skipped")))
            .unwrap_or_else(|| panic!("no note for {method}: {:?}", generated.notes));
        assert!(
            note.contains("a_bit_of_everything.proto:"),
            "the note locates it: {note}"
        );
    }
    let served = routes(&generated);
    assert!(
        served.contains("/v1/example/a_bit_of_everything/{uuid}"),
        "{served}"
    );
    assert!(!served.contains("custom:custom"), "{served}");

    let excluded = generate(
        protogate::configure().exclude_methods(invalid.iter().map(|m| format!("{SERVICE}.{m}"))),
        &[ABE],
        &grpc_gateway(),
    )
    .unwrap();
    assert_eq!(
        rest_routes(&excluded),
        rest_routes(&generated),
        "excluding the three is skipping them, for REST"
    );
    // Skipped for REST, they are still served to the RPC protocols; excluded, they are not.
    for method in invalid {
        let path = format!("grpc_method: \"/{SERVICE}/{method}\"");
        assert!(served.contains(&path), "{method}");
        assert!(!routes(&excluded).contains(&path), "{method}");
    }
    assert!(
        excluded
            .notes
            .iter()
            .filter(|n| n.contains("is excluded"))
            .count()
            == 3,
        "{:?}",
        excluded.notes
    );
}

/// An exclude pattern names a method, a whole service, or a prefix ending in `*`; a service
/// name does not reach into another service whose name it begins.
#[test]
fn exclude_patterns() {
    const FILES: [&str; 2] = [
        "examples/internal/proto/examplepb/echo_service.proto",
        "examples/internal/proto/examplepb/wrappers.proto",
    ];
    const PKG: &str = "grpc.gateway.examples.internal.proto.examplepb";
    let served = |exclude: &[String]| -> Vec<String> {
        let generated = generate(
            protogate::configure().exclude_methods(exclude.iter().cloned()),
            &FILES,
            &grpc_gateway(),
        )
        .unwrap();
        let mut notes: Vec<String> = generated
            .notes
            .iter()
            .filter(|n| n.contains("is excluded"))
            .map(|n| n.split(' ').next().unwrap().to_string())
            .collect();
        notes.sort();
        notes
    };
    assert_eq!(
        served(&[format!("{PKG}.EchoService.Echo")]),
        [format!("{PKG}.EchoService.Echo")]
    );
    let service = served(&[format!("{PKG}.WrappersService")]);
    assert_eq!(service.len(), 11, "{service:?}");
    assert!(
        service
            .iter()
            .all(|m| m.starts_with(&format!("{PKG}.WrappersService.")))
    );
    let prefix = served(&[format!("{PKG}.EchoService.EchoP*")]);
    assert_eq!(prefix, [format!("{PKG}.EchoService.EchoPatch")]);
    // `pkg.Echo` is neither a method nor a service: it excludes nothing.
    assert!(served(&[format!("{PKG}.Echo")]).is_empty());
}
