#![allow(clippy::unwrap_used)]
//! External HttpRules from a `google.api.Service` YAML file (`--http-rules`,
//! `Builder::http_rules`): protos without annotations + YAML → served routes; every error
//! located in the YAML file with its fix; and one proxy generated with YAML rules serving real
//! requests in front of the example upstream.
//!
//! Fixtures: `tests/fixtures/http_rules/`. Paths are given relative to the package directory
//! (where Cargo runs integration tests), so locations read `tests/fixtures/http_rules/x.yaml:7:17`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use protogate::{Error, Generated, Input, Layout};

mod common;
use common::{cargo, workspace};

const DIR: &str = "tests/fixtures/http_rules";

fn fixture(name: &str) -> String {
    format!("{DIR}/{name}")
}

fn shelf() -> Input {
    Input::protos(&[fixture("shelf/v1/shelf.proto")], &[DIR])
}

fn generate(yaml: &[&str]) -> Result<Generated, Error> {
    let mut builder = protogate::configure();
    for file in yaml {
        builder = builder.http_rules(fixture(file));
    }
    builder.generate(&shelf(), &Layout::Module)
}

/// Every diagnostic of a failed generation, one string each.
fn errors(yaml: &[&str]) -> Vec<String> {
    match generate(yaml) {
        Ok(g) => panic!("{yaml:?}: expected errors, generated (notes {:?})", g.notes),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("{yaml:?}: expected Error::Invalid, got {other}"),
    }
}

/// Exactly one diagnostic, whose first line is `headline`, with a help line containing `help`.
fn check(yaml: &str, headline: &str, help: &str) {
    let all = errors(&[yaml]);
    assert_eq!(all.len(), 1, "{yaml}: {all:#?}");
    let mut lines = all[0].lines();
    assert_eq!(lines.next().unwrap(), headline, "{yaml}:\n{}", all[0]);
    let help_line = lines.next().unwrap_or_default();
    assert!(
        help_line.starts_with("  help: ") && help_line.contains(help),
        "{yaml}: help {help:?} in:\n{}",
        all[0]
    );
}

#[test]
fn yaml_rules_route_methods_without_annotations() {
    let generated = generate(&["shelf.yaml"]).unwrap();
    let code = &generated.files["protogate.rs"];
    for route in [
        "`GET /v1/{name=shelves/*}`",
        "`POST /v1/shelves`",
        "`SEARCH /v1/shelves`",
        // The annotated method keeps its own rule beside the YAML ones.
        "`DELETE /v1/{name=shelves/*}`",
    ] {
        assert!(code.contains(route), "{route} is routed");
    }
    assert!(
        code.contains("shelves_create_shelf") && code.contains("shelves_search_shelves"),
        "one handler per YAML rule"
    );
    assert_eq!(
        generated.notes,
        vec![
            "shelf.v1.Shelves.Unrouted has no google.api.http rule; it is served to gRPC, gRPC-Web and Connect clients only (route it as REST with POST /shelf.v1.Shelves/Unrouted by --route-unannotated)"
        ]
    );
    // The YAML file is a source: build scripts rerun when it changes.
    assert!(
        generated.sources.iter().any(|s| s.ends_with("shelf.yaml")),
        "{:?}",
        generated.sources
    );

    // Without the file, the same methods are not served.
    let bare = generate(&[]).unwrap();
    assert!(!bare.files["protogate.rs"].contains("`SEARCH /v1/shelves`"));
    assert_eq!(bare.notes.len(), 4, "{:?}", bare.notes);
}

#[test]
fn yaml_rules_are_in_the_openapi_document() {
    let document = protogate::configure()
        .http_rules(fixture("shelf.yaml"))
        .openapi(&shelf(), Some("shelf"))
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&document).unwrap();
    let paths = &json["paths"];
    assert!(paths["/v1/shelves/{shelf}"]["get"].is_object(), "{paths:#}");
    assert!(
        paths["/v1/shelves/{shelf}"]["delete"].is_object(),
        "{paths:#}"
    );
    assert!(paths["/v1/shelves"]["post"].is_object(), "{paths:#}");
    assert!(
        paths["/v1/shelves"]["x-additionalOperations"]["SEARCH"].is_object(),
        "{paths:#}"
    );
}

#[test]
fn a_rule_for_an_annotated_method_is_an_error() {
    check(
        "conflict.yaml",
        "tests/fixtures/http_rules/conflict.yaml:7:17: error: shelf.v1.Shelves.DeleteShelf: \
         this method already has a google.api.http annotation (at shelf/v1/shelf.proto:13:5)",
        "remove this YAML rule, or the annotation",
    );
}

#[test]
fn two_rules_for_one_method_are_an_error() {
    check(
        "duplicate.yaml",
        "tests/fixtures/http_rules/duplicate.yaml:7:17: error: shelf.v1.Shelves.GetShelf: \
         a second rule for `shelf.v1.Shelves.GetShelf` (the first is at \
         tests/fixtures/http_rules/duplicate.yaml:5:17)",
        "additional_bindings",
    );
    // Across files too.
    let all = errors(&["shelf.yaml", "duplicate.yaml"]);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all[0].starts_with(
            "tests/fixtures/http_rules/duplicate.yaml:5:17: error: shelf.v1.Shelves.GetShelf: \
             a second rule for `shelf.v1.Shelves.GetShelf` (the first is at \
             tests/fixtures/http_rules/shelf.yaml:5:17)"
        ),
        "{all:#?}"
    );
}

#[test]
fn an_unknown_selector_is_an_error() {
    check(
        "unknown_selector.yaml",
        "tests/fixtures/http_rules/unknown_selector.yaml:5:17: error: \
         selector `shelf.v1.Shelf.GetShelf` names no method of the served protos",
        "did you mean `shelf.v1.Shelves.GetShelf`?",
    );
}

#[test]
fn template_errors_point_into_the_yaml() {
    let all = errors(&["bad_template.yaml"]);
    assert_eq!(all.len(), 2, "{all:#?}");
    // Line 6 is `      get: /v1/shelves//{name}`: the template starts at column 12, and the
    // second `/` of `//` (offset 12) is column 24.
    assert!(
        all[0].starts_with(
            "tests/fixtures/http_rules/bad_template.yaml:6:24: error: shelf.v1.Shelves.GetShelf: \
             invalid path template `/v1/shelves//{name}`: empty segment"
        ),
        "{all:#?}"
    );
    // Line 8 is `      post: "/v1/shelves/{shelf.name"`: the quote is column 13, and the
    // unclosed `{` (offset 12) is column 26.
    assert!(
        all[1].starts_with(
            "tests/fixtures/http_rules/bad_template.yaml:8:26: error: shelf.v1.Shelves.CreateShelf: \
             invalid path template `/v1/shelves/{shelf.name`: unclosed \"{\""
        ),
        "{all:#?}"
    );
    for d in &all {
        assert!(d.contains("\n  help: "), "{d}");
    }
}

#[test]
fn rule_errors_point_at_the_yaml_rule() {
    check(
        "get_with_body.yaml",
        "tests/fixtures/http_rules/get_with_body.yaml:5:7: error: shelf.v1.Shelves.GetShelf: \
         GET with a body (`body: \"*\"`)",
        "remove `body`",
    );
}

#[test]
fn malformed_files_are_reported_with_their_position() {
    let all = errors(&["malformed.yaml"]);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0].starts_with("tests/fixtures/http_rules/malformed.yaml:")
            && all[0].contains(": error: invalid YAML: ")
            && all[0].contains("\n  help: fix the YAML syntax at this position"),
        "{all:#?}"
    );
    check(
        "not_a_service.yaml",
        "tests/fixtures/http_rules/not_a_service.yaml:1:1: error: \
         the file does not say `type: google.api.Service`",
        "begin the file with `type: google.api.Service`",
    );
    let all = errors(&["not_a_service.yaml"]);
    assert!(all.len() == 1, "one diagnostic: {all:#?}");

    match generate(&["missing.yaml"]) {
        Err(Error::Io { path, .. }) => assert_eq!(path, PathBuf::from(fixture("missing.yaml"))),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// `protogate generate --http-rules` and `protogate openapi --http-rules`: exit 0 with the
/// routes; exit 2 with the located error on stderr.
#[test]
fn cli_takes_http_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("shelf-proxy");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_protogate"))
            .args(args)
            .output()
            .unwrap()
    };
    let proto = fixture("shelf/v1/shelf.proto");
    let rules = fixture("shelf.yaml");
    let output = run(&[
        "generate",
        "--proto",
        &proto,
        "-I",
        DIR,
        "--http-rules",
        &rules,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let routes = std::fs::read_to_string(out.join("src/routes.rs")).unwrap();
    assert!(routes.contains("`SEARCH /v1/shelves`"), "{routes}");

    let output = run(&[
        "openapi",
        "--proto",
        &proto,
        "-I",
        DIR,
        "--http-rules",
        &rules,
    ]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"/v1/shelves\""));

    let conflict = fixture("conflict.yaml");
    for command in ["generate", "openapi"] {
        let mut args = vec![
            command,
            "--proto",
            &proto,
            "-I",
            DIR,
            "--http-rules",
            &conflict,
        ];
        if command == "generate" {
            args.extend(["--out", out.to_str().unwrap()]);
        }
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.starts_with("tests/fixtures/http_rules/conflict.yaml:7:17: error: "),
            "{command}: {stderr}"
        );
    }
}

// ---- end to end: a proxy generated with YAML rules serves requests ----

/// `<target>/<profile>`, where Cargo put the `protogate` binary under test.
fn profile_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_protogate"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A child process, killed when the test ends however it ends.
struct Process {
    name: &'static str,
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl Process {
    fn spawn(name: &'static str, command: &mut Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            name,
            child,
            lines,
            log: Vec::new(),
        }
    }

    fn wait_for_line(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.log.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "{} did not log {needle:?}; stderr:\n{}",
                    self.name,
                    self.log.join("\n")
                ),
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a plain socket: (status code, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "a unary reply has a length: {head}"
    );
    (status, body.to_string())
}

/// The example greeter proto without annotations + greeter.yaml → `protogate generate` → the
/// crate built standalone (in `<target>/standalone`, shared with tests/standalone.rs) → the
/// proxy in front of the example upstream serves the YAML's routes.
#[test]
fn proxy_generated_with_yaml_rules_serves_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let crate_dir = tmp.path().join("yaml-rules-proxy");
    let output = Command::new(env!("CARGO_BIN_EXE_protogate"))
        .args(["generate", "--proto"])
        .arg(fixture("helloworld/v1/greeter.proto"))
        .args(["-I", DIR, "--http-rules"])
        .arg(fixture("greeter.yaml"))
        .arg("--out")
        .arg(&crate_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let target = profile_dir().parent().unwrap().to_path_buf();
    let shared = target.join("standalone");
    cargo(&crate_dir, &["build", "--locked"], &shared);
    let proxy_bin = shared.join("debug/yaml-rules-proxy");

    let profile = profile_dir();
    let profile_name = profile.file_name().unwrap().to_string_lossy().into_owned();
    let mut args = vec![
        "build",
        "-p",
        "protogate-example-upstream",
        "--bin",
        "example-upstream",
    ];
    if profile_name != "debug" {
        args.extend(["--profile", profile_name.as_str()]);
    }
    cargo(&workspace(), &args, &target);

    let socket = tmp.path().join("up.sock");
    let mut upstream = Process::spawn(
        "example-upstream",
        Command::new(profile.join("example-upstream"))
            .arg("--listen")
            .arg(format!("unix:{}", socket.display())),
    );
    upstream.wait_for_line("listening");

    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = Process::spawn(
        "yaml-rules-proxy",
        Command::new(&proxy_bin)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--upstream")
            .arg(format!("unix:{}", socket.display()))
            .env_remove("PROTOGATE_LISTEN")
            .env_remove("PROTOGATE_UPSTREAM")
            .env("RUST_LOG", "info"),
    );
    proxy.wait_for_line("ready to serve");

    assert_eq!(
        http(port, "GET", "/v2/hello/yaml", ""),
        (200, r#"{"message":"Hello yaml"}"#.to_string())
    );
    assert_eq!(
        http(port, "POST", "/v2/hello", r#"{"name":"body"}"#),
        (200, r#"{"message":"Hello body"}"#.to_string())
    );
    // The proto's own examples/proto route is not there: only the YAML routes are.
    assert_eq!(http(port, "GET", "/v1/greeter/yaml", "").0, 404);
}

/// A file's own problem (an unknown key) does not hide its rules' problems: one run names them
/// all, each with its fix — a mistyped selector or field gets the name it was meant to be.
#[test]
fn every_problem_of_a_rule_file_at_once() {
    let all = errors(&["several.yaml"]);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(
        all[0].contains("several.yaml:8:7: error: unknown key `bodyy`"),
        "{}",
        all[0]
    );
    assert!(
        all[1].contains(
            "several.yaml:9:17: error: selector `shelf.v1.Shelves.CreateShelff` names no method"
        ),
        "{}",
        all[1]
    );
    assert!(
        all[1].contains("did you mean `shelf.v1.Shelves.CreateShelf`?"),
        "{}",
        all[1]
    );
    assert!(all[2].contains("path variable `{qeury}`"), "{}", all[2]);
    assert!(all[2].contains("help: did you mean `query`?"), "{}", all[2]);
}
