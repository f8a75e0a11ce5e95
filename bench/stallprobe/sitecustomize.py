"""Stall probe for benchmark servers (``bench/stalls.py``); inert unless ``THANX_BENCH_STALLS``.

``bench.stalls`` starts ``thanx-server serve`` with this directory on ``PYTHONPATH``, so every
API process (uvicorn spawns them afresh) imports this at start-up and, with
``THANX_BENCH_STALLS=<dir>`` set, counts in process what makes a request wait behind others:

- **gc pauses**: every collection's generation and duration (``gc.callbacks``);
- **loop lag**: a thread posts a callback to the API process's event loop every 5 ms
  (``call_soon_threadsafe``) and records how long it waited to run: what a newly arrived
  request waits for before the loop turns to it (either loop, uvloop or asyncio's);
- with ``THANX_BENCH_STALLS_GC=700,10,10`` (any three numbers): the collector's thresholds set
  to those first, to measure a policy before changing the server;
- with ``THANX_BENCH_STALLS_LOOP=asyncio`` (uvicorn on asyncio's own loop, whose callbacks are
  Python): each callback's duration, and for a callback running past 4 ms, its stack sampled
  every millisecond, so the long ones are named.

SIGUSR1 writes what was counted since the last SIGUSR1 to ``<dir>/<pid>.json`` and starts over.
Nothing here is imported by the project; a server without the variable is untouched.
"""

from __future__ import annotations

import os

if os.environ.get("THANX_BENCH_STALLS"):
    import asyncio
    import asyncio.events
    import collections
    import gc
    import json
    import signal
    import sys
    import threading
    import time
    from pathlib import Path
    from typing import Any

    _OUT = Path(os.environ["THANX_BENCH_STALLS"])
    _SLOW = 0.004
    _clock = time.perf_counter

    def _fresh() -> dict[str, Any]:
        return {
            "gc": {g: [0, 0.0, 0.0] for g in (0, 1, 2)},  # count, total s, max s
            "gc_slow": [],  # (generation, ms, collected) of pauses >= 2 ms
            "lag": [],  # seconds a posted callback waited
            "callbacks": 0,
            "cb_hist": collections.Counter(),  # ms bucket -> count
            "cb_slow": collections.Counter(),  # callback description -> count of >= 4 ms
            "cb_slow_ms": collections.Counter(),  # callback description -> total ms
            "stacks": collections.Counter(),  # sampled stack of a long callback -> samples
            "pool_wait": [],  # seconds a checkout waited in the pool's queue
            "request": [],  # seconds from a request's ASGI call to its end, in process
            "cpu0": time.process_time(),
            "t0": _clock(),
        }

    _stats = _fresh()
    _gc_started = [0.0]

    def _on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _gc_started[0] = _clock()
            return
        took = _clock() - _gc_started[0]
        row = _stats["gc"][info["generation"]]
        row[0] += 1
        row[1] += took
        row[2] = max(row[2], took)
        if took >= 0.002:
            _stats["gc_slow"].append((info["generation"], round(took * 1000, 2), info["collected"]))

    gc.callbacks.append(_on_gc)
    if os.environ.get("THANX_BENCH_STALLS_GC"):
        # A collector policy to try without changing the server: "gen0,gen1,gen2" thresholds.
        gc.set_threshold(*(int(n) for n in os.environ["THANX_BENCH_STALLS_GC"].split(",")))

    _loop: list[Any] = [None]
    _main = threading.main_thread().ident
    _original_set = asyncio.events._set_running_loop

    def _set_running_loop(loop: Any) -> None:
        _original_set(loop)
        if loop is not None and _loop[0] is None and threading.get_ident() == _main:
            _loop[0] = loop

    asyncio.events._set_running_loop = _set_running_loop
    asyncio._set_running_loop = _set_running_loop  # type: ignore[attr-defined]

    # The callback running now (asyncio's loop only): when it started, and its handle.
    _running: list[Any] = [0.0, None]

    def _describe(handle: Any) -> str:
        callback = getattr(handle, "_callback", None)
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, asyncio.Task):
            coro = owner.get_coro()
            return f"task {getattr(coro, '__qualname__', coro)}"
        return getattr(callback, "__qualname__", repr(callback))[:120]

    _handle_run = asyncio.events.Handle._run

    def _timed_run(self: Any) -> None:
        started = _clock()
        _running[0], _running[1] = started, self
        try:
            _handle_run(self)
        finally:
            took = _clock() - started
            _running[0] = 0.0
            _stats["callbacks"] += 1
            ms = took * 1000
            bucket = (
                "<1"
                if ms < 1
                else "1-4"
                if ms < 4
                else "4-10"
                if ms < 10
                else ("10-30" if ms < 30 else ">=30")
            )
            _stats["cb_hist"][bucket] += 1
            if took >= _SLOW:
                name = _describe(self)
                _stats["cb_slow"][name] += 1
                _stats["cb_slow_ms"][name] += ms

    if os.environ.get("THANX_BENCH_STALLS_LOOP") == "asyncio":
        asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]
        import uvicorn.config

        uvicorn.config.LOOP_FACTORIES["auto"] = "uvicorn.loops.asyncio:asyncio_loop_factory"

    def _patch_later() -> None:
        """Time the pool's queue and each request's ASGI call (patched once imported)."""
        from sqlalchemy.pool import impl
        from uvicorn.protocols.http import httptools_impl

        do_get = impl.QueuePool._do_get

        def timed_get(self: Any) -> Any:
            started = _clock()
            try:
                return do_get(self)
            finally:
                _stats["pool_wait"].append(_clock() - started)

        impl.QueuePool._do_get = timed_get  # type: ignore[method-assign]
        run_asgi = httptools_impl.RequestResponseCycle.run_asgi

        async def timed_asgi(self: Any, app: Any) -> None:
            started = _clock()
            try:
                await run_asgi(self, app)
            finally:
                _stats["request"].append(_clock() - started)

        httptools_impl.RequestResponseCycle.run_asgi = timed_asgi  # type: ignore[method-assign]

    _patched = [False]

    def _stack(frame: Any) -> str:
        names = []
        while frame is not None and len(names) < 40:
            code = frame.f_code
            path = code.co_filename
            short = path.split("site-packages/")[-1].split("/src/")[-1]
            names.append(f"{short}:{code.co_name}")
            frame = frame.f_back
        # innermost first: the first frames of ours or of a library, then where it came from
        return " < ".join(names[:14])

    def _watch() -> None:
        next_ping = 0.0
        while True:
            time.sleep(0.001)
            now = _clock()
            started = _running[0]
            if started and now - started >= _SLOW:
                frame = sys._current_frames().get(_main)
                if frame is not None:
                    _stats["stacks"][_stack(frame)] += 1
            loop = _loop[0]
            if loop is not None and not _patched[0]:
                _patched[0] = True
                loop.call_soon_threadsafe(_patch_later)
            if loop is not None and now >= next_ping:
                next_ping = now + 0.005
                stats = _stats
                try:
                    loop.call_soon_threadsafe(lambda t=now, s=stats: s["lag"].append(_clock() - t))
                except RuntimeError:
                    return

    threading.Thread(target=_watch, name="stall-probe", daemon=True).start()

    def _dump(*_: object) -> None:
        global _stats
        stats, _stats = _stats, _fresh()
        lag = sorted(stats["lag"])

        def quantiles(values: list[float]) -> dict[str, float]:
            values = sorted(values)

            def q(p: float) -> float:
                return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 2)

            if not values:
                return {"n": 0}
            return {"n": len(values), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99),
                    "max": round(values[-1] * 1000, 2)}  # fmt: skip

        report = {
            "seconds": round(_clock() - stats["t0"], 2),
            "cpu_s": round(time.process_time() - stats["cpu0"], 3),
            "gc": {
                str(g): {"count": c, "total_ms": round(t * 1000, 1), "max_ms": round(m * 1000, 2)}
                for g, (c, t, m) in stats["gc"].items()
            },
            "gc_slow": stats["gc_slow"][:200],
            "lag_ms": quantiles(lag),
            "pool_wait_ms": quantiles(stats["pool_wait"]),
            "request_ms": quantiles(stats["request"]),
            "callbacks": stats["callbacks"],
            "cb_hist": dict(stats["cb_hist"]),
            "cb_slow": {
                k: [v, round(stats["cb_slow_ms"][k], 1)]
                for k, v in stats["cb_slow"].most_common(15)
            },
            "stacks": dict(stats["stacks"].most_common(25)),
        }
        _OUT.mkdir(parents=True, exist_ok=True)
        (_OUT / f"{os.getpid()}.json").write_text(json.dumps(report, indent=1))

    signal.signal(signal.SIGUSR1, _dump)
