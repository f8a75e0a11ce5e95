"""Cost as data grows (issue 17, targets 4 and 6): the read benchmark at 10k, 100k and 1M rows.

    .venv/bin/python -m bench.growth                           # 10k, 100k, 1m; both engines
    .venv/bin/python -m bench.growth --scales 10k 1m --engine sqlite --duration 5

For each scale (users, rewards, purchases, feedback records and tags: that many rows each, over
100 merchants and 1,000 campaigns; ``bench/dataset.py``) and engine, ``bench.http.run_engine``
loads a fresh database set-based, starts ``thanx-server serve`` (PostgreSQL: 2 API processes,
SQLite: 1) and runs wrk against every list at its first and its last page, for the wide
credential (all 100 merchants) and for one merchant, with the lists' filters
(``bench.http.growth_endpoints``), then reads the API processes' resident memory after the load.
Writes one table per scale and a side-by-side p50 table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from bench import http
from bench.common import machine_facts, write_section
from bench.dataset import GROWTH, Loaded, Scale


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", nargs="+", choices=list(GROWTH), default=list(GROWTH))
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per endpoint")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is required (e.g. apt-get install wrk)")
    http._REPEAT[0] = args.repeat
    engines = ["postgresql", "sqlite"] if args.engine == "both" else [args.engine]
    header = [
        "| engine | endpoint | req/s | p50 ms | p99 ms | non-2xx |",
        "|---|---|---|---|---|---|",
    ]
    p50: dict[tuple[str, str], dict[str, str]] = {}
    for name in args.scales:
        scale = Scale.named(name)
        rows: list[str] = []
        loaded: list[Loaded] = []
        for engine in engines:
            processes = 2 if engine == "postgresql" else 1
            rows += http.run_engine(
                engine,
                scale,
                args.duration,
                args.connections,
                processes=processes,
                endpoint_set=http.growth_endpoints,
                loaded=loaded,
            )
        for row in rows:
            cells = _cells(row)
            if "RSS" in cells[1]:
                p50.setdefault((cells[0], cells[1]), {})[name] = cells[3].replace("after ", "")
            else:
                p50.setdefault((cells[0], cells[1]), {})[name] = cells[3]
        load = os.getloadavg()
        loads = ", ".join(
            f"{engine} load {data.counts.get('load_s', 0)} s"
            for engine, data in zip(engines, loaded, strict=False)
        )
        table = "\n".join(header + rows)
        print("\n" + table, flush=True)
        if not args.no_write:
            write_section(
                f"growth-{name}",
                f"### {name} rows (`python -m bench.growth --scales {name}`)\n\n"
                f"{machine_facts()}; load average at the end {load[0]:.1f} / {load[1]:.1f} / "
                f"{load[2]:.1f}; wrk -t1 -c{args.connections} -d{args.duration}s per endpoint, "
                f"median of {args.repeat} run(s) after a 2 s warm-up.\n"
                f"Data: {scale.merchants} merchants, {scale.users:,} users, rewards, purchases, "
                f"feedback records and tags each, "
                f"{scale.merchants * scale.campaigns_per_merchant:,} campaigns ({loads}).\n\n"
                f"{table}\n",
            )
    summary = [
        "| engine | endpoint | " + " | ".join(f"p50 ms at {s}" for s in args.scales) + " |",
        "|---|---|" + "---|" * len(args.scales),
    ]
    for (engine, endpoint), by_scale in p50.items():
        label = "API process RSS after, MiB" if "RSS" in endpoint else endpoint
        column = [by_scale.get(s, "") for s in args.scales]
        summary.append(f"| {engine} | {label} | " + " | ".join(column) + " |")
    text = "\n".join(summary)
    print("\n" + text)
    if not args.no_write and len(args.scales) > 1:
        write_section(
            "growth-summary",
            "## Cost as data grows (`python -m bench.growth`)\n\n"
            "Median latency (p50, ms) per endpoint and scale at 32 connections (req/s and p99 in "
            "each scale's table below), and the API processes' resident memory after the "
            "runs.\n\n" + text + "\n",
        )


if __name__ == "__main__":
    main()
