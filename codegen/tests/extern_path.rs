#![allow(clippy::unwrap_used)]
//! `Builder::extern_path`: the router reuses message types the including crate already has
//! (as prost-build's and tonic-build's `extern_path`), and bad paths are refused with the fix.
//! `examples/embedded` compiles and serves through it; these tests pin the generated module and
//! the refusals.

mod common;

use common::{INCLUDE, PROTOS, workspace};
use protogate::{Diagnostic, Error, Input, Layout};

fn example() -> Input {
    let root = workspace();
    Input::protos(&PROTOS.map(|p| root.join(p)), &[root.join(INCLUDE)])
}

fn module(builder: protogate::Builder) -> String {
    let generated = builder.generate(&example(), &Layout::Module).unwrap();
    generated.files["protogate.rs"].clone()
}

fn refusals(builder: protogate::Builder, layout: &Layout) -> Vec<Diagnostic> {
    match builder.generate(&example(), layout) {
        Err(Error::Invalid(diagnostics)) => diagnostics,
        Err(other) => panic!("expected Error::Invalid, got {other}"),
        Ok(_) => panic!("the extern path was accepted"),
    }
}

/// Squeezes whitespace, so that assertions do not depend on how the code is formatted.
fn squeeze(code: &str) -> String {
    code.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn an_extern_package_is_reexported_not_generated() {
    let plain = module(protogate::configure());
    assert!(plain.contains("pub struct HelloRequest"), "{plain}");

    let code = module(protogate::configure().extern_path(".helloworld.v1", "crate::pb"));
    let squeezed = squeeze(&code);
    assert!(
        squeezed.contains("pub mod helloworld { pub mod v1 { pub use crate::pb::*; } }"),
        "the package's module re-exports the crate's types:\n{code}"
    );
    assert!(
        !code.contains("pub struct HelloRequest") && !code.contains("pub struct HelloReply"),
        "the extern package's types are not generated again:\n{code}"
    );
    // The other package is generated as before, and the routes name the types as always.
    assert!(code.contains("pub struct Book"), "{code}");
    assert!(
        code.contains("super::proto::helloworld::v1::HelloRequest"),
        "{code}"
    );
}

#[test]
fn a_prefix_covers_the_packages_below_it_as_prost_build_resolves_them() {
    let code = module(protogate::configure().extern_path(".library", "crate::types::library"));
    assert!(
        squeeze(&code)
            .contains("pub mod library { pub mod v1 { pub use crate::types::library::v1::*; } }"),
        "{code}"
    );
    assert!(!code.contains("pub struct Book "), "{code}");
}

#[test]
fn the_longest_extern_path_wins() {
    let code = module(
        protogate::configure()
            .extern_path(".library", "crate::a")
            .extern_path(".library.v1", "crate::b"),
    );
    assert!(squeeze(&code).contains("pub use crate::b::*;"), "{code}");
    assert!(!code.contains("crate::a"), "{code}");
}

#[test]
fn bad_extern_paths_are_refused_with_the_fix() {
    let cases = [
        (
            "helloworld.v1",
            "crate::pb",
            "not a fully qualified proto package",
            "start it with a dot",
        ),
        (
            ".helloworld.v1.HelloRequest",
            "crate::pb",
            "names a type, not a package",
            "name the package",
        ),
        (
            ".hello",
            "crate::pb",
            "covers no package of the API",
            ".helloworld.v1",
        ),
        (
            ".helloworld.v1",
            "crate::pb::",
            "is not a Rust path",
            "crate::pb",
        ),
    ];
    for (proto, rust, message, help) in cases {
        let diagnostics = refusals(
            protogate::configure().extern_path(proto, rust),
            &Layout::Module,
        );
        assert_eq!(diagnostics.len(), 1, "{proto} → {rust}: {diagnostics:?}");
        let d = &diagnostics[0];
        assert!(d.message.contains(message), "{proto} → {rust}: {d}");
        assert!(
            d.help.as_deref().unwrap_or_default().contains(help),
            "{proto} → {rust}: {d}"
        );
    }
}

#[test]
fn a_standalone_crate_takes_no_extern_path() {
    let diagnostics = refusals(
        protogate::configure().extern_path(".helloworld.v1", "crate::pb"),
        &Layout::Crate {
            name: "x".to_string(),
        },
    );
    assert!(
        diagnostics[0].message.contains("compile()"),
        "{}",
        diagnostics[0]
    );
}

/// The descriptors a build script hands tonic-build: the protos, their imports and the bundled
/// google.api protos, in dependency order.
#[test]
fn file_descriptor_set_holds_the_protos_and_their_imports() {
    let root = workspace();
    let set =
        protogate::file_descriptor_set(&[root.join(PROTOS[0])], &[root.join(INCLUDE)]).unwrap();
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    assert!(names.contains(&"google/api/annotations.proto"), "{names:?}");
    let greeter = names
        .iter()
        .position(|n| *n == "helloworld/v1/greeter.proto")
        .unwrap();
    let annotations = names
        .iter()
        .position(|n| *n == "google/api/annotations.proto")
        .unwrap();
    assert!(annotations < greeter, "imports come first: {names:?}");
}
