"""The real-API sweep (run it through tests/realworld/sweep.sh; `--help` for the options).

Generates every file of a list of googleapis files carrying HttpRules, one `protogate generate`
run per file, and grpc-gateway's example protos, in parallel with a timeout per run; classifies
each run; builds a few sample crates with one shared CARGO_TARGET_DIR; writes summary.json and
results.tsv under target/realworld/<mode>/ and prints the figures.

Standard library only, so that nothing needs installing.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "realworld"
GOOGLEAPIS_TARBALL = "googleapis-f8291d2b.tar.xz"
GOOGLEAPIS_FILES = "googleapis-http-files.txt"
GRPC_GATEWAY_TARBALL = "grpc-gateway-examples-9648db43.tar.xz"
GRPC_GATEWAY_EXAMPLES = "examples/internal/proto"
A_BIT_OF_EVERYTHING = "examples/internal/proto/examplepb/a_bit_of_everything.proto"

# A path segment that starts an API version: v1, v2beta3, v1p1beta1, v1small, …
VERSION_SEGMENT = re.compile(r"v\d+[a-z0-9]*")
ERROR_LINE = re.compile(r"^(?:\S+:\d+:\d+: )?error: (.*)$")
# The fully qualified RPC or message an error starts with: `pkg.v1.Service.Method: `.
QUALIFIED_PREFIX = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+: ")
# The notes of --skip-invalid-methods and --exclude-method: what a run left out, and why.
SKIPPED_NOTE = re.compile(
    r"^note: (\S+) is skipped: (?:its rules are invalid(?: \([^)]*\))?: )?(.*)$"
)
EXCLUDED_NOTE = re.compile(r"^note: (\S+) is excluded\b")
PANIC_AT = re.compile(r"panicked at (?:'(.*)', )?([^\s:]+):(\d+):\d+:?")


def die(message: str) -> None:
    print(f"sweep: {message}", file=sys.stderr)
    sys.exit(2)


def rel(path: Path) -> str:
    """`path` relative to the repository when inside it, for logs that read the same anywhere."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def run_bounded(
    command: list[str], cwd: Path, env: dict, timeout: float
) -> tuple[int | None, str, str]:
    """Runs `command` to its end or for `timeout` seconds, whichever comes first: the exit status
    (None on a timeout), stdout and stderr. On a timeout its whole process group is killed, so
    that no compiler cargo started outlives it."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            return process.returncode, stdout, stderr
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            return None, stdout, stderr


# --- inputs ---------------------------------------------------------------------------------


def unpack(source: Path, into: Path) -> Path:
    """A directory as is, or a tarball unpacked into `into` (once per tarball)."""
    if source.is_dir():
        return source.resolve()
    if not source.is_file():
        die(f"{source} is neither a directory nor a tarball")
    stat = source.stat()
    stamp_text = f"{source.resolve()} {stat.st_size} {int(stat.st_mtime)}\n"
    stamp = into / ".unpacked-from"
    if stamp.is_file() and stamp.read_text() == stamp_text:
        return into.resolve()
    print(f"== unpacking {source} into {rel(into)}", flush=True)
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    subprocess.run(["tar", "-xJf", str(source), "-C", str(into)], check=True)
    stamp.write_text(stamp_text)
    return into.resolve()


def api_of(path: str) -> str:
    """The API a googleapis file belongs to: its directory up to the version segment."""
    parts = path.split("/")[:-1]
    api = []
    for part in parts:
        if VERSION_SEGMENT.fullmatch(part):
            break
        api.append(part)
    return "/".join(api) or "."


def stable_key(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


def ci_sample(files: list[str], size: int | None) -> list[str]:
    """A deterministic spread over the APIs: round after round, one file of each API (the next
    by a hash of its path, so versions and services mix), until `size` (default: one round)."""
    by_api: dict[str, list[str]] = collections.defaultdict(list)
    for path in files:
        by_api[api_of(path)].append(path)
    queues = [sorted(v, key=stable_key) for _, v in sorted(by_api.items())]
    if size is None:
        size = len(queues)
    picked: list[str] = []
    depth = 0
    while len(picked) < size and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(picked) < size:
                picked.append(queue[depth])
        depth += 1
    return sorted(picked)


def has_service(path: Path) -> bool:
    return (
        re.search(r"^\s*service\s+\w+", path.read_text(errors="replace"), re.MULTILINE) is not None
    )


# --- one generator run ----------------------------------------------------------------------


@dataclass
class Run:
    """One `protogate generate` run and what came of it."""

    set: str
    name: str
    protos: list[str]  # relative to the first include directory
    includes: list[Path]
    outcome: str = ""  # ok, error, panic, crash, timeout
    exit: int | None = None
    seconds: float = 0.0
    category: str = ""
    message: str = ""
    log: str = ""
    errors: int = 0  # error lines: the generator reports every invalid rule at once
    # Methods left out with --skip-invalid-methods: (method, reason).
    skipped: list[tuple[str, str]] = field(default_factory=list)
    excluded: int = 0

    def command(self, protogate: str, out: str, flags: list[str]) -> list[str]:
        """The command line, run from the repository root (paths relative to it when inside)."""
        command = [rel(Path(protogate)), "generate"]
        for proto in self.protos:
            command += ["--proto", rel(self.includes[0] / proto)]
        for include in self.includes:
            command += ["-I", rel(include)]
        return command + ["--out", rel(Path(out))] + flags


def normalize(message: str) -> str:
    """An error or panic message with its particulars (quoted names and templates, file paths,
    qualified type and RPC names, numbers) blanked, so that messages of one kind group."""
    message = QUALIFIED_PREFIX.sub("", message.strip())
    message = re.sub(r"`[^`]*`", "`…`", message)
    message = re.sub(r'"[^"]*"', '"…"', message)
    message = re.sub(r"\S+\.proto(?![\w.])", "….proto", message)
    # `google.api.http` stays; `pkg.v1.Service.Method` and `pkg.v1.Message` go.
    message = re.sub(
        r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){2,}\b",
        lambda m: "…" if any(c.isupper() for c in m.group()) else m.group(),
        message,
    )
    message = re.sub(r"\b\d+\b", "N", message)
    return message if len(message) <= 110 else message[:109] + "…"


def classify(run: Run, returncode: int | None, stderr: str) -> None:
    lines = stderr.splitlines()
    run.skipped = [(m.group(1), m.group(2)) for m in map(SKIPPED_NOTE.match, lines) if m]
    run.excluded = sum(1 for line in lines if EXCLUDED_NOTE.match(line))
    if returncode is None:
        run.outcome, run.category = "timeout", "timeout"
        return
    run.exit = returncode
    panic = next((i for i, line in enumerate(lines) if "panicked at" in line), None)
    if returncode == 0 and panic is None:
        run.outcome = "ok"
        return
    if panic is not None:
        match = PANIC_AT.search(lines[panic])
        text = ""
        if match and match.group(1):
            text = match.group(1)
        elif panic + 1 < len(lines):
            text = lines[panic + 1]
        where = f"{match.group(2)}:{match.group(3)}" if match else "?"
        run.outcome = "panic"
        run.category = f"panicked at {where}: {normalize(text)}"
        run.message = f"panicked at {where}: {text.strip()}"
        return
    errors = [m.group(1) for m in map(ERROR_LINE.match, lines) if m]
    if returncode == 2 and errors:
        run.outcome = "error"
        run.category = normalize(errors[0])
        run.message = errors[0].strip()
        run.errors = len(errors)
        return
    # Killed by a signal (a stack overflow aborts), or an exit status the CLI does not promise.
    run.outcome = "crash"
    if returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exit status {returncode}"
    last = next((line for line in reversed(lines) if line.strip()), "")
    run.category = f"{how}: {normalize(last)}" if last else how
    run.message = f"{how}: {last.strip()}"


def generate(
    run: Run, protogate: str, out: Path, logs: Path, flags: list[str], timeout: float, keep: bool
) -> Run:
    if out.exists():
        shutil.rmtree(out)
    command = run.command(protogate, str(out), flags)
    env = dict(os.environ, RUST_BACKTRACE="0")
    started = time.monotonic()
    returncode, _, stderr = run_bounded(command, REPO, env, timeout)
    run.seconds = time.monotonic() - started
    classify(run, returncode, stderr)
    log = logs / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        f"$ {shlex.join(command)}\n# {run.outcome}, exit {run.exit}, {run.seconds:.1f}s\n{stderr}"
    )
    run.log = rel(log)
    if run.outcome != "ok" or not keep:
        shutil.rmtree(out, ignore_errors=True)
    return run


def run_all(runs: list[Run], args, protogate: str, work: Path, flags: list[str]) -> None:
    if not runs:
        return
    label = runs[0].set
    print(
        f"== {label}: {len(runs)} generator runs, {args.jobs} at a time, "
        f"{args.timeout:g}s timeout each",
        flush=True,
    )
    started = time.monotonic()
    step = max(1, len(runs) // 10)
    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(
                generate,
                run,
                protogate,
                work / "out" / run.set / run.name,
                work / "logs" / run.set,
                flags,
                args.timeout,
                args.keep_output,
            )
            for run in runs
        ]
        for _ in concurrent.futures.as_completed(futures):
            done += 1
            if done % step == 0 or done == len(runs):
                counts = collections.Counter(r.outcome for r in runs if r.outcome)
                print(
                    f"   {done}/{len(runs)} in {time.monotonic() - started:.0f}s: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                    flush=True,
                )
        for future in futures:
            future.result()


def children_cpu() -> float:
    """CPU seconds (user and system) of the reaped child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summarize(runs: list[Run], seconds: float, cpu: float) -> dict:
    counts = collections.Counter(r.outcome for r in runs)
    groups: dict[tuple[str, str], list[Run]] = collections.defaultdict(list)
    for run in runs:
        if run.outcome != "ok":
            groups[(run.outcome, run.category)].append(run)
    categories = []
    for (outcome, category), members in groups.items():
        example = min(members, key=lambda r: r.name)
        categories.append(
            {
                "outcome": outcome,
                "category": category,
                "count": len(members),
                "example": " ".join(example.protos),
                "message": example.message,
                "log": example.log,
            }
        )
    # A run that generated may have left methods out (--skip-invalid-methods): those count too,
    # by method, so that skipping does not hide what the generator rejects.
    skips: dict[str, list[tuple[Run, str]]] = collections.defaultdict(list)
    for run in runs:
        for method, reason in run.skipped:
            skips[normalize(reason)].append((run, f"{method}: {reason}"))
    for category, members in skips.items():
        example, message = min(members, key=lambda m: (m[0].name, m[1]))
        categories.append(
            {
                "outcome": "skipped",
                "category": category,
                "count": len(members),
                "example": " ".join(example.protos),
                "message": message,
                "log": example.log,
            }
        )
    order = ["panic", "crash", "timeout", "error", "skipped"]
    categories.sort(key=lambda c: (order.index(c["outcome"]), -c["count"], c["category"]))
    slowest = max(runs, key=lambda r: r.seconds) if runs else None
    return {
        "files": len(runs),
        **{k: counts.get(k, 0) for k in ["ok", "error", "panic", "crash", "timeout"]},
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "skipped_methods": sum(len(r.skipped) for r in runs),
        "files_with_skipped_methods": sum(1 for r in runs if r.skipped),
        "excluded_methods": sum(r.excluded for r in runs),
        "slowest": {"file": " ".join(slowest.protos), "seconds": round(slowest.seconds, 1)}
        if slowest
        else None,
        "categories": categories,
    }


# --- sample crates ---------------------------------------------------------------------------


@dataclass
class Sample:
    name: str
    run: Run


def cargo_build(crate: Path, target_dir: Path, timeout: float, log: Path) -> dict:
    """`cargo build` of one crate (offline first; online when offline lacks a download), with
    its time, and the warnings and errors of the crate's own code counted from cargo's JSON."""
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    env.setdefault("CARGO_INCREMENTAL", "0")
    base = ["cargo", "build", "--message-format=json"]
    started = time.monotonic()
    result: dict = {}
    with log.open("w") as out:
        for offline in (True, False):
            command = base + (["--offline"] if offline else [])
            out.write(
                f"$ (cd {rel(crate)} && CARGO_TARGET_DIR={rel(target_dir)} {shlex.join(command)})\n"
            )
            out.flush()
            returncode, stdout, stderr = run_bounded(command, crate, env, timeout)
            if returncode is None:
                out.write(stderr)
                result = {"build": "timeout"}
                break
            warnings, errors, compiled = [], [], 0
            for line in stdout.splitlines():
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if message.get("reason") == "compiler-artifact" and not message.get("fresh"):
                    compiled += 1
                if message.get("reason") != "compiler-message":
                    continue
                diagnostic = message["message"]
                if not diagnostic.get("spans"):
                    continue  # "N warnings emitted" and the like
                rendered = diagnostic.get("rendered") or diagnostic.get("message", "")
                if diagnostic.get("level") == "warning":
                    warnings.append(rendered)
                elif diagnostic.get("level") in ("error", "error: internal compiler error"):
                    errors.append(rendered)
            out.write("".join(warnings) + "".join(errors) + stderr)
            if returncode != 0 and offline and "offline" in stderr and not errors:
                out.write("# retrying online\n")
                continue
            result = {
                "build": "ok" if returncode == 0 else "failed",
                "warnings": len(warnings),
                "errors": len(errors),
                "units_compiled": compiled,
            }
            if warnings:
                result["first_warning"] = warnings[0].splitlines()[0]
            if errors:
                result["first_error"] = errors[0].splitlines()[0]
            elif returncode != 0:
                tail = [x for x in stderr.splitlines() if x.strip()]
                result["first_error"] = tail[-1] if tail else f"exit {returncode}"
            break
    result["seconds"] = round(time.monotonic() - started, 1)
    result["log"] = rel(log)
    return result


def make_standalone(crate: Path) -> None:
    """A generated crate is standalone; inside this repository cargo would take it for a member
    of the workspace, so it gets an empty [workspace] table. A crate generated without a
    Cargo.lock gets the workspace's, for the dependency versions the workspace already uses (so
    it builds offline)."""
    with (crate / "Cargo.toml").open("a") as manifest:
        manifest.write(
            "\n# Added by tests/realworld/sweep.py: not a member of the repository's "
            "workspace.\n[workspace]\n"
        )
    if not (crate / "Cargo.lock").exists():
        shutil.copy(REPO / "Cargo.lock", crate / "Cargo.lock")


def dependencies_crate(from_crate: Path, into: Path) -> None:
    """A stub with a generated crate's manifest and empty sources: building it compiles the
    dependencies, the vendored runtime included (cargo reuses that build for the byte-identical
    copy at the same place in each crate), so that each sample's time is its own code's."""
    if into.exists():
        shutil.rmtree(into)
    (into / "src").mkdir(parents=True)
    manifest = (from_crate / "Cargo.toml").read_text()
    name = re.search(r'^name = "([^"]+)"', manifest, re.MULTILINE).group(1)
    manifest = manifest.replace(f'"{name}"', '"realworld-dependencies"')

    # Path dependencies (the vendored runtime): copied when inside the crate, else made absolute.
    def path_dependency(match: re.Match) -> str:
        target = (from_crate / match.group(2)).resolve()
        if target.is_relative_to(from_crate.resolve()):
            shutil.copytree(target, into / match.group(2), ignore=shutil.ignore_patterns("target"))
            return match.group(0)
        return f'{match.group(1)}"{target}"'

    manifest = re.sub(r'(\{[^}\n]*\bpath = )"([^"]+)"', path_dependency, manifest)
    (into / "Cargo.toml").write_text(manifest)
    shutil.copy(from_crate / "Cargo.lock", into / "Cargo.lock")
    (into / "src" / "lib.rs").write_text("")
    (into / "src" / "main.rs").write_text("fn main() {}\n")


def build_samples(
    samples: list[Sample], args, protogate: str, work: Path, flags: list[str], target_dir: Path
) -> list[dict]:
    crates = work / "crates"
    logs = work / "logs" / "samples"
    rows = []
    if not samples:
        return rows
    print(f"== sample crates: generating {len(samples)}", flush=True)
    for sample in samples:
        generate(sample.run, protogate, crates / sample.name, logs, flags, args.timeout, keep=True)
        print(
            f"   {sample.name}: {sample.run.outcome} in {sample.run.seconds:.1f}s"
            + (f" ({sample.run.message})" if sample.run.message else ""),
            flush=True,
        )
    generated = [s for s in samples if s.run.outcome == "ok"]
    for sample in generated:
        make_standalone(crates / sample.name)
    print(f"== sample crates: building with CARGO_TARGET_DIR={rel(target_dir)}", flush=True)
    if generated:
        stub = crates / "realworld-dependencies"
        dependencies_crate(crates / generated[0].name, stub)
        deps = cargo_build(stub, target_dir, args.build_timeout, logs / "dependencies.build.log")
        print(
            f"   dependencies: {deps['build']} in {deps['seconds']}s "
            f"({deps.get('units_compiled', 0)} compiled)",
            flush=True,
        )
        rows.append({"name": "dependencies", "generate": "-", **deps})
    for sample in samples:
        row = {
            "name": sample.name,
            "protos": sample.run.protos,
            "generate": sample.run.outcome,
            "generate_seconds": round(sample.run.seconds, 1),
        }
        if sample.run.outcome != "ok":
            row.update(
                build="not generated",
                generate_message=sample.run.message,
                generate_log=sample.run.log,
            )
        else:
            row["lines"] = sum(
                len(p.read_text(errors="replace").splitlines())
                for p in (crates / sample.name / "src").rglob("*.rs")
            )
            row.update(
                cargo_build(
                    crates / sample.name,
                    target_dir,
                    args.build_timeout,
                    logs / f"{sample.name}.build.log",
                )
            )
            print(
                f"   {sample.name}: {row['build']} in {row['seconds']}s, "
                f"{row.get('warnings', '?')} warnings, {row.get('errors', '?')} errors",
                flush=True,
            )
        rows.append(row)
    return rows


# --- report ----------------------------------------------------------------------------------


def print_table(summary: dict) -> None:
    for name, data in summary["sets"].items():
        if not data["files"]:
            continue
        print(
            f"\n{name}: {data['files']} files in {data['seconds']:.0f}s "
            f"({data['cpu_seconds']:.0f}s CPU): ok {data['ok']}, "
            f"error {data['error']}, panic {data['panic']}, crash {data['crash']}, "
            f"timeout {data['timeout']}"
        )
        if data["skipped_methods"] or data["excluded_methods"]:
            print(
                f"  and {data['skipped_methods']} methods skipped as invalid in "
                f"{data['files_with_skipped_methods']} of the files that generated, "
                f"{data['excluded_methods']} excluded"
            )
        if data["categories"]:
            print(f"  {'outcome':8} {'count':>5}  category (example; skipped counts methods)")
        for c in data["categories"]:
            print(
                f"  {c['outcome']:8} {c['count']:5}  {c['category']}\n"
                f"  {'':8} {'':5}    e.g. {c['example']}"
            )
    if summary["builds"]:
        print(f"\nsample crates (CARGO_TARGET_DIR={summary['build_target_dir']}):")
        print(
            f"  {'crate':24} {'generate':9} {'build':14} {'seconds':>8} {'warnings':>8} "
            f"{'errors':>6} {'lines':>8}"
        )
        for row in summary["builds"]:
            print(
                f"  {row['name']:24} {row['generate']:9} {row['build']:14} "
                f"{row.get('seconds', ''):>8} {row.get('warnings', ''):>8} "
                f"{row.get('errors', ''):>6} {row.get('lines', ''):>8}"
            )
            if row.get("first_error"):
                print(f"  {'':24} first error: {row['first_error']}")
            elif row.get("generate_message"):
                print(f"  {'':24} {row['generate_message'][:150]}")
    print(f"\nsummary: {summary['summary_json']} (every run: {summary['results_tsv']})")


def git_describe() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], check=False, cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "generator_changed": bool(
            git("status", "--porcelain", "--", "codegen", "templates", "runtime")
        ),
    }


# --- main ------------------------------------------------------------------------------------


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tests/realworld/sweep.sh",
        description="Generate real APIs (googleapis, grpc-gateway's examples) with protogate, one "
        "run per file, and build sample crates. Flags after `--` (and "
        "SWEEP_GENERATE_FLAGS) go to every `protogate generate` run.",
        epilog="Exit status: 0 done, 1 a threshold (--fail-on-panic, --min-ok, --fail-on-build) "
        "failed, 2 bad usage or setup.",
    )
    parser.add_argument(
        "--ci",
        action="store_true",
        help="the CI sample: one googleapis file of each API (or --sample N), "
        "the grpc-gateway examples, and the small crate built",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="with --ci: N googleapis files, spread round-robin over the APIs",
    )
    parser.add_argument(
        "--googleapis",
        type=Path,
        metavar="DIR|TARBALL",
        default=os.environ.get("SWEEP_GOOGLEAPIS", SHARED / GOOGLEAPIS_TARBALL),
        help="googleapis include root, or a tarball of one to unpack into "
        "target/realworld/ (default: %(default)s; SWEEP_GOOGLEAPIS)",
    )
    parser.add_argument(
        "--files",
        type=Path,
        metavar="LIST",
        default=os.environ.get("SWEEP_FILES", SHARED / GOOGLEAPIS_FILES),
        help="the googleapis files with HttpRules, one path a line relative to "
        "the include root (default: %(default)s; SWEEP_FILES)",
    )
    parser.add_argument(
        "--grpc-gateway",
        type=Path,
        metavar="DIR|TARBALL",
        default=os.environ.get("SWEEP_GRPC_GATEWAY", SHARED / GRPC_GATEWAY_TARBALL),
        help="grpc-gateway's examples root or tarball (default: %(default)s; SWEEP_GRPC_GATEWAY)",
    )
    parser.add_argument(
        "--match", metavar="REGEX", help="only the files (of both sets) whose path matches REGEX"
    )
    parser.add_argument(
        "--protogate",
        metavar="BIN",
        default=os.environ.get("SWEEP_PROTOGATE"),
        help="the generator to run (default: build it with cargo; SWEEP_PROTOGATE)",
    )
    parser.add_argument(
        "--release",
        action="store_true",
        help="build and run the release generator (faster on the full run)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=int(os.environ.get("SWEEP_JOBS", str(os.cpu_count() or 2))),
        help="generator runs at a time (default: cores)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("SWEEP_TIMEOUT", "600")),
        metavar="SECONDS",
        help="per generator run (default: %(default)s; SWEEP_TIMEOUT)",
    )
    parser.add_argument(
        "--builds",
        choices=["all", "small", "none"],
        default=os.environ.get("SWEEP_BUILDS"),
        help="sample crates to build (default: all; with --ci, small; SWEEP_BUILDS)",
    )
    parser.add_argument(
        "--build-timeout",
        type=float,
        metavar="SECONDS",
        default=float(os.environ.get("SWEEP_BUILD_TIMEOUT", "3600")),
        help="per cargo build (default: %(default)s)",
    )
    parser.add_argument(
        "--build-target-dir",
        type=Path,
        metavar="DIR",
        default=os.environ.get("SWEEP_BUILD_TARGET_DIR"),
        help="CARGO_TARGET_DIR shared by the sample builds (default: "
        "target/realworld/cargo-target; with --ci, target/standalone, where "
        "the codegen tests build generated crates with the same "
        "dependencies)",
    )
    parser.add_argument(
        "--name",
        help="the run's directory under target/realworld/ (default: ci or full), to keep the "
        "figures of runs with different flags side by side",
    )
    parser.add_argument(
        "--keep-output", action="store_true", help="keep the crates of successful runs under out/"
    )
    parser.add_argument(
        "--fail-on-panic",
        action="store_true",
        default=env_flag("SWEEP_FAIL_ON_PANIC"),
        help="exit 1 when a generator run panics or crashes (SWEEP_FAIL_ON_PANIC=1)",
    )
    parser.add_argument(
        "--min-ok",
        type=int,
        metavar="N",
        default=int(os.environ.get("SWEEP_MIN_OK", "0")),
        help="exit 1 when fewer than N googleapis files generate (SWEEP_MIN_OK)",
    )
    parser.add_argument(
        "--fail-on-build",
        action="store_true",
        default=env_flag("SWEEP_FAIL_ON_BUILD"),
        help="exit 1 when a generated sample crate fails to build or warns (SWEEP_FAIL_ON_BUILD=1)",
    )
    parser.add_argument(
        "generate_flags", nargs="*", metavar="-- FLAG", help="extra `protogate generate` flags"
    )
    args = parser.parse_args()
    if args.builds is None:
        args.builds = "small" if args.ci else "all"
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    flags = shlex.split(os.environ.get("SWEEP_GENERATE_FLAGS", "")) + args.generate_flags
    mode = "ci" if args.ci else "full"
    cargo_target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not cargo_target.is_absolute():
        cargo_target = REPO / cargo_target
    realworld = REPO / "target" / "realworld"
    work = realworld / (args.name or mode)
    if work.resolve().parent != realworld.resolve() or work.name in (
        "googleapis",
        "grpc-gateway",
        "cargo-target",
    ):
        die(f"--name {args.name}: not a plain directory name for target/realworld/")
    started = time.monotonic()

    googleapis = unpack(Path(args.googleapis), realworld / "googleapis")
    gateway = unpack(Path(args.grpc_gateway), realworld / "grpc-gateway")
    if not Path(args.files).is_file():
        die(f"{args.files}: no such list of files")
    files = [
        line.strip()
        for line in Path(args.files).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    missing = [f for f in files if not (googleapis / f).is_file()]
    if missing:
        die(f"{len(missing)} listed files are not under {googleapis}, e.g. {missing[0]}")
    if args.ci:
        files = ci_sample(files, args.sample)
    gateway_files = sorted(
        str(p.relative_to(gateway))
        for p in (gateway / GRPC_GATEWAY_EXAMPLES).rglob("*.proto")
        if has_service(p)
    )
    if args.match:
        pattern = re.compile(args.match)
        files = [f for f in files if pattern.search(f)]
        gateway_files = [f for f in gateway_files if pattern.search(f)]

    if args.protogate:
        protogate = str(Path(args.protogate).resolve())
    else:
        profile = "release" if args.release else "debug"
        print(f"== building protogate ({profile})", flush=True)
        command = ["cargo", "build", "--quiet", "--locked", "-p", "protogate"]
        env = dict(os.environ)
        env.setdefault("CARGO_INCREMENTAL", "0")
        if (
            subprocess.run(
                command + (["--release"] if args.release else []), check=False, cwd=REPO, env=env
            ).returncode
            != 0
        ):
            die("building protogate failed")
        protogate = str(cargo_target / profile / "protogate")

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    def googleapis_run(protos: list[str], name: str) -> Run:
        return Run("googleapis", name, protos, [googleapis])

    def gateway_run(protos: list[str], name: str) -> Run:
        return Run("grpc-gateway", name, protos, [gateway, googleapis])

    def slug(path: str) -> str:
        return re.sub(r"[^A-Za-z0-9_]+", "-", path.removesuffix(".proto"))

    sets = {
        "googleapis": [googleapis_run([f], slug(f)) for f in files],
        "grpc-gateway": [gateway_run([f], slug(f)) for f in gateway_files],
    }
    summary: dict = {
        "mode": mode,
        "generator": rel(Path(protogate)),
        "flags": flags,
        "jobs": args.jobs,
        "timeout": args.timeout,
        "repository": git_describe(),
        # Other work on the machine stretches every time here: the load says how much.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "sets": {},
    }
    for name, runs in sets.items():
        set_started, cpu_started = time.monotonic(), children_cpu()
        run_all(runs, args, protogate, work, flags)
        summary["sets"][name] = summarize(
            runs, time.monotonic() - set_started, children_cpu() - cpu_started
        )

    samples = []
    if args.builds != "none":
        samples.append(
            Sample(
                "small-secretmanager",
                googleapis_run(
                    ["google/cloud/secretmanager/v1/service.proto"], "small-secretmanager"
                ),
            )
        )
    if args.builds == "all":
        aiplatform = sorted(
            str(p.relative_to(googleapis))
            for p in (googleapis / "google/cloud/aiplatform/v1").glob("*service.proto")
        )
        samples += [
            Sample(
                "compute-v1",
                googleapis_run(["google/cloud/compute/v1/compute.proto"], "compute-v1"),
            ),
            Sample("aiplatform-v1", googleapis_run(aiplatform, "aiplatform-v1")),
            Sample(
                "a-bit-of-everything", gateway_run([A_BIT_OF_EVERYTHING], "a-bit-of-everything")
            ),
        ]
    if args.build_target_dir:
        target_dir = Path(args.build_target_dir).resolve()
    elif args.ci:
        target_dir = cargo_target / "standalone"
    else:
        target_dir = realworld / "cargo-target"
    summary["build_target_dir"] = rel(target_dir)
    summary["builds"] = build_samples(samples, args, protogate, work, flags, target_dir)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]

    failures = []
    all_runs = [r for runs in sets.values() for r in runs] + [s.run for s in samples]
    broken = [r for r in all_runs if r.outcome in ("panic", "crash")]
    if args.fail_on_panic and broken:
        failures.append(f"{len(broken)} generator runs panicked or crashed")
    ok = summary["sets"]["googleapis"]["ok"]
    if ok < args.min_ok:
        failures.append(f"{ok} googleapis files generated, fewer than --min-ok {args.min_ok}")
    if args.fail_on_build:
        bad = [
            r["name"]
            for r in summary["builds"]
            if r["generate"] == "ok" and (r["build"] != "ok" or r.get("warnings"))
        ]
        if bad:
            failures.append(f"sample crates failed to build or warned: {', '.join(bad)}")
    summary["thresholds"] = {
        "fail_on_panic": args.fail_on_panic,
        "min_ok": args.min_ok,
        "fail_on_build": args.fail_on_build,
        "failures": failures,
    }

    tsv = work / "results.tsv"
    with tsv.open("w") as out:
        out.write("set\tfile\toutcome\texit\tseconds\terrors\tskipped_methods\tcategory\n")
        for name, runs in sets.items():
            for run in runs:
                out.write(
                    "\t".join(
                        [
                            name,
                            " ".join(run.protos),
                            run.outcome,
                            "" if run.exit is None else str(run.exit),
                            f"{run.seconds:.2f}",
                            str(run.errors),
                            str(len(run.skipped)),
                            run.category,
                        ]
                    )
                    + "\n"
                )
    summary["summary_json"] = rel(work / "summary.json")
    summary["results_tsv"] = rel(tsv)
    (work / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print_table(summary)
    print(
        f"sweep: {mode} run took {summary['seconds']:.0f}s (1-minute load average "
        f"{summary['load_average_at_start'][0]} at the start, "
        f"{summary['load_average_at_end'][0]} at the end, on {os.cpu_count()} cores)"
    )
    for failure in failures:
        print(f"sweep: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
