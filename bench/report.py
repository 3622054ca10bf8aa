"""Turns the wrk outputs of bench/run.sh into results/latest.json and a markdown table."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * UNITS[unit]


def parse_wrk(output: str) -> dict[str, float | int]:
    result: dict[str, float | int] = {}
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    for percentile in ("50", "99"):
        found = re.search(rf"\s{percentile}%\s+(\S+)", output)  # only with --latency
        if found:
            result[f"p{percentile}_ms"] = milliseconds(found.group(1))
    result["requests"] = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        errors += sum(int(number) for number in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    result["errors"] = errors
    return result


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    work, duration, connections, rounds, *servers = sys.argv[1:]
    work_dir = Path(work)
    round_numbers = range(1, int(rounds) + 1)
    measured = {
        name: [
            parse_wrk((work_dir / f"{name}.{number}.wrk").read_text()) for number in round_numbers
        ]
        for name in servers
    }
    # Every server ran once per round, interleaved; each keeps its best round.
    results = {name: dict(max(runs, key=lambda run: run["rps"])) for name, runs in measured.items()}
    for name, runs in measured.items():
        results[name]["rps_all_rounds"] = [run["rps"] for run in runs]
    reference = results.get("hyperdjango", {}).get("rps")
    for values in results.values():
        values["ratio_vs_hyperdjango"] = round(reference / values["rps"], 2) if reference else None
    report: dict[str, object] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model()},
        "duration_s": int(duration),
        "connections": int(connections),
        "rounds": int(rounds),
        "servers": results,
    }
    honesty = ""
    if "hyperdjango" in results and (work_dir / "hyperdjango.1.count").exists():
        checks = []
        for number in round_numbers:
            count = json.loads((work_dir / f"hyperdjango.{number}.count").read_text())["count"]
            warmup = parse_wrk((work_dir / f"hyperdjango.{number}.warmup").read_text())["requests"]
            total = int(warmup) + int(measured["hyperdjango"][number - 1]["requests"])
            checks.append({"handler_calls": count, "wrk_requests": total, "ok": count >= total})
        report["hyperdjango_honesty_check"] = checks
        verdict = (
            "OK"
            if all(check["ok"] for check in checks)
            else "ERROR: fewer handler calls than requests"
        )
        pairs = ", ".join(
            f"{check['handler_calls']} calls / {check['wrk_requests']} requests" for check in checks
        )
        honesty = f"\nhandler calls vs requests wrk completed (warm-up + run), per round: {pairs} -> {verdict}\n"
    lines = [
        f"wrk -t1 -c{connections} -d{duration}s, server on core 1, wrk on core 0, best of {rounds} "
        f"interleaved rounds, {report['date']}",
        "",
        "| server | req/s | p50 | p99 | errors | hyperdjango ÷ server |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, values in results.items():
        ratio = values["ratio_vs_hyperdjango"]
        shown_ratio = f"{ratio:.2f}×" if ratio else "-"
        lines.append(
            f"| {name} | {values['rps']:,.0f} | {values['p50_ms']:.2f} ms | {values['p99_ms']:.2f} ms "
            f"| {values['errors']} | {shown_ratio} |"
        )
    table = "\n".join(lines) + "\n" + honesty
    results_dir = Path(__file__).parent / "results"
    results_dir.mkdir(exist_ok=True)
    name = os.environ.get("BENCH_RESULT_NAME", "latest")
    (results_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (results_dir / f"{name}.md").write_text(table)
    print(table)
    if honesty and "ERROR" in honesty:
        sys.exit(1)


if __name__ == "__main__":
    main()
