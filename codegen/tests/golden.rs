#![allow(clippy::unwrap_used)]
//! Golden and determinism tests of the generated output.
//!
//! - The committed `generated-example/` is exactly what `protogate generate` writes for the
//!   example protos. `UPDATE_EXPECT=1 cargo test -p protogate --test golden` rewrites it.
//! - Output is byte-identical across runs, `--proto` orders and checkout locations, and carries
//!   no machine-specific path.
//! - The `include!` layout is one file of valid Rust.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use protogate::{Generated, Input, Layout};

mod common;
use common::{HEADER, INCLUDE, PROTOS, read_tree, workspace};

const CRATE_NAME: &str = "protogate-example";

fn regenerate_command() -> String {
    let mut command = String::from("cargo run -p protogate -- generate");
    for proto in PROTOS {
        command.push_str(&format!(" --proto {proto}"));
    }
    command.push_str(&format!(
        " -I {INCLUDE} --out generated-example --crate-name {CRATE_NAME} --runtime {EXAMPLE_RUNTIME}"
    ));
    command
}

/// How the committed example depends on the runtime: on the workspace's crate, so that the
/// repository holds no second copy of it (`standalone.rs` builds a vendored one).
const EXAMPLE_RUNTIME: &str = "path=../runtime";

/// Runs the built `protogate generate` from the workspace root with the example arguments and
/// `--runtime runtime`.
fn run_cli(out: &Path, runtime: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_protogate"))
        .current_dir(workspace())
        .arg("generate")
        .args(PROTOS.iter().flat_map(|p| ["--proto", p]))
        .args([
            "-I",
            INCLUDE,
            "--crate-name",
            CRATE_NAME,
            "--runtime",
            runtime,
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "protogate generate failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file under `dir`, by `/`-separated relative path.
fn unified_diff(name: &str, expected: &[u8], actual: &[u8]) -> String {
    let expected = String::from_utf8_lossy(expected);
    let actual = String::from_utf8_lossy(actual);
    similar::TextDiff::from_lines(expected.as_ref(), actual.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("a/{name} (expected)"),
            &format!("b/{name} (generated)"),
        )
        .to_string()
}

/// Differences between two trees: a diff per differing file, and files only on one side.
fn tree_diff(
    expected: &BTreeMap<String, Vec<u8>>,
    actual: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, want) in expected {
        match actual.get(name) {
            None => problems.push(format!("{name}: in the expected tree, not generated")),
            Some(got) if got != want => problems.push(unified_diff(name, want, got)),
            Some(_) => {}
        }
    }
    for name in actual.keys().filter(|n| !expected.contains_key(*n)) {
        problems.push(format!("{name}: generated, missing from the expected tree"));
    }
    problems
}

#[test]
fn generated_example_is_up_to_date() {
    let committed = workspace().join("generated-example");
    if std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1") {
        run_cli(&committed, EXAMPLE_RUNTIME);
    }
    let scratch = tempfile::tempdir().unwrap();
    let fresh = scratch.path().join(CRATE_NAME);
    run_cli(&fresh, EXAMPLE_RUNTIME);

    let expected = read_tree(&committed);
    let actual = read_tree(&fresh);
    assert!(
        actual.contains_key("src/lib.rs") && actual.contains_key("Cargo.toml"),
        "{:?}",
        actual.keys()
    );
    let problems = tree_diff(&expected, &actual);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        panic!(
            "generated-example/ is not what protogate generates ({} difference(s) above).\n\
             Regenerate it and review the diff with:\n    \
             UPDATE_EXPECT=1 cargo test -p protogate --test golden\n\
             or:\n    {}",
            problems.len(),
            regenerate_command()
        );
    }
}

fn generate(protos: &[PathBuf], include: &Path, layout: &Layout) -> Generated {
    protogate::configure()
        .generate(&Input::protos(protos, &[include]), layout)
        .unwrap_or_else(|e| panic!("generation failed:\n{e}"))
}

/// Differences between two generations, as printable problems.
fn compare(what: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let bytes = |m: &BTreeMap<String, String>| -> BTreeMap<String, Vec<u8>> {
        m.iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect()
    };
    tree_diff(&bytes(a), &bytes(b))
        .into_iter()
        .map(|p| format!("{what}: {p}"))
        .collect()
}

#[test]
fn output_is_deterministic_and_location_independent() {
    let root = workspace();
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let include = root.join(INCLUDE);

    // A copy of the protos somewhere else, named so that a leak is easy to spot.
    let elsewhere = tempfile::Builder::new()
        .prefix("protogate-determinism-")
        .tempdir()
        .unwrap();
    let copy = elsewhere.path().join("checkout/proto");
    for proto in PROTOS {
        let relative = Path::new(proto).strip_prefix(INCLUDE).unwrap();
        let target = copy.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(root.join(proto), &target).unwrap();
    }
    let mut reversed: Vec<PathBuf> = PROTOS
        .iter()
        .map(|p| copy.join(Path::new(p).strip_prefix(INCLUDE).unwrap()))
        .collect();
    reversed.reverse();
    let temp_name = elsewhere
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let forbidden = [
        root.display().to_string(),
        elsewhere.path().display().to_string(),
        temp_name,
        "protogate-determinism".to_string(),
        env!("CARGO_MANIFEST_DIR").to_string(),
    ];

    // Every problem is collected, so one run shows all of them.
    let mut problems = Vec::new();
    for layout in [
        Layout::Crate {
            name: CRATE_NAME.into(),
        },
        Layout::Module,
    ] {
        let first = generate(&protos, &include, &layout);
        let second = generate(&protos, &include, &layout);
        let moved = generate(&reversed, &copy, &layout);
        problems.extend(compare(
            &format!("{layout:?}, second run"),
            &first.files,
            &second.files,
        ));
        problems.extend(compare(
            &format!("{layout:?}, reversed --proto order from another directory"),
            &first.files,
            &moved.files,
        ));
        if first.notes != moved.notes {
            problems.push(format!(
                "{layout:?}: notes differ: {:?} vs {:?}",
                first.notes, moved.notes
            ));
        }
        for generated in [&first, &moved] {
            for (name, contents) in &generated.files {
                for needle in &forbidden {
                    if let Some(at) = contents.find(needle.as_str()) {
                        let line = contents[..at].lines().count();
                        problems.push(format!("{layout:?}: {name}:{line} contains the machine-specific path {needle:?}"));
                    }
                }
                let first_line = contents.lines().next().unwrap_or_default();
                // The vendored runtime is a byte-for-byte copy of the runtime crate.
                if name.ends_with(".rs")
                    && !name.starts_with("protogate-runtime/")
                    && !(first_line.starts_with(HEADER)
                        && first_line.contains("protogate generate"))
                {
                    problems.push(format!(
                        "{layout:?}: {name} must start with `{HEADER}` naming `protogate generate`, starts with {first_line:?}"
                    ));
                }
                // The vendored runtime's assets are the npm package's files, byte for byte.
                if !contents.ends_with('\n') && !name.starts_with("protogate-runtime/") {
                    problems.push(format!("{layout:?}: {name} must end with a newline"));
                }
            }
        }
        if let Layout::Crate { .. } = layout {
            let first_line = first.files["Cargo.toml"]
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            if !first_line.starts_with("# @generated by protogate") {
                problems.push(format!(
                    "Cargo.toml must start with `# @generated by protogate`: {first_line:?}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn module_layout_is_one_valid_rust_file() {
    let root = workspace();
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let generated = generate(&protos, &root.join(INCLUDE), &Layout::Module);
    let names: Vec<&String> = generated.files.keys().collect();
    assert_eq!(names, ["protogate.rs"]);
    let source = &generated.files["protogate.rs"];
    assert!(source.starts_with(HEADER), "{:?}", source.lines().next());
    let file = syn::parse_file(source).unwrap_or_else(|e| {
        let line = e.span().start().line;
        let context: Vec<&str> = source
            .lines()
            .skip(line.saturating_sub(3))
            .take(5)
            .collect();
        panic!(
            "protogate.rs is not valid Rust at line {line}: {e}\n{}",
            context.join("\n")
        )
    });
    // `include!` cannot take inner attributes (`#![…]`, `//!`) at the top of the file.
    assert!(
        file.attrs
            .iter()
            .all(|a| matches!(a.style, syn::AttrStyle::Outer)),
        "protogate.rs opens with inner attributes, which `include!` rejects"
    );
    let top_level: Vec<String> = file
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Fn(f) => Some(format!("fn {}", f.sig.ident)),
            syn::Item::Mod(m) => Some(format!("mod {}", m.ident)),
            _ => None,
        })
        .collect();
    assert!(
        source.contains("pub use ::protogate_runtime as runtime;"),
        "protogate.rs must call the runtime crate"
    );
    for wanted in ["fn router", "mod proto", "mod routes", "mod handlers"] {
        assert!(
            top_level.iter().any(|i| i == wanted),
            "protogate.rs lacks `{wanted}`: {top_level:?}"
        );
    }
    // Every module is inline: an `include!`d file cannot load `mod x;` from disk.
    fn assert_inline(items: &[syn::Item], path: &str) {
        for item in items {
            if let syn::Item::Mod(m) = item {
                let inner = format!("{path}::{}", m.ident);
                let Some((_, items)) = &m.content else {
                    panic!("`mod {inner};` is not inline in protogate.rs");
                };
                assert_inline(items, &inner);
            }
        }
    }
    assert_inline(&file.items, "crate");
}

/// Users whose include paths carry their own `google/api` and `google/rpc` protos (a googleapis
/// checkout) get the same output as with the bundled copies.
#[test]
fn own_copies_of_the_bundled_protos_work_too() {
    let root = workspace();
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let layout = Layout::Crate {
        name: "protogate-example".into(),
    };
    let bundled = protogate::configure()
        .generate(&Input::protos(&protos, &[root.join(INCLUDE)]), &layout)
        .unwrap();
    let own = tempfile::tempdir().unwrap();
    for dir in ["google/api", "google/rpc"] {
        std::fs::create_dir_all(own.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(root.join("codegen/proto").join(dir)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, own.path().join(dir).join(path.file_name().unwrap())).unwrap();
        }
    }
    let with_own = protogate::configure()
        .generate(
            &Input::protos(&protos, &[root.join(INCLUDE), own.path().to_path_buf()]),
            &layout,
        )
        .unwrap();
    assert_eq!(bundled.files, with_own.files);
}

/// `templates/Cargo.lock`, the lock of every generated crate, is the workspace's lock as Cargo
/// resolves it for the example crate on its own: the versions protogate is tested with, no
/// more. `UPDATE_EXPECT=1` rewrites it after the workspace's lock changes.
#[test]
fn generated_lock_is_the_workspace_lock_for_one_crate() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(CRATE_NAME);
    run_cli(&out, "vendored");
    std::fs::copy(workspace().join("Cargo.lock"), out.join("Cargo.lock")).unwrap();
    // Resolving rewrites the lock without the entries this crate does not use.
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&out)
        .args(["update", "--workspace", "--offline"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo update failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resolved = std::fs::read_to_string(out.join("Cargo.lock")).unwrap();
    let template = workspace().join("templates/Cargo.lock");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&template, &resolved).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&template).unwrap();
    assert!(
        committed == resolved,
        "templates/Cargo.lock is not the workspace's lock for one generated crate:\n{}\n\
         help: rewrite it with: UPDATE_EXPECT=1 cargo test -p protogate --test golden",
        unified_diff(
            "templates/Cargo.lock",
            committed.as_bytes(),
            resolved.as_bytes()
        )
    );
}
