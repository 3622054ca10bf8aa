"""Summarises bench/run_overload.sh: latency of the 503s and of the accepted answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HANDLER_SECONDS = 0.05


def main() -> None:
    work, runs = Path(sys.argv[1]), sys.argv[2:]
    print("| max_queue | pause after 503 | answers | 503s | 200s | 503 share | 503 min / p50 / p99 / max ms "
          "| 200 min / p50 / p99 / max ms "
          "| documented bound for 200 | errors | after the load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in runs:
        config, pause = name.split(".")
        run = json.loads((work / f"{name}.json").read_text())
        statuses = run["statuses"]
        shed, accepted = statuses.get("503", {}), statuses.get("200", {})
        total = sum(entry["count"] for entry in statuses.values())
        max_queue = 1024 if config == "default" else int(config)
        # docs/overload.md: starts within max_queue handler-times, answered when its batch
        # (at most max_queue handlers) ends.
        bound = 2 * max_queue * HANDLER_SECONDS
        bound_text = f"{bound:.1f} s"

        def cells(entry: dict) -> str:
            if not entry:
                return "-"
            return (
                f"{entry['min_ms']:.2f} / {entry['p50_ms']:.2f} / {entry['p99_ms']:.2f} "
                f"/ {entry['max_ms']:.2f}"
            )

        recovery = (work / f"{name}.recovery").read_text().strip().removeprefix("after the load: ")
        print(
            f"| {config} | {pause} ms | {total} | {shed.get('count', 0)} | {accepted.get('count', 0)} "
            f"| {shed.get('count', 0) / max(total, 1):.1%} | {cells(shed)} "
            f"| {cells(accepted)} | {bound_text} | {run['errors']} "
            f"(503 without Retry-After: {run['shed_without_retry_after']}) | {recovery} |"
        )


if __name__ == "__main__":
    main()
