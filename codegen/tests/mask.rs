#![allow(clippy::unwrap_used)]
//! Which PATCH bindings derive an unset field mask from the body (DESIGN.md §3.9), and which
//! message walkers that takes, from `tests/fixtures/mask/mask.proto`: PATCH with `body:
//! "<message field>"` and exactly one top-level, singular, path-free FieldMask field does; no
//! mask, two masks, a repeated or oneof mask, a path-bound mask, another method, `body: "*"` or
//! a body field that is not a plain message does not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use protogate::model::{self, Api, Binding, DerivedMask, Message};
use protogate::{Input, Layout};

mod common;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mask")
}

fn api() -> Api {
    let dir = fixtures();
    let loaded = protogate::load::compile(&[dir.join("mask.proto")], &[dir]).unwrap();
    model::build(&loaded, &model::ModelOptions::default()).unwrap()
}

/// Every binding by `METHOD template`.
fn bindings(api: &Api) -> BTreeMap<String, &Binding> {
    api.services
        .iter()
        .flat_map(|s| &s.bindings)
        .map(|b| (format!("{} {}", b.http_method, b.template), b))
        .collect()
}

fn message<'a>(api: &'a Api, name: &str) -> &'a Message {
    api.messages
        .iter()
        .find(|m| m.full_name == name)
        .unwrap_or_else(|| panic!("no message {name}"))
}

#[test]
fn only_patch_with_one_free_mask_and_a_message_body_derives() {
    let api = api();
    let bindings = bindings(&api);
    let mask = |key: &str| -> Option<&DerivedMask> {
        bindings
            .get(key)
            .unwrap_or_else(|| panic!("no binding {key}; have {:?}", bindings.keys()))
            .field_mask
            .as_ref()
    };

    let derived = mask("PATCH /v1/things/{id}").expect("the plain PATCH derives");
    assert_eq!(derived.field, "update_mask");
    assert_eq!(derived.body_message, "mask.v1.Thing");
    assert_eq!(derived.body_type, "super::proto::mask::v1::Thing");

    let keywords = mask("PATCH /v1/keywords/{id}").expect("keyword names derive too");
    assert_eq!(keywords.field, "r#type");
    assert_eq!(keywords.body_message, "mask.v1.Thing");

    for key in [
        "PUT /v1/things/{id}",
        "PATCH /v1/things/{id}:whole",
        "PATCH /v1/things/{id}/masked/{update_mask}",
        "PATCH /v1/things/{id}/name",
        "PATCH /v1/things/{id}/extra",
        "PATCH /v1/no-mask/{id}",
        "PATCH /v1/two-masks/{id}",
        "PATCH /v1/repeated-mask/{id}",
        "PATCH /v1/oneof-mask/{id}",
    ] {
        assert!(mask(key).is_none(), "{key} must not derive a mask");
    }
}

#[test]
fn walkers_cover_the_reachable_messages_and_stop_at_leaves() {
    let api = api();
    for name in [
        "mask.v1.Thing",
        "mask.v1.Inner",
        "mask.v1.Deep",
        "mask.v1.Thing.Sub",
    ] {
        assert!(message(&api, name).mask_paths, "{name} needs a walker");
    }
    for name in [
        "mask.v1.Unrelated",
        "mask.v1.UpdateThingRequest",
        "mask.v1.NoMaskRequest",
    ] {
        assert!(!message(&api, name).mask_paths, "{name} needs no walker");
    }

    let thing = message(&api, "mask.v1.Thing");
    let descends: BTreeMap<&str, bool> = thing
        .fields
        .iter()
        .map(|f| (f.proto_name.as_str(), f.mask_descends))
        .collect();
    let expected: BTreeMap<&str, bool> = [
        ("name", false),
        ("inner", true),
        ("inners", false),
        ("by_key", false),
        ("attributes", false),
        ("value", false),
        ("list", false),
        ("any", false),
        ("when", false),
        ("maybe", false),
        ("picked", true),
        ("text", false),
        ("child", true),
        ("sub", true),
    ]
    .into();
    assert_eq!(descends, expected);
}

#[test]
fn the_generated_code_derives_only_where_the_model_says() {
    let dir = fixtures();
    let generated = protogate::configure()
        .generate(
            &Input::protos(&[dir.join("mask.proto")], &[&dir]),
            &Layout::Crate {
                name: "mask-proxy".into(),
            },
        )
        .unwrap();
    let handlers = &generated.files["src/handlers.rs"];
    let derivations = handlers.matches("runtime::field_mask::from_body").count();
    assert_eq!(derivations, 2, "two bindings derive a mask:\n{handlers}");
    assert!(handlers.contains("if request.update_mask.is_none()"));
    assert!(handlers.contains("if request.r#type.is_none()"));

    let protojson = &generated.files["src/protojson.rs"];
    for ty in ["Thing", "Inner", "Deep", "thing::Sub"] {
        let walker = format!("FieldMaskPaths for super::proto::mask::v1::{ty} {{");
        assert!(protojson.contains(&walker), "{walker}");
    }
    assert!(!protojson.contains("FieldMaskPaths for super::proto::mask::v1::Unrelated "));
    // Well-known types, repeated fields and maps are leaves; messages are descended.
    for line in [
        r#"paths.leaf(r, "attributes")"#,
        r#"paths.leaf(r, "value")"#,
        r#"paths.leaf(r, "list")"#,
        r#"paths.leaf(r, "any")"#,
        r#"paths.leaf(r, "inners")"#,
        r#"paths.leaf(r, "by_key")"#,
        r#"paths.message::<super::proto::mask::v1::Inner>(r, "inner")"#,
        r#"paths.message::<super::proto::mask::v1::Inner>(r, "picked")"#,
        r#"paths.message::<super::proto::mask::v1::Thing>(r, "child")"#,
        r#"paths.message::<super::proto::mask::v1::thing::Sub>(r, "sub")"#,
    ] {
        assert!(protojson.contains(line), "{line}");
    }
}

/// The walkers compile for every shape the fixture has (recursive, boxed, nested, oneof and
/// keyword-named fields, well-known leaves). Builds in `<target>/standalone`, shared with
/// `tests/standalone.rs` (slow on the first run, when that directory is empty).
#[test]
fn the_generated_crate_compiles() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mask-proxy");
    let dir = fixtures();
    protogate::configure()
        .generate_crate(
            &Input::protos(&[dir.join("mask.proto")], &[&dir]),
            "mask-proxy",
            &out,
        )
        .unwrap();
    std::fs::copy(
        common::workspace().join("Cargo.lock"),
        out.join("Cargo.lock"),
    )
    .unwrap();
    // `<target>/<profile>/protogate` → `<target>/standalone`.
    let target = Path::new(env!("CARGO_BIN_EXE_protogate"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("standalone");
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&out)
        .args(["check", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo check of the generated crate failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
