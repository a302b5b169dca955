#![allow(clippy::unwrap_used)]
//! The generated crate is standalone (DESIGN §2): generated outside this repository, it builds
//! with `cargo` from crates.io dependencies and its vendored copy of the runtime crate alone,
//! and its binary serves the example API.
//!
//! Slow: the first run compiles the generated crates' dependencies (2–4 minutes). They are
//! compiled into `<target>/standalone`, shared by the tests here and kept between runs; it lies
//! outside the generated crates, which stay standalone in their temporary directories.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

mod common;
use common::{cargo, workspace};

/// `<target>/<profile>`, where Cargo put the `protogate` binary under test.
fn profile_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_protogate"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    profile_dir().parent().unwrap().to_path_buf()
}

/// Where the generated crates are built: shared between tests and runs, outside the crates.
fn shared_target_dir() -> PathBuf {
    target_dir().join("standalone")
}

fn cargo_command() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs the built `protogate generate` in `cwd`; panics unless it exits 0.
fn protogate_generate(cwd: &Path, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_protogate"))
        .current_dir(cwd)
        .arg("generate")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "protogate generate {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Checks that `dir` (a freshly generated crate) depends on crates.io and its own copy of the
/// runtime only, with the versions this workspace uses pinned in its own `Cargo.lock`, and
/// that the copy is the workspace's runtime crate byte for byte.
fn prepare_standalone(dir: &Path) {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let mut section = String::new();
    for line in manifest.lines() {
        if line.starts_with('[') {
            section = line.to_string();
        } else if section.contains("dependencies") && !line.starts_with("protogate-runtime =") {
            assert!(
                !line.contains("path =") && !line.contains("path="),
                "the generated crate must depend on crates.io only: {line}"
            );
        }
    }
    let dependency = format!(
        "protogate-runtime = {{ path = \"protogate-runtime\", version = \"={}\" }}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        manifest.contains(&dependency),
        "the generated crate depends on its copy of the runtime:\n{manifest}"
    );
    let vendored = common::read_tree(&dir.join("protogate-runtime"));
    let workspace_runtime = common::read_tree(&workspace().join("runtime"));
    assert!(
        vendored == workspace_runtime,
        "protogate-runtime/ is not a copy of the workspace's runtime/: {:?} against {:?}",
        vendored.keys().collect::<Vec<_>>(),
        workspace_runtime.keys().collect::<Vec<_>>()
    );
    assert!(
        !manifest.contains("[workspace"),
        "the generated crate is not a workspace member"
    );
    assert!(
        dir.join("Cargo.lock").is_file(),
        "the generated crate pins its dependencies"
    );
}

/// A child process killed when the test ends, however it ends.
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

    /// Waits for a stderr line containing `needle`.
    fn wait_for_line(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.log.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{} did not log {needle:?} within {timeout:?}; stderr:\n{}",
                        self.name,
                        self.log.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().unwrap();
                    panic!(
                        "{} exited ({status}) before logging {needle:?}; stderr:\n{}",
                        self.name,
                        self.log.join("\n")
                    )
                }
            }
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {} failed", self.child.id());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.log.extend(self.lines.try_iter());
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?} of SIGTERM; stderr:\n{}",
                self.name,
                self.log.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 GET over a plain socket: (status code, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    http_get_on(stream, path)
}

/// One HTTP/1.1 GET over a Unix socket.
fn http_get_unix(socket: &Path, path: &str) -> (u16, String) {
    let stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    http_get_on(stream, path)
}

fn http_get_on(mut stream: impl Read + Write, path: &str) -> (u16, String) {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {response:?}"));
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// The example protos → a crate generated in a temporary directory → `cargo build` → the proxy
/// in front of the example upstream over a Unix socket → one REST call → SIGTERM → exit 0.
#[test]
fn generated_crate_builds_standalone_and_serves() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(
        &workspace().join("examples/proto"),
        &tmp.path().join("proto"),
    );
    protogate_generate(
        tmp.path(),
        &[
            "--proto",
            "proto/helloworld/v1/greeter.proto",
            "--proto",
            "proto/library/v1/library.proto",
            "-I",
            "proto",
            "--out",
            "standalone-proxy",
            "--crate-name",
            "standalone-proxy",
        ],
    );
    let crate_dir = tmp.path().join("standalone-proxy");
    prepare_standalone(&crate_dir);
    let shared = shared_target_dir();
    cargo(&crate_dir, &["build", "--locked"], &shared);
    let proxy_bin = shared.join("debug/standalone-proxy");
    assert!(proxy_bin.is_file(), "{} was not built", proxy_bin.display());

    // The example upstream, built in the workspace (another package's binaries are not in
    // this test's environment).
    let profile = profile_dir();
    let mut args = vec![
        "build",
        "-p",
        "protogate-example-upstream",
        "--bin",
        "example-upstream",
    ];
    let profile_name = profile.file_name().unwrap().to_string_lossy().into_owned();
    if profile_name != "debug" {
        args.extend(["--profile", profile_name.as_str()]);
    }
    cargo(&workspace(), &args, &target_dir());
    let upstream_bin = profile.join("example-upstream");
    assert!(
        upstream_bin.is_file(),
        "{} was not built",
        upstream_bin.display()
    );

    let socket = tmp.path().join("up.sock");
    let mut upstream = Process::spawn(
        "example-upstream",
        Command::new(&upstream_bin)
            .arg("--listen")
            .arg(format!("unix:{}", socket.display())),
    );
    upstream.wait_for_line("listening", Duration::from_secs(60));

    let port = free_port();
    let mut proxy = Process::spawn(
        "standalone-proxy",
        Command::new(&proxy_bin)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--upstream")
            .arg(format!("unix:{}", socket.display()))
            .env_remove("PROTOGATE_LISTEN")
            .env_remove("PROTOGATE_UPSTREAM")
            .env("RUST_LOG", "info"),
    );
    proxy.wait_for_line("ready to serve", Duration::from_secs(60));

    let (status, body) = http_get(port, "/v1/greeter/world");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"message":"Hello world"}"#),
        "proxy stderr:\n{}",
        proxy.log.join("\n")
    );

    let status = proxy.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "the proxy must exit 0 on SIGTERM, got {status}; stderr:\n{}",
        proxy.log.join("\n")
    );

    // Runtime flags override the generated options; bad values are refused at startup.
    let port = free_port();
    let mut proxy = Process::spawn(
        "standalone-proxy (flags)",
        Command::new(&proxy_bin)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--upstream")
            .arg(format!("unix:{}", socket.display()))
            // A bare boolean flag means true; `=true` and a separate value work too.
            .args([
                "--proto-names",
                "--enums-as-numbers=true",
                "--emit-defaults",
                "true",
            ])
            .args([
                "--default-timeout",
                "5s",
                "--drop-headers",
                "x-internal-*,cookie",
            ])
            .env("RUST_LOG", "info"),
    );
    proxy.wait_for_line("ready to serve", Duration::from_secs(60));
    let (status, body) = http_get(port, "/v1/shelves/1/books/1");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""display_name":"Ursula K. Le Guin""#) && body.contains(r#""genre":1"#),
        "proto names and enum numbers from the flags: {body}"
    );
    let status = proxy.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "the proxy must exit 0 on SIGTERM, got {status}; stderr:\n{}",
        proxy.log.join("\n")
    );
    for (flag, value) in [
        ("--default-timeout", "0s"),
        ("--default-timeout", "soon"),
        ("--drop-headers", "Not A Header"),
        ("--emit-defaults", "maybe"),
    ] {
        let output = Command::new(&proxy_bin)
            .args([flag, value, "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(flag),
            "{flag} {value} must be refused, naming the flag: {stderr}"
        );
    }

    // The same binary listening on a Unix socket, configured through the environment, replacing
    // the socket file a previous run left behind.
    let proxy_socket = tmp.path().join("proxy.sock");
    drop(std::os::unix::net::UnixListener::bind(&proxy_socket).unwrap());
    assert!(proxy_socket.exists(), "a stale socket file to replace");
    let mut proxy = Process::spawn(
        "standalone-proxy (unix)",
        Command::new(&proxy_bin)
            .env(
                "PROTOGATE_LISTEN",
                format!("unix:{}", proxy_socket.display()),
            )
            .env("PROTOGATE_UPSTREAM", format!("unix:{}", socket.display()))
            .env("RUST_LOG", "info"),
    );
    proxy.wait_for_line("ready to serve", Duration::from_secs(60));
    let (status, body) = http_get_unix(&proxy_socket, "/v1/greeter/unix");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"message":"Hello unix"}"#),
        "proxy stderr:\n{}",
        proxy.log.join("\n")
    );
    let status = proxy.terminate(Duration::from_secs(30));
    assert!(status.success(), "SIGTERM on the Unix listener: {status}");
    assert!(
        !proxy_socket.exists(),
        "the proxy removes its socket file on exit"
    );

    let status = upstream.terminate(Duration::from_secs(30));
    assert!(status.success(), "example-upstream: {status}");
}

/// STYLE 8: a service `Result` with methods `Drop` and `Clone`, messages `Option`, `Box`, `Vec`,
/// keyword field names, a oneof `kind` and an enum `Ordering` — the generated crate compiles.
#[test]
fn hostile_names_compile() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let out = tmp.path().join("hostile-proxy");
    protogate_generate(
        tmp.path(),
        &[
            "--proto",
            fixtures.join("hostile.proto").to_str().unwrap(),
            "-I",
            fixtures.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--crate-name",
            "hostile-proxy",
        ],
    );
    let routes = std::fs::read_to_string(out.join("src/routes.rs")).unwrap();
    for template in ["/v1/drop/{type}", "/v1/clone/{type}"] {
        assert!(routes.contains(template), "{template} is routed:\n{routes}");
    }
    prepare_standalone(&out);
    cargo(&out, &["check", "--locked"], &shared_target_dir());
}

/// Real APIs (`tests/fixtures/realworld/`, see `realworld.rs`): their generated crates compile
/// without a single warning, as a user's `-D warnings` CI demands. The crates share one
/// temporary workspace, so one `cargo check` builds them.
#[test]
fn real_api_crates_compile_without_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realworld");
    let googleapis = fixtures.join("googleapis");
    let gateway = fixtures.join("grpc-gateway");
    let sets: [(&str, &[&str], &Path, &[&str]); 6] = [
        (
            "cloud-tasks",
            &["google/cloud/tasks/v2/cloudtasks.proto"],
            &googleapis,
            &[],
        ),
        // Deprecated fields, served like any other.
        (
            "pubsub",
            &["google/pubsub/v1/pubsub.proto"],
            &googleapis,
            &[],
        ),
        // A PATCH whose body reaches a message without fields (`Optimized`).
        (
            "feature-online-store",
            &["google/cloud/aiplatform/v1/feature_online_store_admin_service.proto"],
            &googleapis,
            &[],
        ),
        (
            "schema-registry",
            &["google/cloud/managedkafka/schemaregistry/v1/schema_registry.proto"],
            &googleapis,
            &[],
        ),
        (
            "gateway-examples",
            &[
                "examples/internal/proto/examplepb/wrappers.proto",
                "examples/internal/proto/examplepb/echo_service.proto",
                "examples/internal/proto/examplepb/flow_combination.proto",
            ],
            &gateway,
            &[],
        ),
        (
            "a-bit-of-everything",
            &["examples/internal/proto/examplepb/a_bit_of_everything.proto"],
            &gateway,
            &["--skip-invalid-methods"],
        ),
    ];
    // One workspace holds every crate, so they share the workspace's runtime crate (a path
    // dependency, as in a monorepo): vendored copies would be several packages of one name.
    let runtime = format!("path={}", workspace().join("runtime").display());
    let mut members = Vec::new();
    for (name, protos, include, flags) in sets {
        let out = tmp.path().join(name);
        let mut args: Vec<&str> = Vec::new();
        for proto in protos {
            args.extend(["--proto", proto]);
        }
        args.extend([
            "-I",
            include.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        args.extend(flags);
        args.extend(["--runtime", &runtime]);
        protogate_generate(tmp.path(), &args);
        std::fs::remove_file(out.join("Cargo.lock")).unwrap();
        members.push(format!("{name:?}"));
    }
    std::fs::write(
        tmp.path().join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    )
    .unwrap();
    std::fs::copy(
        workspace().join("Cargo.lock"),
        tmp.path().join("Cargo.lock"),
    )
    .unwrap();
    let output = cargo_command()
        .current_dir(tmp.path())
        .args([
            "check",
            "--workspace",
            "--all-targets",
            "--offline",
            "--message-format=short",
        ])
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo check failed:\n{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert!(warnings.is_empty(), "warnings:\n{}", warnings.join("\n"));
}

/// The demo stops, showing the server's own error, when a server cannot start: here the
/// upstream's port is taken. (It used to report "serving" while every call answered 14.)
#[test]
fn the_demo_reports_a_server_that_cannot_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = Command::new("bash")
        .arg(workspace().join("examples/demo.sh"))
        .env("UPSTREAM_PORT", port.to_string())
        .env("PROXY_PORT", free_port().to_string())
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the upstream exited before it was ready"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&port.to_string()),
        "the upstream's own error: {stderr}"
    );
    drop(taken);
}

/// The fenced block that follows `<!-- readme-app: NAME -->` in README.md.
fn readme_block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- readme-app: {name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no `{marker}`"))
        .1;
    let body = after
        .trim_start()
        .split_once('\n')
        .map(|(fence, rest)| {
            assert!(
                fence.starts_with("```"),
                "`{marker}` is not followed by a fenced block"
            );
            rest
        })
        .unwrap();
    body.split_once("\n```")
        .map(|(code, _)| format!("{code}\n"))
        .unwrap_or_else(|| panic!("the block after `{marker}` does not end"))
}

/// README.md's build.rs section is a crate: its `Cargo.toml`, `build.rs` and `src/lib.rs` are
/// written out as they stand, beside a checkout of this repository at `../protogate` as the
/// section says, and built. A README change that would not compile fails here.
#[test]
fn readme_build_script_crate_builds_as_written() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(workspace(), tmp.path().join("protogate")).unwrap();
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    for (name, path) in [
        ("Cargo.toml", "Cargo.toml"),
        ("build.rs", "build.rs"),
        ("src/lib.rs", "src/lib.rs"),
    ] {
        std::fs::write(app.join(path), readme_block(&readme, name)).unwrap();
    }
    copy_dir(
        &workspace().join("examples/proto/helloworld"),
        &app.join("proto/helloworld"),
    );
    // The workspace's lock: the same versions as every other build here, offline.
    std::fs::copy(workspace().join("Cargo.lock"), app.join("Cargo.lock")).unwrap();
    cargo(&app, &["build"], &shared_target_dir());
}
