"""`layerlab train DESIGN --sweep lr=1e-3,1e-2,1e-1`: one run per value, all at once, on the server's executor.

The values are checked by the training setting itself (training.settings), as its own flag would check them.
Each value is a run handed to the executor the ``executor`` setting names (threads of this process, worker
processes, or a Ray cluster: ``--executor`` / ``--ray-address`` set the same settings), through a run manager
whose cap is the number of values, so they train in parallel wherever the executor has room. Ctrl-C stops them
all; each is recorded in the run history like any other run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from cli.main import EXIT_INVALID, EXIT_OK, CliError
from training.settings import SettingError, cli_settings

DATA_SETTINGS = ("dataset", "dataset_options", "target", "task", "val_fraction", "test_fraction", "seed")
WATCH = 0.05  # seconds between looks at the runs (when each began sending events)


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sweep", metavar="SETTING=V1,V2,...", help="train one run per value of a training "
                        "setting, in parallel on the executor (e.g. lr=1e-3,1e-2,1e-1)")
    add_executor_flags(parser)


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    from builder.settings import EXECUTORS, Settings

    parser.add_argument("--executor", choices=EXECUTORS, help="where runs train (the executor setting; default "
                        f"LAYERLAB_EXECUTOR, else {Settings.executor})")
    parser.add_argument("--ray-address", metavar="HOST:PORT", help="with --executor ray: the cluster's head, or "
                        "'auto' (the ray_address setting); default: a private cluster on this machine")


def use_executor_flags(args: argparse.Namespace) -> None:
    """--executor and --ray-address are the settings of those names, for this command."""
    from builder.settings import settings

    if getattr(args, "executor", None):
        os.environ["LAYERLAB_EXECUTOR"] = args.executor
    if getattr(args, "ray_address", None):
        os.environ["LAYERLAB_RAY_ADDRESS"] = args.ray_address
    settings.cache_clear()


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    """("lr", [0.001, 0.01, 0.1]) from "lr=1e-3,1e-2,1e-1"; CliError naming what is wrong."""
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    specs = {s.name: s for s in cli_settings() if s.name != "dataset_options"}
    if not sep or name not in specs:
        raise CliError([f"--sweep {text!r}: write SETTING=V1,V2,... with a training setting ({', '.join(specs)})"],
                       EXIT_INVALID)
    items = [v.strip() for v in values.split(",") if v.strip()]
    if len(items) < 2:
        raise CliError([f"--sweep {text!r}: give at least two values, separated by commas"], EXIT_INVALID)
    try:
        return name, [specs[name].check(v) for v in items]
    except SettingError as err:
        raise CliError([f"--sweep {name}: {err}"], EXIT_INVALID) from None


def run_sweep(args: argparse.Namespace, graph: Any, ref: str, store: Any, config_of: Any, data_of: Any) -> int:
    """Train one run per value of ``args.sweep`` at once; ``config_of(args)`` and ``data_of(config)`` are the
    train command's own (the flags, the design's settings, the data set)."""
    from builder.project import dump_project
    from ui.train.executor import get_executor
    from ui.train.live_work import RunOrder
    from ui.train.run_manager import RunManager, RunState

    name, values = parse_sweep(args.sweep)
    executor = get_executor()
    orders = []
    dataset = None
    for value in values:
        setattr(args, name, value)
        config = config_of(args)
        if dataset is None or name in DATA_SETTINGS:
            dataset = data_of(config)
        orders.append(RunOrder(dump_project(graph), dataset, config, config.task or dataset.task,
                               str(store.path) if store is not None else None, views=False))
    manager = RunManager(max_runs=len(orders), heartbeat_timeout=10**9)  # nobody polls: the command waits
    began = time.monotonic()
    handles = [manager.submit(f"sweep-{i}", _work(executor, order, store, graph), label=f"{name}={value}")
               for i, (order, value) in enumerate(zip(orders, values))]
    first_event = _wait(handles, began)
    rows = []
    for value, handle in zip(values, handles):
        result = handle.result
        row: dict[str, Any] = {"value": value, "status": handle.state.value, "message": handle.error or "",
                               "worker_pid": handle.worker_pid, "first_event_s": first_event.get(handle.id),
                               "ended_s": round((handle.finished or time.monotonic()) - began, 3)}
        if result is not None:
            row.update(status=result.status, message=result.message, epochs=result.epochs, run_id=result.run_id,
                       **{f"test_{k}": v for k, v in result.test_metrics.items() if isinstance(v, (int, float))})
        rows.append(row)
    _print(args, name, executor.kind, rows)
    ok = all(h.state in (RunState.FINISHED, RunState.STOPPED) for h in handles) and \
        all(r["status"] in ("finished", "stopped") for r in rows)
    return EXIT_OK if ok else EXIT_INVALID


def _work(executor: Any, order: Any, store: Any, graph: Any) -> Any:
    return lambda handle: executor.run(order, None, handle, store, graph=graph)


def _wait(handles: list[Any], began: float) -> dict[int, float]:
    """Wait for every run (Ctrl-C stops them all); when each one's first event arrived, in seconds."""
    stop = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if main else None
    first: dict[int, float] = {}
    try:
        while not all(h.done_event.is_set() for h in handles):
            for handle in handles:
                if handle.events and handle.id not in first:
                    first[handle.id] = round(time.monotonic() - began, 3)
                if stop.is_set():
                    handle.request_stop("stopped by Ctrl-C")
            time.sleep(WATCH)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return first


def _print(args: argparse.Namespace, name: str, kind: str, rows: list[dict[str, Any]]) -> None:
    human = sys.stderr if args.json else sys.stdout
    for row in rows:
        tests = ", ".join(f"{k[5:]} {v:.4f}" for k, v in row.items() if k.startswith("test_"))
        print(f"{name}={row['value']}: {row['status']} after {row.get('epochs', 0)} epochs"
              + (f"; test {tests}" if tests else "") + (f" ({row['message']})" if row["status"] != "finished"
                                                       else ""), file=human)
    if args.json:
        print(json.dumps({"sweep": name, "executor": kind, "runs": rows}))
