"""Summarises bench/run_overload.sh: latency of the 503s and of the accepted answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HANDLER_SECONDS = 0.05


def main() -> None:
    work, configs = Path(sys.argv[1]), sys.argv[2:]
    print("| max_queue | answers | 503 share | 503 p50 / p99 / max ms | 200 p50 / p99 / max ms "
          "| documented bound for 200 | errors | after the load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for config in configs:
        run = json.loads((work / f"{config}.json").read_text())
        statuses = run["statuses"]
        shed, accepted = statuses.get("503", {}), statuses.get("200", {})
        total = sum(entry["count"] for entry in statuses.values())
        max_queue = 1024 if config == "default" else int(config)
        bound = (max_queue + 1) * HANDLER_SECONDS
        bound_text = f"{bound * 1000:.0f} ms"
        if config == "default":
            bound_text += " (the 5 s max_queue_wait rule stops admitting before)"

        def cells(entry: dict) -> str:
            if not entry:
                return "-"
            return f"{entry['p50_ms']:.2f} / {entry['p99_ms']:.2f} / {entry['max_ms']:.2f}"

        recovery = (
            (work / f"{config}.recovery").read_text().strip().removeprefix("after the load: ")
        )
        print(
            f"| {config} | {total} | {shed.get('count', 0) / max(total, 1):.1%} | {cells(shed)} "
            f"| {cells(accepted)} | {bound_text} | {run['errors']} "
            f"(503 without Retry-After: {run['shed_without_retry_after']}) | {recovery} |"
        )


if __name__ == "__main__":
    main()
