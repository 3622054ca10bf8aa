"""Summarises bench/run_workers.sh: the best round of each server, and ratios to --workers 1."""

from __future__ import annotations

import re
import sys
from pathlib import Path


def parse(text: str) -> dict[str, float]:
    def number(pattern: str) -> float:
        match = re.search(pattern, text)
        return float(match.group(1)) if match else float("nan")

    def latency(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", text)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    errors += int(number(r"Non-2xx or 3xx responses: (\d+)") if "Non-2xx" in text else 0)
    return {
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "p50": latency("50%"),
        "p99": latency("99%"),
        "errors": errors,
    }


def main() -> None:
    work, rounds, servers = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    best = {}
    for server in servers:
        runs = [parse((work / f"{server}.{r}.wrk").read_text()) for r in range(1, rounds + 1)]
        best[server] = max(runs, key=lambda run: run["rps"])
    base = best.get("hyperdjango-w1", {}).get("rps")
    print("| server | req/s | vs hyperdjango --workers 1 | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for server, run in best.items():
        ratio = f"{run['rps'] / base:.2f}x" if base else "-"
        print(
            f"| {server} | {run['rps']:.0f} | {ratio} | {run['p50']:.2f} | {run['p99']:.2f} "
            f"| {run['errors']} |"
        )


if __name__ == "__main__":
    main()
