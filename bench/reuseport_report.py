"""Summarises bench/run_reuseport.sh: shared listener vs SO_REUSEPORT with --workers 2."""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

from workers_report import parse

MODES = ("shared", "reuseport")


def errors(text: str) -> str:
    counts = dict(re.findall(r"(connect|read|write|timeout) (\d+)", text))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    parts = [f"{name} {count}" for name, count in counts.items() if count != "0"]
    if non_2xx:
        parts.append(f"non-2xx {non_2xx.group(1)}")
    return ", ".join(parts) or "none"


def main() -> None:
    work, rounds = Path(sys.argv[1]), int(sys.argv[2])
    print("Throughput, req/s per round (alternated), and the median:\n")
    print("| connections | mode | rounds | median | reuseport / shared (median) |")
    print("|---|---|---|---|---|")
    for kind in ("keepalive", "close"):
        medians = {}
        for mode in MODES:
            runs = [
                parse((work / f"{mode}.{kind}.{r}.wrk").read_text())["rps"]
                for r in range(1, rounds + 1)
            ]
            medians[mode] = statistics.median(runs)
            ratio = f"{medians['reuseport'] / medians['shared']:.2f}x" if mode != "shared" else ""
            label = "keep-alive" if kind == "keepalive" else "new per request"
            shown = " / ".join(f"{rps:.0f}" for rps in runs)
            print(f"| {label} | {mode} | {shown} | {medians[mode]:.0f} | {ratio} |")
    print("\nThree SIGHUP reloads during 10 s of load:\n")
    print("| connections | mode | reloads completed | requests | failed (wrk) |")
    print("|---|---|---|---|---|")
    for connections in sys.argv[3:]:
        for kind in ("close", "keepalive"):
            for mode in MODES:
                base = work / f"{mode}.reload.{kind}.{connections}"
                if not Path(f"{base}.wrk").exists():
                    continue
                text = Path(f"{base}.wrk").read_text()
                requests = re.search(r"(\d+) requests in", text)
                count = Path(f"{base}.count").read_text().strip() or "0"
                label = "keep-alive" if kind == "keepalive" else "new per request"
                shown = connections.replace("c32", " (32 per worker)")
                print(
                    f"| {shown} {label} | {mode} | {count} "
                    f"| {requests.group(1) if requests else '?'} | {errors(text)} |"
                )


if __name__ == "__main__":
    main()
