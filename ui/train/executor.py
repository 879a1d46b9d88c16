"""Where a run trains: in a worker process (the default), in a thread of the server, or on a Ray cluster.

The run manager (``ui.train.run_manager``) keeps the queue, the per-server cap, Stop and the watchdog; the work it
runs for a training run hands a ``RunOrder`` to the executor chosen by the ``executor`` setting (LAYERLAB_EXECUTOR:
``process``, ``thread`` or ``ray``) and gets the same things back either way: the engine's events in
``handle.emit`` in order, the live views on the page's run object, the RunResult with its model, or the run's
exception. This module chooses the executor, trains in a thread, and says how much memory one run in a worker
process may take; the worker processes are ``ui.train.process_executor``, Ray is ``ui.train.ray_executor``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ui.train.live_work import RunOrder, train_with_views
from ui.train.run_manager import RunHandle


def executor_kind() -> str:
    """The ``executor`` setting (LAYERLAB_EXECUTOR); its default where the settings can't be read (the app says why)."""
    from builder.settings import Settings, SettingsError, settings

    try:
        return settings().executor
    except SettingsError:
        return Settings.executor


def run_memory_cap_mb(address: str | None = None) -> int:
    """The memory one run may allocate in its worker process, in MB (0: no cap): the ``worker_memory_mb``
    setting; when that is 0 and the server listens beyond this machine (a classroom), the machine's memory
    shared among the runs it trains at once and the server itself; on a machine serving its owner alone, none.
    ``address``: the server's listen address (default: Streamlit's option)."""
    from builder.settings import SettingsError, settings
    from ui.common.serving import serves_this_machine_alone

    try:
        chosen = settings().worker_memory_mb
    except SettingsError:
        return 0
    if chosen:
        return chosen
    if address is None:
        import streamlit as st
        from streamlit import runtime

        if not runtime.exists():  # no server (the CLI's sweep): the person at this machine runs it
            return 0
        address = st.get_option("server.address")
    if serves_this_machine_alone(address):  # this machine only: its owner decides what it can hold
        return 0
    total = _physical_memory_mb()
    return total // (run_cap() + 1) if total else 0


def over_memory_cap(graph: Any, result: Any, batch_size: int) -> str | None:
    """Why a run of ``graph`` at ``batch_size`` can't start under this server's per-run memory cap (worker
    processes only): the summary's rough training estimate is over it. None when it fits or nothing caps it.
    What the estimate misses, the worker's OS limit still stops (the run fails with "out of memory")."""
    if executor_kind() != "process":
        return None
    cap = run_memory_cap_mb()
    if not cap:
        return None
    from builder.summary import summarize

    need = summarize(graph, batch_size, result).training_mb
    if need <= cap:
        return None
    return (f"this run needs about {need:,.0f} MB at batch size {batch_size} (the summary's rough estimate: "
            f"weights, gradients, Adam's state and the activations kept for the backward pass), more than the "
            f"{cap:,} MB one run may use on this server: lower the batch size or the input size, or ask whoever "
            "runs the server (the worker_memory_mb setting)")


def _physical_memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (AttributeError, OSError, ValueError):  # no sysconf (Windows): no automatic cap
        return 0


class ThreadExecutor:
    """Trains in the calling thread (the run manager's worker thread), as LayerLab always did."""

    kind = "thread"

    def run(self, order: RunOrder, views: Any, handle: RunHandle, store: Any, graph: Any = None) -> Any:
        return train_with_views(order, graph if graph is not None else order.graph(), views, handle.emit,
                                handle.stop_event, store)


def run_cap() -> int:
    """The server's cap on runs at once (the run manager's: LAYERLAB_MAX_RUNS or max_concurrent_runs)."""
    from ui.train.run_manager import get_manager

    return get_manager().max_runs


_EXECUTOR: Any = None
_EXECUTOR_LOCK = threading.Lock()


def new_executor(kind: str) -> Any:
    """A fresh executor of ``kind`` ("thread", "process" or "ray"; ui.train.ray_executor imports Ray only on a run)."""
    if kind == "process":
        from ui.train.process_executor import ProcessExecutor

        return ProcessExecutor()
    if kind == "ray":
        from ui.train.ray_executor import RayExecutor

        return RayExecutor()
    return ThreadExecutor()


def get_executor() -> Any:
    """The server's executor, chosen once by LAYERLAB_EXECUTOR; a process executor starts its first worker."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None or _EXECUTOR.kind != executor_kind():
            if _EXECUTOR is not None and _EXECUTOR.kind == "process":
                _EXECUTOR.close()
            _EXECUTOR = new_executor(executor_kind())
            if _EXECUTOR.kind == "process":
                _EXECUTOR.warm()
        return _EXECUTOR
