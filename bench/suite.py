"""Benchmark: the test suite's wall time, serially and in parallel (pytest-xdist), in turns.

    .venv/bin/python -m bench.suite [--tier fast|all] [--rounds 2] [--workers 0,auto] [--cov]
                                    [--no-write]

Each round runs the suite once per worker count, through the Makefile's own targets (``make
test-fast`` for ``--tier fast``, ``make test`` for ``all``) with ``TEST_WORKERS`` set, so what is
timed is what a developer and CI run. ``0`` is one process (serial), ``auto`` one worker per core.
The variants take turns, so a busy moment of the shared machine falls on all of them; the table
gives each run's wall time, its CPU time (user + system of pytest, its workers and every process
they started and waited for) and the load average when it started and ended. A run that fails
is shown as failed (its summary line) and still timed: the figure is what it cost.
``--cov`` adds the coverage measurement that ``.ci/run`` adds.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import machine_facts, write_section

REPO = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed).*?)\s*=*$")


@dataclass
class Run:
    workers: str
    wall_s: float
    cpu_s: float
    load_before: float
    load_after: float
    summary: str
    status: int


def _load() -> float:
    return os.getloadavg()[0]


def _run(tier: str, workers: str, cov: bool) -> Run:
    args = "-q -p no:cacheprovider" + (" --cov --cov-report=" if cov else "")
    argv = ["make", "-s", "test-fast" if tier == "fast" else "test", f"TEST_WORKERS={workers}"]
    argv.append(f"PYTEST_ARGS={args}")
    load_before = _load()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = next(
        (m.group(1) for line in reversed(done.stdout.splitlines()) if (m := SUMMARY.match(line))),
        f"no summary (exit {done.returncode})",
    )
    return Run(workers, wall, cpu, load_before, _load(), summary, done.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", choices=["fast", "all"], default="fast")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", default="0,auto", help="Comma-separated TEST_WORKERS.")
    parser.add_argument("--cov", action="store_true", help="Measure coverage as .ci/run does.")
    parser.add_argument("--no-write", action="store_true", help="Do not update bench/RESULTS.md.")
    options = parser.parse_args()
    variants = options.workers.split(",")
    runs: list[Run] = []
    for round_ in range(options.rounds):
        for workers in variants:
            run = _run(options.tier, workers, options.cov)
            runs.append(run)
            print(
                f"round {round_ + 1} TEST_WORKERS={workers}: {run.wall_s:.0f} s wall, "
                f"{run.cpu_s:.0f} s CPU, load {run.load_before:.1f} -> {run.load_after:.1f}; "
                f"{run.summary}",
                flush=True,
            )
    target = "make test-fast" if options.tier == "fast" else "make test"
    lines = [
        f"## Test suite, serial and parallel (`python -m bench.suite --tier {options.tier}"
        f" --rounds {options.rounds} --workers {options.workers}"
        + (" --cov" if options.cov else "")
        + "`)",
        "",
        "| round | `TEST_WORKERS` | wall (s) | CPU (s) | load avg (1 min) before -> after | result |",
        "|---|---|---|---|---|---|",
    ]
    for i, run in enumerate(runs):
        lines.append(
            f"| {i // len(variants) + 1} | {run.workers} | {run.wall_s:.0f} | {run.cpu_s:.0f} "
            f"| {run.load_before:.1f} -> {run.load_after:.1f} | {run.summary} |"
        )
    lines += [
        "",
        f"- {machine_facts()}",
        f"- each run is `{target} TEST_WORKERS=N`; the variants take turns, round by round",
    ]
    body = "\n".join(lines)
    print(body)
    if not options.no_write:
        write_section(f"suite-{options.tier}", body)


if __name__ == "__main__":
    main()
