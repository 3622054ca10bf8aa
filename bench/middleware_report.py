"""Turns bench/run_middleware.sh's outputs into results/middleware-latest.json and a table."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from report import cpu_model, parse_wrk  # noqa: E402


def main() -> None:
    work, duration, connections, ticks_per_second = sys.argv[1:]
    work_dir = Path(work)
    runs = {}
    for wrk in sorted(work_dir.glob("*.wrk")):
        label = wrk.stem
        result = parse_wrk(wrk.read_text())
        ticks = int((work_dir / f"{label}.cpu").read_text())
        result["cpu_us_per_request"] = (
            ticks / int(ticks_per_second) * 1e6 / max(result["requests"], 1)
        )
        head = (
            (work_dir / f"{label}.head").read_text()
            if (work_dir / f"{label}.head").exists()
            else ""
        )
        result["gzip"] = "content-encoding: gzip" in head.lower()
        body = work_dir / f"{label}.body"
        result["body_bytes"] = body.stat().st_size if body.exists() else 0
        runs[label] = result

    def rps(label: str) -> float:
        return float(runs[label]["rps"])

    def cpu(label: str) -> float:
        return float(runs[label]["cpu_us_per_request"])

    ratios = {
        "stack_keeps_of_own_rps": rps("quickstart-stack") / rps("quickstart"),
        "stack_vs_starlette_stack": rps("quickstart-stack") / rps("starlette-stack"),
        "noop1_cpu_us": cpu("noop1") - cpu("quickstart"),
        "noop5_cpu_us": cpu("noop5") - cpu("quickstart"),
        "gzip_vs_starlette": rps("gzip-hyperdjango") / rps("gzip-starlette"),
        "gzip_vs_nginx": rps("gzip-hyperdjango") / rps("gzip-nginx"),
    }
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "duration_s": int(duration),
        "connections": int(connections),
        "runs": runs,
        "ratios": ratios,
    }
    out = Path(__file__).parent / "results" / "middleware-latest.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{results['date']}, {results['cpu']}, {duration}s runs, {connections} connections")
    print("\n| run | req/s | p50 | p99 | server CPU µs/req | gzip | body bytes |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for label, run in runs.items():
        print(
            f"| {label} | {run['rps']:,.0f} | {run.get('p50_ms', 0):.2f} ms | "
            f"{run.get('p99_ms', 0):.2f} ms | {run['cpu_us_per_request']:.2f} | "
            f"{'yes' if run['gzip'] else 'no'} | {run['body_bytes']} |"
        )
    print()
    print(
        f"- stack keeps {ratios['stack_keeps_of_own_rps']:.0%} of the Quick Start's req/s (target >= 85 %)"
    )
    print(
        f"- stack vs uvicorn + Starlette with the same stack: {ratios['stack_vs_starlette_stack']:.2f}x (target >= 6x)"
    )
    print(f"- one no-op middleware: {ratios['noop1_cpu_us']:+.2f} µs CPU/request (target <= 1)")
    print(f"- five no-op middleware: {ratios['noop5_cpu_us']:+.2f} µs CPU/request (target <= 5)")
    print(
        f"- 20 KB JSON gzip vs Starlette GZipMiddleware: {ratios['gzip_vs_starlette']:.2f}x (target >= 3x)"
    )
    print(f"- 20 KB JSON gzip vs nginx gzip on: {ratios['gzip_vs_nginx']:.2f}x")
    errors = {label: run["errors"] for label, run in runs.items() if run["errors"]}
    if errors:
        print(f"- ERRORS (non-2xx or socket): {errors}")


if __name__ == "__main__":
    main()
