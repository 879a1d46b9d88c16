"""Benchmark: how fast a run starts, and what it costs, in a thread of the server vs a warm worker process. JSON out.

For each executor (thread, in ``ui.train.executor``; process, in ``ui.train.process_executor``) the same xor run
(--epochs, 5; with the live views the Train tab computes) is submitted to a run manager --repeat times. Measured
per run, median over the repeats:
- start_ms: from submit to the engine's first event ("start") reaching the handle (the page could show it);
- total_ms: from submit to the run's end with its result (for process: the model rebuilt in the server).
The process executor's spare worker is started and given time to import torch before each run (that is what
"warm" means: the next run never waits for it). The first run of each executor is a warm-up and not counted.

Usage: python bench/bench_executor.py [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quick_mode import parse_args  # noqa: E402
from builder.project import dump_project  # noqa: E402
from builder.templates import load_template  # noqa: E402
from data.datasets import load_dataset  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from ui.train.executor import ThreadExecutor  # noqa: E402
from ui.train.live_work import RunOrder, Views  # noqa: E402
from ui.train.process_executor import ProcessExecutor  # noqa: E402
from ui.train.run_manager import RunManager, RunState  # noqa: E402

WARM_WAIT = 30.0  # seconds the spare worker may take to import torch on a busy machine


def one_run(executor, graph, dataset, config) -> tuple[float, float]:
    manager = RunManager(max_runs=1, heartbeat_timeout=600)
    views = Views(graph, dataset, config, "classification")
    order = RunOrder(dump_project(graph), dataset, config, "classification")
    began = time.perf_counter()
    handle = manager.submit("bench", lambda h: executor.run(order, views, h, None, graph=graph))
    while not handle.events and not handle.done_event.is_set():
        time.sleep(0.001)
    start = time.perf_counter() - began
    handle.wait(300)
    if handle.state is not RunState.FINISHED:
        raise SystemExit(f"the run ended {handle.state.value}: {handle.error}")
    return start * 1000, (time.perf_counter() - began) * 1000


def wait_warm(executor) -> None:
    """Until every waiting worker has imported what a run needs: a warm worker sleeps in orders.get(), so its
    CPU time stops growing."""
    deadline = time.monotonic() + WARM_WAIT
    for pid in executor.waiting_pids():
        last = -1.0
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                cpu = float(fields[11]) + float(fields[12])
            except OSError:
                break
            if cpu == last and cpu > 0:
                break
            last = cpu
            time.sleep(1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each xor run")
    args = parse_args(parser, {"repeat": 1, "epochs": 1}, argv)
    graph = load_template("xor_mlp")
    meta = graph.meta["training"]
    dataset = load_dataset(meta["dataset"], **(meta.get("dataset_options") or {}))
    config = TrainConfig.from_dict({**meta, "epochs": args.epochs})
    out: dict[str, object] = {"bench": "executor", "quick": args.quick, "python": platform.python_version(), "cpus": os.cpu_count(),
                              "load_before": os.getloadavg()}
    process = ProcessExecutor()
    process.warm()
    for name, executor in (("thread", ThreadExecutor()), ("process", process)):
        starts, totals = [], []
        for i in range(args.repeat + 1):
            if name == "process":
                wait_warm(executor)
            start, total = one_run(executor, graph, dataset, config)
            if i:  # the first run is the warm-up (imports in a thread; a worker's first spawn)
                starts.append(start)
                totals.append(total)
        out[name] = {"start_ms": round(statistics.median(starts), 1), "total_ms": round(statistics.median(totals), 1),
                     "start_ms_all": [round(s, 1) for s in starts]}
    process.close()
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
