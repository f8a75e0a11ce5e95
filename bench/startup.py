"""Benchmark: how long ``thanx-server serve`` takes from launch to answering ``/readyz`` (issue 17,
target 5: within 1.5 s on the embedded database).

    .venv/bin/python -m bench.startup [--runs 10] [--before REF] [--instructions] [--no-write]

Each run launches ``thanx-server serve`` as an operator does (embedded SQLite database, its
default: migrations checked at start) on a free port and polls ``GET /readyz`` every 10 ms; the
time is from ``Popen`` to the first 200. Two cases:

- ``first launch``: an empty data directory (the database is created and every migration runs);
- ``relaunch``: the same directory again (migrations already applied: the check alone).

With ``--before REF`` the same runs use that commit's ``src/`` (exported by ``git archive`` and
put first on ``PYTHONPATH``); the variants take turns run by run, so a busy moment of this shared
machine falls on all of them. The table gives the median and best of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.cli import _export, _short, _this_tree
from bench.common import OUT_DIR, machine_facts, write_section

VENV_BIN = Path(sys.executable).parent
TARGET_S = 1.5


@dataclass
class Variant:
    label: str
    pythonpath: Path | None
    first: list[float] = field(default_factory=list)
    again: list[float] = field(default_factory=list)
    again_cpu: list[float] = field(default_factory=list)
    instructions: int | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far (a busy machine stretches wall
    time; this much less)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def launch_to_ready(
    data_dir: Path, pythonpath: Path | None, *, callgrind_out: Path | None = None
) -> tuple[float, float]:
    """Seconds from launching ``serve`` to its first ``/readyz`` 200, and the CPU seconds the
    server used until then (then it is stopped). With ``callgrind_out``, under callgrind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THANX_")}
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an operator's machine keeps its .pyc files
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    port = _free_port()
    env |= {"THANX_DATA_DIR": str(data_dir), "THANX_PORT": str(port)}
    url = f"http://127.0.0.1:{port}/readyz"
    prefix = (
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={callgrind_out}"]
        if callgrind_out is not None
        else []
    )
    limit = 60 if callgrind_out is None else 1800
    started = time.perf_counter()
    server = subprocess.Popen(
        [*prefix, str(VENV_BIN / "thanx-server"), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(timeout=1.0) as client:
            while True:
                try:
                    if client.get(url).status_code == 200:
                        return time.perf_counter() - started, _cpu_s(server.pid)
                except httpx.TransportError:
                    pass
                if server.poll() is not None:
                    raise RuntimeError((server.stderr.read() if server.stderr else b"").decode())
                if time.perf_counter() - started > limit:
                    raise RuntimeError(f"serve did not answer /readyz within {limit} s")
                time.sleep(0.01)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20 if callgrind_out is None else 300)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def count_instructions(data_dir: Path, pythonpath: Path | None) -> int | None:
    """Instructions of one relaunch (launch -> ready -> stop) under callgrind."""
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        launch_to_ready(data_dir, pythonpath, callgrind_out=out)
        for line in out.read_text().splitlines():
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return None


def render(variants: list[Variant], runs: int) -> str:
    counted = any(v.instructions for v in variants)
    lines = [
        "| variant | first launch (migrates) median s | best | relaunch median s | best | relaunch CPU s (median) | target 1.5 s (relaunch) |"
        + (" relaunch instructions |" if counted else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if counted else ""),
    ]  # fmt: skip
    for v in variants:
        again = statistics.median(v.again)
        lines.append(
            f"| {v.label} | {statistics.median(v.first):.2f} | {min(v.first):.2f} | "
            f"{again:.2f} | {min(v.again):.2f} | {statistics.median(v.again_cpu):.2f} | "
            f"{'met' if again <= TARGET_S else 'missed'} |"
            + (f" {v.instructions / 1e9:.2f} G |" if v.instructions else (" |" if counted else ""))
        )
    load = os.getloadavg()
    return (
        "\n".join(lines)
        + f"\n\n{machine_facts()}; {runs} runs per case, variants in turn; load average at the "
        f"end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--before", metavar="REF", help="Also measure this commit's server.")
    parser.add_argument(
        "--instructions", action="store_true", help="Count a relaunch's instructions (valgrind)."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not update bench/RESULTS.md.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        variants: list[Variant] = []
        if args.before:
            source = _export(args.before, Path(tmp))
            variants.append(Variant(f"before ({_short(args.before)})", source))
        variants.append(Variant(f"after ({_this_tree()})", None))
        for index, variant in enumerate(variants):  # untimed: byte-code caches, page cache
            launch_to_ready(OUT_DIR / f"startup-warm-{index}", variant.pythonpath)
        for _ in range(args.runs):
            for index, variant in enumerate(variants):
                data_dir = OUT_DIR / f"startup-{index}"
                shutil.rmtree(data_dir, ignore_errors=True)
                variant.first.append(launch_to_ready(data_dir, variant.pythonpath)[0])
                wall, cpu = launch_to_ready(data_dir, variant.pythonpath)
                variant.again.append(wall)
                variant.again_cpu.append(cpu)
        if args.instructions:
            for index, variant in enumerate(variants):
                variant.instructions = count_instructions(
                    OUT_DIR / f"startup-{index}", variant.pythonpath
                )
        for index in range(len(variants)):
            shutil.rmtree(OUT_DIR / f"startup-{index}", ignore_errors=True)
            shutil.rmtree(OUT_DIR / f"startup-warm-{index}", ignore_errors=True)
    table = render(variants, args.runs)
    print(table)
    if not args.no_write:
        write_section(
            "startup",
            "## `serve` start-up to `/readyz` (`.venv/bin/python -m bench.startup --before REF`)\n\n"
            + table,
        )


if __name__ == "__main__":
    main()
