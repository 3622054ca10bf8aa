"""Turns bench/run_django.sh's wrk outputs into results/django.json and django.md, with the
ratios the issue sets as targets (all from the same run)."""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

from report import cpu_model, parse_wrk

TARGETS = [
    ("django-runziserver", "django-gunicorn", 2.0),
    ("django-runziserver", "django-granian", 1.2),
    ("django-runziserver", "django-uvicorn", None),
    ("wsgi-hyperdjango", "wsgi-granian", 1.5),
]


def main() -> None:
    work, duration, connections, rounds, threads, *servers = sys.argv[1:]
    work_dir = Path(work)
    results = {}
    tick_us = 1_000_000 / os.sysconf("SC_CLK_TCK")
    for name in servers:
        runs = []
        for number in range(1, int(rounds) + 1):
            run = parse_wrk((work_dir / f"{name}.{number}.wrk").read_text())
            cpu = work_dir / f"{name}.{number}.cpu"
            if cpu.exists() and run["requests"]:
                run["cpu_us_per_request"] = round(
                    int(cpu.read_text()) * tick_us / run["requests"], 1
                )
            runs.append(run)
        best = dict(max(runs, key=lambda run: run["rps"]))
        best["rps_all_rounds"] = [run["rps"] for run in runs]
        cpu_costs = [run["cpu_us_per_request"] for run in runs if "cpu_us_per_request" in run]
        if cpu_costs:
            best["cpu_us_per_request"] = min(cpu_costs)
        results[name] = best
    ratios = []
    for ours, peer, target in TARGETS:
        if ours in results and peer in results and results[peer]["rps"] > 0:
            ratio = round(results[ours]["rps"] / results[peer]["rps"], 2)
            ours_cpu = results[ours].get("cpu_us_per_request")
            peer_cpu = results[peer].get("cpu_us_per_request")
            cpu_ratio = round(peer_cpu / ours_cpu, 2) if ours_cpu and peer_cpu else None
            ratios.append({"ours": ours, "peer": peer, "ratio": ratio, "target": target,
                           "met": None if target is None else ratio >= target,
                           "cpu_ratio": cpu_ratio})  # fmt: skip
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "note": "shared, noisy 2-core machine; ratios from one run",
        },
        "duration_s": int(duration),
        "connections": int(connections),
        "rounds": int(rounds),
        "runziserver_threads": int(threads),
        "servers": results,
        "ratios": ratios,
    }
    out = Path(__file__).parent / "results"
    (out / "django.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"Django / WSGI bench, {report['date']}, server on one core, wrk -c{connections}, "
        f"best of {rounds} rounds of {duration}s (shared noisy machine: compare ratios).",
        "",
        "| server | req/s | p50 | p99 | errors | server CPU per request |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in results.items():
        lines.append(
            f"| {name} | {values['rps']:,.0f} | {values.get('p50_ms', 0):.2f} ms | "
            f"{values.get('p99_ms', 0):.2f} ms | {values['errors']} | "
            f"{values.get('cpu_us_per_request', 0):.1f} µs |"
        )
    lines += [
        "",
        "| ours / peer | req/s ratio | target | met | CPU per request, peer ÷ ours |",
        "|---|---|---|---|---|",
    ]
    for row in ratios:
        target = "-" if row["target"] is None else f"≥ {row['target']}×"
        met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
        cpu = "-" if row["cpu_ratio"] is None else f"{row['cpu_ratio']}×"
        lines.append(
            f"| {row['ours']} / {row['peer']} | {row['ratio']}× | {target} | {met} | {cpu} |"
        )
    text = "\n".join(lines) + "\n"
    (out / "django.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
