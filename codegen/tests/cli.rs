#![allow(clippy::unwrap_used)]
//! The `protogate` command as users and CI run it: exit codes, `--check` reports, input forms.
//!
//! Contract (DESIGN "CLI contract"): exit 0 on success, 1 when `--check` finds a difference, 2 on
//! bad input with the error on stderr.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{HEADER, INCLUDE, PROTOS, read_text_tree as read_tree, workspace};

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn protogate<I, S>(cwd: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new(env!("CARGO_BIN_EXE_protogate"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `generate` for the example protos, paths relative to the workspace root, plus `extra`.
fn example(out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec!["generate".into()];
    for proto in PROTOS {
        args.extend(["--proto".into(), proto.into()]);
    }
    args.extend([
        "-I".into(),
        INCLUDE.into(),
        "--crate-name".into(),
        "example".into(),
    ]);
    args.extend(["--out".into(), out.as_os_str().to_owned()]);
    args.extend(extra.iter().map(OsString::from));
    protogate(&workspace(), args)
}

/// Generates the example crate into a fresh directory and returns (guard, crate dir).
fn generated_example() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("example");
    let run = example(&out, &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    (dir, out)
}

fn assert_same_tree(what: &str, expected: &Path, actual: &Path) {
    let expected = read_tree(expected);
    let actual = read_tree(actual);
    let names = |t: &BTreeMap<String, String>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&expected),
        names(&actual),
        "{what}: different file sets"
    );
    for (name, contents) in &expected {
        assert!(actual[name] == *contents, "{what}: {name} differs");
    }
}

#[test]
fn generate_exits_0_and_writes_the_crate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("example");
    let run = example(&out, &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "src/main.rs",
        "src/routes.rs",
        "src/handlers.rs",
    ] {
        assert!(
            out.join(file).is_file(),
            "{file} was not written; stderr:\n{}",
            run.stderr
        );
    }
    let cargo = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("name = \"example\""),
        "--crate-name is the package name:\n{cargo}"
    );
    // What openapi.json cannot say is a warning naming the method and where its rule is.
    assert!(
        run.stderr.contains(
            "library/v1/library.proto:45:5: warning: library.v1.LibraryService.ListBooks: \
             OpenAPI cannot name the custom HTTP method `SEARCH` of \
             `SEARCH /v1/{parent=shelves/*}/books`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn check_on_an_up_to_date_directory_exits_0() {
    let (_dir, out) = generated_example();
    let before = read_tree(&out);
    let run = example(&out, &["--check"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.is_empty(), "nothing to report:\n{}", run.stdout);
    assert_eq!(before, read_tree(&out), "--check must not write");
}

#[test]
fn check_prints_a_diff_for_an_edited_file_and_exits_1() {
    let (_dir, out) = generated_example();
    let routes = out.join("src/routes.rs");
    let original = std::fs::read_to_string(&routes).unwrap();
    let edited = original.replacen("/v1/greeter/{name}", "/v1/hello/{name}", 1);
    assert_ne!(original, edited, "the fixture edit must change the file");
    std::fs::write(&routes, &edited).unwrap();

    let run = example(&out, &["--check"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("--- a/src/routes.rs"),
        "a unified diff naming the file:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("+++ b/src/routes.rs"), "{}", run.stdout);
    assert!(run.stdout.contains("\n@@ "), "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with('-') && l.contains("/v1/hello/{name}")),
        "the edited line is removed:\n{}",
        run.stdout
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with('+') && l.contains("/v1/greeter/{name}")),
        "the generated line is added:\n{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("src/lib.rs"),
        "only the edited file is reported:\n{}",
        run.stdout
    );
    assert!(run.stderr.contains("not up to date"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&routes).unwrap(),
        edited,
        "--check must not write"
    );

    // Without --check the file is regenerated and --check passes again.
    assert_eq!(example(&out, &[]).code, Some(0));
    assert_eq!(std::fs::read_to_string(&routes).unwrap(), original);
    assert_eq!(example(&out, &["--check"]).code, Some(0));
}

#[test]
fn check_reports_a_missing_file() {
    let (_dir, out) = generated_example();
    std::fs::remove_file(out.join("src/handlers.rs")).unwrap();
    let run = example(&out, &["--check"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.lines().any(|l| l == "missing: src/handlers.rs"),
        "{}",
        run.stdout
    );
    assert!(
        !out.join("src/handlers.rs").exists(),
        "--check must not write"
    );
}

#[test]
fn check_reports_a_stale_generated_file() {
    let (_dir, out) = generated_example();
    std::fs::write(
        out.join("src/old_service.rs"),
        format!(
            "{HEADER}. Do not edit: regenerate with `protogate generate`.\npub fn gone() {{}}\n"
        ),
    )
    .unwrap();
    // A file the user wrote (no header) is theirs: never reported, never removed.
    std::fs::write(out.join("src/extra.rs"), "pub fn mine() {}\n").unwrap();

    let run = example(&out, &["--check"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("stale: src/old_service.rs")),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("extra.rs"),
        "a user file is not stale:\n{}",
        run.stdout
    );
    assert!(
        out.join("src/old_service.rs").exists(),
        "--check must not delete"
    );

    assert_eq!(example(&out, &[]).code, Some(0));
    assert!(
        !out.join("src/old_service.rs").exists(),
        "generate removes stale generated files"
    );
    assert!(
        out.join("src/extra.rs").exists(),
        "generate keeps user files"
    );
    assert_eq!(example(&out, &["--check"]).code, Some(0));
}

#[test]
fn check_against_a_missing_directory_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never-generated");
    let run = example(&out, &["--check"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("missing: src/lib.rs"), "{}", run.stdout);
    assert!(!out.exists(), "--check must not create the directory");
}

#[test]
fn bad_proto_exits_2_with_the_error_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/errors");
    let run = protogate(
        &fixtures,
        [
            "generate",
            "--proto",
            "get_with_body.proto",
            "-I",
            ".",
            "--out",
        ]
        .map(OsString::from)
        .into_iter()
        .chain([out.clone().into_os_string()]),
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains(
            "get_with_body.proto:10:5: error: errors.v1.Shelves.GetBook: GET with a body"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\n  help: "), "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "errors go to stderr:\n{}",
        run.stdout
    );
    assert!(!out.exists(), "nothing is written on bad input");
}

#[test]
fn nonexistent_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = protogate(
        &workspace(),
        [
            "generate",
            "--proto",
            "examples/proto/helloworld/v1/nope.proto",
            "-I",
            INCLUDE,
            "--out",
        ]
        .map(OsString::from)
        .into_iter()
        .chain([out.clone().into_os_string()]),
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("nope.proto"),
        "the error names the file:\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let set = dir.path().join("missing.binpb");
    let run = protogate(
        &workspace(),
        [
            OsString::from("generate"),
            "--descriptor-set".into(),
            set.into_os_string(),
        ]
        .into_iter()
        .chain(["--out".into(), out.clone().into_os_string()]),
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("missing.binpb"),
        "the error names the file:\n{}",
        run.stderr
    );
    assert!(!out.exists());
}

/// Compiles the example protos with their imports (as `buf build -o` or `protoc
/// --include_imports --include_source_info --descriptor_set_out` would) into `path`.
///
/// `protox::compile` returns a `prost_types::FileDescriptorSet`, and prost drops extension values
/// from options — every `google.api.http` rule with them (DESIGN §1.2) — so the set is encoded
/// through `Compiler::encode_file_descriptor_set`, which keeps them.
fn write_descriptor_set(path: &Path) {
    let root = workspace();
    // The google/api protos the example imports, as buf would take them from its deps.
    let includes = [root.join(INCLUDE), root.join("codegen/proto")];
    let mut compiler = protox::Compiler::new(&includes).unwrap();
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS.map(|p| root.join(p))).unwrap();
    let bytes = compiler.encode_file_descriptor_set();
    // The same files as `protox::compile` lists (prost decodes what it knows of the set).
    let decoded =
        <prost_types::FileDescriptorSet as prost::Message>::decode(bytes.as_slice()).unwrap();
    let compiled = protox::compile(PROTOS.map(|p| root.join(p)), &includes).unwrap();
    assert_eq!(
        decoded.file.iter().map(|f| f.name()).collect::<Vec<_>>(),
        compiled.file.iter().map(|f| f.name()).collect::<Vec<_>>()
    );
    assert!(
        decoded
            .file
            .iter()
            .any(|f| f.name() == "google/api/annotations.proto"),
        "imports are included"
    );
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn descriptor_set_generates_the_same_files_as_the_protos() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("example.binpb");
    write_descriptor_set(&set);
    let from_set = dir.path().join("from-set");
    let run = protogate(
        dir.path(),
        [
            OsString::from("generate"),
            "--descriptor-set".into(),
            set.into_os_string(),
        ]
        .into_iter()
        .chain([
            "--crate-name".into(),
            "example".into(),
            "--out".into(),
            from_set.clone().into_os_string(),
        ]),
    );
    assert_eq!(run.code, Some(0), "{run:?}");

    let from_protos = dir.path().join("from-protos");
    let run = example(&from_protos, &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_same_tree("--descriptor-set vs --proto", &from_protos, &from_set);
}

#[test]
fn proto_paths_absolute_or_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = workspace();
    let proto_dir = dir.path().join("api/proto");
    for proto in PROTOS {
        let target = proto_dir.join(Path::new(proto).strip_prefix(INCLUDE).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(root.join(proto), &target).unwrap();
    }
    let files = ["helloworld/v1/greeter.proto", "library/v1/library.proto"];
    let run_in = |cwd: &Path, protos: Vec<OsString>, include: Option<OsString>, out: &Path| {
        let mut args: Vec<OsString> = vec!["generate".into()];
        for p in protos {
            args.extend(["--proto".into(), p]);
        }
        if let Some(include) = include {
            args.extend(["-I".into(), include]);
        }
        args.extend([
            "--crate-name".into(),
            "example".into(),
            "--out".into(),
            out.as_os_str().to_owned(),
        ]);
        let run = protogate(cwd, args);
        assert_eq!(run.code, Some(0), "cwd {}: {run:?}", cwd.display());
    };

    // Absolute paths, run from an unrelated directory.
    let absolute = dir.path().join("absolute");
    run_in(
        &root,
        files
            .iter()
            .map(|f| proto_dir.join(f).into_os_string())
            .collect(),
        Some(proto_dir.clone().into_os_string()),
        &absolute,
    );
    // Paths relative to the working directory that lie inside the (relative) -I directory.
    let relative = dir.path().join("relative");
    run_in(
        dir.path(),
        files
            .iter()
            .map(|f| Path::new("api/proto").join(f).into_os_string())
            .collect(),
        Some("api/proto".into()),
        &relative,
    );
    // Inside the include directory, with the default `-I .`.
    let default_include = dir.path().join("default-include");
    run_in(
        &proto_dir,
        files.iter().map(OsString::from).collect(),
        None,
        &default_include,
    );

    assert_same_tree("absolute vs relative --proto", &absolute, &relative);
    assert_same_tree(
        "absolute --proto vs default -I",
        &absolute,
        &default_include,
    );
    let reference = dir.path().join("reference");
    assert_eq!(example(&reference, &[]).code, Some(0));
    assert_same_tree(
        "a copy of the protos vs the workspace protos",
        &reference,
        &absolute,
    );
}

#[test]
fn help_documents_the_exit_codes() {
    let run = protogate(&workspace(), ["generate", "--help"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let line = run
        .stdout
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("exit"))
        .unwrap_or_else(|| {
            panic!(
                "`generate --help` does not mention exit codes:\n{}",
                run.stdout
            )
        });
    for code in [
        "0 on success",
        "1 when --check finds a difference",
        "2 on bad input",
    ] {
        assert!(
            line.contains(code),
            "exit code `{code}` is not documented: {line}"
        );
    }
}

/// The pitfall of DESIGN §1.2: a set encoded from `prost_types` has lost every HttpRule. The
/// generator must say so (exit 2) instead of writing a crate that serves nothing.
#[test]
fn descriptor_set_without_http_rules_exits_2() {
    let root = workspace();
    let includes = [root.join(INCLUDE), root.join("codegen/proto")];
    let lossy = protox::compile(PROTOS.map(|p| root.join(p)), &includes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("lossy.binpb");
    std::fs::write(&set, prost::Message::encode_to_vec(&lossy)).unwrap();
    let out = dir.path().join("out");
    let run = protogate(
        dir.path(),
        [
            OsString::from("generate"),
            "--descriptor-set".into(),
            set.into_os_string(),
        ]
        .into_iter()
        .chain([
            "--crate-name".into(),
            "example".into(),
            "--out".into(),
            out.clone().into_os_string(),
        ]),
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("google.api.http"), "{}", run.stderr);
    assert!(!out.exists(), "nothing is written");
}

/// `generate --check … | head`: a reader that stops early is not a crash (it was exit 101 and a
/// panic message): the exit status still says the crate differs.
#[test]
fn check_into_a_closed_pipe_exits_1() {
    let (_dir, out) = generated_example();
    std::fs::write(out.join("src/routes.rs"), "// edited\n").unwrap();
    let mut args: Vec<String> = vec!["generate".into()];
    for proto in PROTOS {
        args.extend(["--proto".into(), proto.into()]);
    }
    args.extend(["-I", INCLUDE, "--crate-name", "example", "--check", "--out"].map(String::from));
    args.push(out.display().to_string());
    let mut child = Command::new(env!("CARGO_BIN_EXE_protogate"))
        .current_dir(workspace())
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read nothing: close our end of the pipe at once, as `head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// It writes into an empty directory or over a crate it generated; never over files of the
/// same names that it did not write (a crate of the user's own), and then it writes nothing.
#[test]
fn generate_refuses_to_write_over_files_it_did_not_generate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mine");
    std::fs::create_dir_all(out.join("src")).unwrap();
    std::fs::write(out.join("Cargo.toml"), "[package]\nname = \"mine\"\n").unwrap();
    std::fs::write(out.join("src/main.rs"), "fn main() {}\n").unwrap();
    let run = example(&out, &[]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains("not writing over files protogate did not generate: Cargo.toml, src/main.rs"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(out.join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(!out.join("src/lib.rs").exists(), "nothing was written");

    // Unrelated files are no obstacle, and a generated crate is regenerated in place.
    let fresh = dir.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("NOTES.md"), "mine\n").unwrap();
    assert_eq!(example(&fresh, &[]).code, Some(0));
    assert_eq!(example(&fresh, &[]).code, Some(0));
    assert_eq!(
        std::fs::read_to_string(fresh.join("NOTES.md")).unwrap(),
        "mine\n"
    );
}

/// `protogate openapi --out CRATE/openapi.json --check` on a generated crate passes without
/// `--title`: the document of a crate is titled with the crate's name.
#[test]
fn openapi_check_of_a_generated_crate_needs_no_title() {
    let (_dir, out) = generated_example();
    let mut args: Vec<OsString> = vec!["openapi".into()];
    for proto in PROTOS {
        args.extend(["--proto".into(), proto.into()]);
    }
    args.extend([
        "-I".into(),
        INCLUDE.into(),
        "--check".into(),
        "--out".into(),
    ]);
    args.push(out.join("openapi.json").into_os_string());
    let run = protogate(&workspace(), args);
    assert_eq!(run.code, Some(0), "{run:?}");
}

/// A crate that vendored the runtime and is regenerated against a path (or a version) loses
/// its `protogate-runtime/` folder, which `--check` reports as stale first.
#[test]
fn leaving_the_vendored_runtime_removes_it() {
    let (_dir, out) = generated_example();
    assert!(out.join("protogate-runtime/Cargo.toml").is_file());
    let run = example(&out, &["--runtime", "path=../runtime", "--check"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("protogate-runtime/Cargo.toml"),
        "{}",
        run.stdout
    );
    let run = example(&out, &["--runtime", "path=../runtime"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        !out.join("protogate-runtime").exists(),
        "the vendored copy is gone"
    );
    assert_eq!(
        example(&out, &["--runtime", "path=../runtime", "--check"]).code,
        Some(0)
    );
}

/// A crate generated below a Cargo workspace that does not list it would not build there
/// (Cargo: "current package believes it's in a workspace when it's not"): generation says so,
/// with the line to add; once listed, it says nothing.
#[test]
fn generate_inside_a_workspace_that_does_not_list_the_crate_says_how_to_add_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"app\"]\n",
    )
    .unwrap();
    let out = dir.path().join("gen").join("proxy");
    let run = example(&out, &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("note: ") && run.stderr.contains("Add \"gen/proxy\" to `members`"),
        "{}",
        run.stderr
    );
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"app\", \"gen/*\"]\n",
    )
    .unwrap();
    let run = example(&out, &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!run.stderr.contains("Cargo workspace"), "{}", run.stderr);
}
