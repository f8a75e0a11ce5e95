"""Benchmark: how fast an admin command starts, against a bare ``import typer, sqlalchemy``.

    .venv/bin/python -m bench.cli [--runs 20] [--before REF] [--instructions] [--no-write]

Partners script test fixtures with ``thanx-server admin ... --json``, one process per call, so a
command's start-up is its cost. Each variant runs as a fresh process against an SQLite database
that holds the demo data (migrated and loaded once, untimed):

- ``bare``: ``python -c "import typer, sqlalchemy"``, the reference of issue 11 (target: an admin
  command in at most 1.5 times its time);
- ``typer floor``: a one-command Typer app with a ``--json`` flag that imports SQLAlchemy and
  prints ``[]``: what running *any* Typer command costs (Typer builds its parameters through
  pydantic), before this project's code;
- ``admin partner list --json`` and ``admin feedback list --json`` of this tree and, with
  ``--before REF``, of that commit (its ``src/`` exported by ``git archive`` and put first on
  ``PYTHONPATH``; same interpreter, same installed packages).

The variants take turns (one run of each per round), so a busy moment of a shared machine falls
on all of them; the table gives the median and best wall time and the median CPU time (user +
system) per variant. ``--instructions`` also counts each variant's instructions once under
valgrind's callgrind: slow (~30 s each), but the same count however busy the machine is.
Byte-code caches are written on the untimed first run, as on an operator's machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.common import OUT_DIR, write_section

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
BARE = "import typer, sqlalchemy"
TYPER_FLOOR = """
import typer, sqlalchemy
app = typer.Typer()
@app.command()
def main(as_json: bool = typer.Option(False, "--json")) -> None:
    print("[]")
app()
"""
COMMANDS = (("admin", "partner", "list", "--json"), ("admin", "feedback", "list", "--json"))


@dataclass
class Variant:
    label: str
    argv: list[str]
    env: dict[str, str]
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    instructions: int | None = None


def _env(data_dir: Path, pythonpath: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THANX_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an operator's machine keeps its .pyc files
    env.pop("PYTHONPATH", None)
    env["THANX_DATA_DIR"] = str(data_dir)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def _prepare(label: str, pythonpath: Path | None) -> dict[str, str]:
    """A data directory with the demo data, migrated by this variant's own code."""
    data_dir = OUT_DIR / f"cli-{label}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = _env(data_dir, pythonpath)
    subprocess.run(
        [str(VENV_BIN / "thanx-server"), "demo", "--json"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return env


def _export(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _short(ref: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or ref


def _this_tree() -> str:
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return _short("HEAD") + (" + uncommitted changes" if dirty else "")


def _run_once(variant: Variant) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(variant.argv, env=variant.env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    variant.wall_ms.append(wall * 1000)
    variant.cpu_ms.append(cpu * 1000)


def _count_instructions(variant: Variant) -> int | None:
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/callgrind.out",
                *variant.argv,
            ],
            env=variant.env,
            capture_output=True,
            text=True,
            check=True,
        )
    for line in out.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    return None


def _versions() -> str:
    from importlib.metadata import version

    names = ("typer", "sqlalchemy", "pydantic", "pydantic-settings", "alembic")
    return ", ".join(f"{name} {version(name)}" for name in names)


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def render(variants: list[Variant], runs: int) -> str:
    bare = variants[0]
    bare_wall = statistics.median(bare.wall_ms)
    bare_cpu = statistics.median(bare.cpu_ms)
    counted = any(v.instructions for v in variants)
    head = "| variant | wall ms (median) | best | CPU ms (median) | x bare (wall) | x bare (CPU) |"
    rule = "|---|---|---|---|---|---|"
    if counted:
        head += " instructions | x bare (instr.) |"
        rule += "---|---|"
    lines = [head, rule]
    for v in variants:
        wall, cpu = statistics.median(v.wall_ms), statistics.median(v.cpu_ms)
        row = (
            f"| {v.label} | {wall:.0f} | {min(v.wall_ms):.0f} | {cpu:.0f} | "
            f"{wall / bare_wall:.2f} | {cpu / bare_cpu:.2f} |"
        )
        if counted:
            if v.instructions and bare.instructions:
                row += f" {v.instructions / 1e9:.2f} G | {v.instructions / bare.instructions:.2f} |"
            else:
                row += " | |"
        lines.append(row)
    load = os.getloadavg()
    facts = [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {_cpu()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)",
        f"- Python {platform.python_version()}; {_versions()}",
        f"- {runs} rounds, each variant once per round in turn, after one untimed run; SQLite "
        "database with the demo data; target: an admin command <= 1.5 x bare",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(facts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--before", metavar="REF", help="Also measure this commit's CLI.")
    parser.add_argument(
        "--instructions", action="store_true", help="Count instructions (valgrind)."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not update bench/RESULTS.md.")
    args = parser.parse_args()

    python = str(VENV_BIN / "python")
    script = str(VENV_BIN / "thanx-server")
    with tempfile.TemporaryDirectory() as tmp:
        trees: list[tuple[str, Path | None]] = []
        if args.before:
            trees.append((f"before ({_short(args.before)})", _export(args.before, Path(tmp))))
        trees.append((f"after ({_this_tree()})", None))

        reference_env = _env(OUT_DIR / "cli-reference")
        variants = [
            Variant("bare `import typer, sqlalchemy`", [python, "-c", BARE], reference_env),
            Variant("typer floor (one-flag command)", [python, "-c", TYPER_FLOOR], reference_env),
        ]
        for index, (label, pythonpath) in enumerate(trees):
            env = _prepare(f"tree{index}", pythonpath)
            variants += [
                Variant(f"{label}: `{' '.join(cmd)}`", [script, *cmd], env) for cmd in COMMANDS
            ]

        for variant in variants:  # untimed: writes byte-code caches, warms the page cache
            subprocess.run(variant.argv, env=variant.env, check=True, stdout=subprocess.DEVNULL)
        for _ in range(args.runs):
            for variant in variants:
                _run_once(variant)
        if args.instructions:
            for variant in variants:
                variant.instructions = _count_instructions(variant)

    table = render(variants, args.runs)
    print(table)
    if not args.no_write:
        write_section(
            "cli", "## CLI start-up (`.venv/bin/python -m bench.cli --before REF`)\n\n" + table
        )


if __name__ == "__main__":
    main()
