"""The worker process's side of ``ui.train.process_executor.ProcessExecutor``: a warm process that trains runs,
one at a time.

A worker is started (spawn, never fork: the server has Streamlit's and torch's threads) before any run needs it:
it lowers its CPU priority, imports torch and the training code, sets torch's thread count to the server's,
rehearses one tiny run (so the first real one pays no one-time costs) and waits for its order. It then trains
with the same code as a thread of the server (``ui.train.live_work``), computes the live views from the model here,
and sends back only numbers and arrays: every message is pickled here, in the training thread, so nothing
changes under the pickler, and only the server that started this process reads it. The run history is written
here, into the same SQLite file (WAL) as the server's: the engine's own store calls, unchanged, and a row whose
worker died is still "running" under a dead pid, which the store itself marks interrupted.

A worker whose run ended with its result waits for the next order: a room's runs don't each pay torch's import
and the rehearsal (seconds of CPU on a busy machine). Every run seeds its own random state and the worker resets
torch's thread count before it, so a run in a used worker equals one in a fresh worker and in a thread.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import threading
import time
from dataclasses import replace
from typing import Any

HEALTH_INTERVAL = 1.0  # seconds between copies of the health log sent to the server (and at the end)
PARENT_CHECK = 1.0  # seconds between checks that the server is still there while waiting for an order


def main(orders: Any, events: Any, stop: Any, threads: int, nice: int, memory_mb: int = 0) -> None:
    """The process's entry point (a module-level function: spawn imports it by name). ``memory_mb``: memory
    the run may allocate beyond what the warm worker holds (0: no cap)."""
    if nice and hasattr(os, "nice"):  # Windows has no nice: its workers train at the server's priority
        with contextlib.suppress(OSError):  # not permitted here: train at the server's priority
            os.nice(nice)
    import torch

    torch.set_num_threads(threads)  # the server's count: the engine's thread budget starts from the same number
    import codegen.loader  # noqa: F401  -- warm: a run starts without paying for these imports
    import training.engine  # noqa: F401
    import ui.train.live_work  # noqa: F401
    import ui.train.neurons  # noqa: F401
    import ui.train.train_insight  # noqa: F401

    _rehearse()
    if memory_mb and not torch.cuda.is_available():  # CUDA reserves address space by the GB: the limit would
        _cap_memory(memory_mb)  # refuse its first allocation. A GPU run is held by the estimate and the device
    parent = os.getppid()
    threading.Thread(target=_stop_without_server, args=(parent, stop), name="layerlab-worker-orphan",
                     daemon=True).start()
    # One run after another: the server hands this worker a new order only after it sent the last one's result
    # (and cleared Stop). A run that raised ends the worker: the server starts a fresh one rather than trust it.
    while (order := _next_order(orders, parent)) is not None:
        if stop.is_set():  # stopped before this worker took it (it was still starting): nothing to train
            _send(events, "skipped")
            continue
        _send(events, "begun")
        order = pickle.loads(order)  # the server's own order (ui.train.process_executor.ProcessExecutor.run)
        _adopt_settings(order.environ)
        torch.set_num_threads(threads)  # the last run's engine may have picked another count
        if not _train(order, events, stop):
            break
    if os.getppid() != parent:  # nobody reads the messages left in the pipe: don't wait to flush them at exit
        events.cancel_join_thread()


def _next_order(orders: Any, parent: int) -> bytes | None:
    """The next order, or None when the pool is closing or the server has gone (a waiting worker must not linger)."""
    while True:
        try:
            return orders.get(timeout=PARENT_CHECK)
        except queue.Empty:
            if os.getppid() != parent:
                return None


def _stop_without_server(parent: int, stop: Any) -> None:
    """A server that died (killed, crashed) can't stop its runs: the run stops itself, its history says so."""
    while True:
        time.sleep(PARENT_CHECK)
        if os.getppid() != parent:
            stop.set()
            return


def _rehearse() -> None:
    """One tiny run (xor, one epoch, with the live views, kept nowhere) so the first real run doesn't pay the
    one-time costs: the imports made inside functions, the block catalog, codegen's module loading, torch's
    first calls. Measured in bench/bench_executor.py. Every run seeds its own random state, so it leaves no trace."""
    from builder.project import dump_project
    from builder.templates import load_template
    from data.datasets import load_dataset
    from training.config import TrainConfig
    from ui.train.live_work import RunOrder, Views, train_with_views

    try:
        graph = load_template("xor_mlp")
        meta = graph.meta["training"]
        dataset = load_dataset(meta["dataset"], **(meta.get("dataset_options") or {}))
        config = TrainConfig.from_dict({**meta, "epochs": 1})
        order = RunOrder(dump_project(graph), dataset, config, "classification")
        train_with_views(order, graph, Views(graph, dataset, config, "classification"), lambda _event: None,
                         threading.Event(), None)
    except Exception:  # a rehearsal that fails costs only the warm-up: the real run says what is wrong
        pass


def _cap_memory(memory_mb: int) -> None:
    """The OS limit on this process's address space: what it has mapped now (torch and the code) plus the cap.
    An allocation past it fails in torch ("can't allocate memory"), which the engine reports as out of memory."""
    try:
        import resource  # POSIX only

        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mapped + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):  # no /proc (macOS), Windows, or not allowed: no OS cap
        pass


def _adopt_settings(environ: dict[str, str] | None) -> None:
    """The server's settings as they are now, not as they were when this worker was started."""
    if environ is None:
        return
    from builder.settings import settings

    for key in [k for k in os.environ if k.startswith("LAYERLAB_")]:
        del os.environ[key]
    os.environ.update(environ)
    settings.cache_clear()


def _send(events: Any, *message: Any) -> None:
    events.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


class _Publisher:
    """Sends each view when it changed (the health log at most every HEALTH_INTERVAL, and at the end)."""

    def __init__(self, events: Any, views: Any) -> None:
        self.events, self.views = events, views
        self.sent: dict[str, Any] = {}
        self.health_at = 0.0

    def __call__(self, event: Any = None) -> None:
        for name in ("plan", "boundary", "neurons"):
            value = getattr(self.views, name)
            if value is not None and self.sent.get(name) is not value:
                _send(self.events, name, value)
                self.sent[name] = value
        health = self.views.health
        now = time.monotonic()
        # the whole log is copied each time (histograms included): at most every HEALTH_INTERVAL, and at the end
        if health is not None and (event is None or getattr(event, "kind", "") == "end"
                                   or now - self.health_at >= HEALTH_INTERVAL):
            _send(self.events, "health", health.log)
            self.health_at = now


def _train(order: Any, events: Any, stop: Any) -> bool:
    """Train the order's run, sending what it shows; True when it ended with a result (the worker can go on)."""
    from training.runstore import RunStoreError
    from ui.train.live_work import Views, train_with_views

    store = None
    if order.store_path:
        try:
            store = _ReportingStore(order.store_path, events)
        except RunStoreError as err:  # train anyway; only the history is lost (as in the server)
            _send(events, "note", f"This run won't be kept in the history: {err}")
    try:
        graph = order.graph()
        views = Views(graph, order.dataset, order.config, order.task)
        publish = _Publisher(events, views)

        def emit(event: Any) -> None:
            _send(events, "event", replace(event, model=None))  # numbers only: the model stays here

        result = train_with_views(order, graph, views, emit, stop, store, after_views=publish)
        publish()
        state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
        _send(events, "result", replace(result, model=None), state)
        return True
    except BaseException as err:  # said in the server exactly as a thread's exception is
        try:
            pickle.loads(pickle.dumps(err))  # some exceptions pickle but can't be rebuilt
            _send(events, "error", err)
        except Exception:  # one that doesn't travel: its words still go back, as the manager would say them
            from ui.train.run_manager import RunFailed

            _send(events, "error", RunFailed(f"{type(err).__name__}: {err}"))
        return False


class _ReportingStore:
    """The run store, telling the server the id of the run it starts (the page lists this session's runs)."""

    def __init__(self, path: str, events: Any) -> None:
        from training.runstore import RunStore

        self._store, self._events = RunStore(path), events

    def start_run(self, *args: Any, **kwargs: Any) -> str:
        run_id = self._store.start_run(*args, **kwargs)
        _send(self._events, "run_id", run_id)
        return run_id

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._store, name)
