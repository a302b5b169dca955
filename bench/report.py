#!/usr/bin/env python3
"""Prints the table of a bench/run.sh run as Markdown: bench/report.py RESULTS_DIR.

RESULTS_DIR holds results.jsonl (one line per load run, from bench-load) and meta.env (key=value
lines written by run.sh). Each figure is the median over the rounds with the [min-max] spread;
ratios are computed per round (a proxied run against the direct gRPC run of the same round and
scenario, or the proxy against the upstream within one run) and then summarised the same way.
"""

import json
import pathlib
import statistics
import sys

MIB = 1024

TARGETS = {
    "cpu": "≤ 1.0",
    "rps": "≥ 0.8",
    "p99": "≤ 1.3",
    "stream": "≥ 100,000 msg/s",
    "rss": "≤ 16 MiB",
    "generate": "< 1 s",
    "compile": "< 60 s",
}


def read_meta(path: pathlib.Path) -> dict:
    meta = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            meta[key] = value
    return meta


def spread(values, fmt="{:,.0f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def kernel_part(group, key):
    """The kernel's µs/req, as spread(); empty for results from before bench-load reported it."""
    if not any(key in r for r in group):
        return ""
    return spread([r.get(key) for r in group], "{:.1f}")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def verdict(value, ok) -> str:
    if value is None:
        return "–"
    return "yes" if ok(value) else "**no**"


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    meta = read_meta(out / "meta.env")
    runs = []
    results = out / "results.jsonl"
    if results.exists():
        runs = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]

    print("## protogate benchmark")
    print()
    for key, label in [
        ("settings", "Settings"),
        ("cpus", "CPUs"),
        ("kernel", "Kernel"),
        ("rustc", "Toolchain"),
        ("build_env", "Build of proxy, upstream and load client"),
        ("loadavg_start", "Load average at start (1/5/15 min)"),
        ("loadavg_end", "Load average at end"),
    ]:
        if key in meta:
            print(f"- {label}: `{meta[key]}`")
    print()

    by_key = {}
    for run in runs:
        by_key.setdefault((run["scenario"], run["mode"]), []).append(run)
    rounds = sorted({run["round"] for run in runs})
    scenarios = [s for s in ("get", "echo", "stream") if any(k[0] == s for k in by_key)]
    modes = [m for m in ("http1", "h2c", "grpc") if any(k[1] == m for k in by_key)]

    rows = []
    if runs:
        print(f"### Load: median of {len(rounds)} rounds [min–max]")
        print()
        print(
            "| scenario | via | req/s | msg/s | p50 µs | p99 µs | max µs | errors "
            "| proxy CPU µs/req | of which kernel | upstream CPU µs/req | of which kernel "
            "| proxy VmHWM MiB |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for scenario in scenarios:
            for mode in modes:
                group = by_key.get((scenario, mode), [])
                if not group:
                    continue
                proxied = mode != "grpc"
                print(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                        scenario,
                        "direct gRPC" if mode == "grpc" else f"proxy, {mode}",
                        spread([r["rps"] for r in group]),
                        spread([r["messages_per_s"] for r in group]) if scenario == "stream" else "",
                        spread([r["p50_us"] for r in group]),
                        spread([r["p99_us"] for r in group]),
                        spread([r["max_us"] for r in group]),
                        sum(r["errors"] for r in group),
                        spread([r["proxy_cpu_us_per_req"] for r in group], "{:.1f}") if proxied else "",
                        kernel_part(group, "proxy_sys_us_per_req") if proxied else "",
                        spread([r["upstream_cpu_us_per_req"] for r in group], "{:.1f}"),
                        kernel_part(group, "upstream_sys_us_per_req"),
                        spread([r["proxy_vmhwm_kib"] / MIB for r in group if r["proxy_vmhwm_kib"]], "{:.1f}")
                        if proxied
                        else "",
                    )
                )
        print()

        for scenario in scenarios:
            direct = {r["round"]: r for r in by_key.get((scenario, "grpc"), [])}
            for mode in ("http1", "h2c"):
                group = by_key.get((scenario, mode), [])
                if not group:
                    continue
                cpu = [
                    r["proxy_cpu_us_per_req"] / r["upstream_cpu_us_per_req"]
                    for r in group
                    if r["proxy_cpu_us_per_req"] is not None and r["upstream_cpu_us_per_req"]
                ]
                rps = [r["rps"] / direct[r["round"]]["rps"] for r in group if r["round"] in direct and direct[r["round"]]["rps"]]
                p99 = [
                    r["p99_us"] / direct[r["round"]]["p99_us"]
                    for r in group
                    if r["round"] in direct and direct[r["round"]]["p99_us"]
                ]
                label = f"{scenario}, {mode}"
                if scenario != "stream":
                    rows.append(("proxy CPU/req ÷ upstream CPU/req", label, spread(cpu, "{:.2f}"), TARGETS["cpu"], verdict(median(cpu), lambda v: v <= 1.0)))
                rows.append(("proxy req/s ÷ direct gRPC req/s", label, spread(rps, "{:.2f}"), TARGETS["rps"], verdict(median(rps), lambda v: v >= 0.8)))
                rows.append(("proxy p99 ÷ direct gRPC p99", label, spread(p99, "{:.2f}"), TARGETS["p99"], verdict(median(p99), lambda v: v <= 1.3)))
                if scenario == "stream":
                    msgs = [r["messages_per_s"] for r in group]
                    rows.append(("stream messages/s through the proxy", label, spread(msgs), TARGETS["stream"], verdict(median(msgs), lambda v: v >= 100_000)))

    if "stream_skipped" in meta:
        rows.append(("stream messages/s through the proxy", "stream", "skipped: " + meta["stream_skipped"], TARGETS["stream"], "–"))
    hwm = [r["proxy_vmhwm_kib"] for r in runs if r.get("proxy_vmhwm_kib") and r["mode"] != "grpc"]
    if "proxy_vmhwm_kib" in meta and meta["proxy_vmhwm_kib"]:
        hwm.append(int(meta["proxy_vmhwm_kib"]))
    if hwm:
        peak = max(hwm) / MIB
        idle = meta.get("proxy_rss_idle_kib")
        note = f"{peak:.1f} MiB" + (f" (idle {int(idle) / MIB:.1f} MiB)" if idle else "")
        rows.append(("proxy peak RSS (VmHWM) under load", "all runs", note, TARGETS["rss"], verdict(peak, lambda v: v <= 16)))

    def ms_list(key):
        return [int(v) for v in meta.get(key, "").split()] if meta.get(key) else []

    methods = meta.get("synth_methods", "?")
    gen = ms_list("synth_generate_ms")
    if gen:
        rows.append((f"generate {methods} methods", f"{meta.get('synth_lines', '?')} lines", spread([g / 1000 for g in gen], "{:.2f} s"), TARGETS["generate"], verdict(median(gen), lambda v: v < 1000)))
    check = ms_list("synth_check_ms")
    if check:
        rows.append((f"`--check` {methods} methods", "", spread([c / 1000 for c in check], "{:.2f} s"), "(none)", "–"))
    for profile in ("dev", "release"):
        # Older runs timed a rebuild after touching the sources instead of a first build.
        built = ms_list(f"synth_{profile}_build_ms") or ms_list(f"synth_{profile}_rebuild_ms")
        if built:
            deps = meta.get(f"synth_{profile}_deps_build_ms")
            first = meta.get(f"synth_{profile}_first_build_ms")
            context = ""
            if deps:
                context = f"deps built first in {int(deps) / 1000:.0f} s"
            elif first:
                context = f"rebuild; first build with deps {int(first) / 1000:.0f} s"
            rows.append((f"compile the generated crate ({profile}), deps built", context, spread([b / 1000 for b in built], "{:.1f} s"), TARGETS["compile"], verdict(median(built), lambda v: v < 60_000)))

    if rows:
        print("### Targets (issue 6)")
        print()
        print("| figure | scenario | measured: median [min–max] | target | met |")
        print("|---|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print()


if __name__ == "__main__":
    main()
