"""Runs in worker processes: ``ProcessExecutor``, the default executor (``ui.train.executor`` chooses it).

It keeps warm workers (spawn; each has imported torch and the training code): one started with the Train tab, and
each worker whose run ended with its result, up to the server's run cap plus one, so a run starts about as fast as
in a thread (a run beyond the workers waiting starts one of its own). The manager's run thread relays the worker's
messages: it is the relay thread. A worker that dies without a result (killed, out of memory) ends its run with
``RunInterrupted``, and the run's row in the history says "interrupted"; the server and the other runs go on. A Stop
that reaches a worker still starting ends the run at once; the worker skips the order. The worker's side is
``ui.train.worker``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import signal
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from ui.train.executor import run_cap, run_memory_cap_mb
from ui.train.live_work import RunOrder, server_settings
from ui.train.run_manager import RunHandle, RunInterrupted

WORKER_NICE = 5  # a little below the server, so the page answers while runs train (0 turns it off)
POLL = 0.05  # seconds the relay waits for a message before it looks at Stop and the worker's health
REAP_WAIT = 10.0  # seconds a worker that sent its result may take to exit before it is killed
STOP_GRACE = 5.0  # seconds a stopped worker may take to end its run before it is killed
SETTLE_WAIT = 120.0  # seconds a worker stopped before it began its run may take to put the order behind it


# Spawn normally re-runs the parent's __main__ in the child. In a Streamlit server (and AppTest) __main__ is the
# page script: a worker would run the app. A worker needs nothing from __main__ (its target is ui.train.worker.main),
# so its preparation data leaves __main__ out; other users of multiprocessing in the server are unaffected.
_LAUNCHING = threading.local()


def _without_main(get_preparation_data: Any) -> Any:
    def preparation_data(name: str) -> dict[str, Any]:
        data = get_preparation_data(name)
        if getattr(_LAUNCHING, "worker", False):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data.layerlab = True
    return preparation_data


def _install_spawn_hook() -> None:
    from multiprocessing import spawn

    if not getattr(spawn.get_preparation_data, "layerlab", False):
        spawn.get_preparation_data = _without_main(spawn.get_preparation_data)


@dataclass(eq=False)
class Worker:
    process: Any
    orders: Any
    events: Any
    stop: Any


class ProcessExecutor:
    """Trains each run in a worker process; a worker whose run ended with its result is kept for the next run,
    and one is started, warm, before the first run, so a run starts about as fast as in a thread."""

    kind = "process"

    def __init__(self, nice: int | None = None, memory_mb: int | None = None, keep: int | None = None) -> None:
        import torch

        _install_spawn_hook()
        self.context = multiprocessing.get_context("spawn")
        self.threads = torch.get_num_threads()
        self.nice = WORKER_NICE if nice is None else nice
        self.memory_mb = run_memory_cap_mb() if memory_mb is None else memory_mb
        # workers kept waiting: one per run that can train at once, and the first one started
        self.keep = (run_cap() if keep is None else keep) + 1
        self._lock = threading.Condition()  # notified when a settling worker comes back
        self._idle: list[Worker] = []  # warm workers waiting for an order
        self._settling = 0  # workers putting behind them an order stopped before they began it (_settle)

    # -- workers -------------------------------------------------------------------------------------------------
    def _start(self) -> Worker:
        from ui.train import worker

        ctx = self.context
        orders, events, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        args = (orders, events, stop, self.threads, self.nice, self.memory_mb)
        process = ctx.Process(target=worker.main, args=args, name="layerlab-worker", daemon=True)
        _LAUNCHING.worker = True
        try:
            process.start()
        finally:
            _LAUNCHING.worker = False
        return Worker(process, orders, events, stop)

    def warm(self) -> None:
        """Have a worker waiting: one is started (it imports torch meanwhile) when none waits."""
        with self._lock:
            self._idle = [w for w in self._idle if w.process.is_alive()]
            if self._idle:
                return
            self._idle.append(self._start())

    def take(self, handle: RunHandle | None = None) -> Worker | None:
        """The waiting worker used last, or a new one when none waits. No replacement is started meanwhile: a
        worker starting (importing torch) takes seconds of CPU from the runs on the machine (the first Stop of a
        session took 4 s on two busy cores while one started), and the run's own worker comes back when it ends.
        So runs one after another always find a warm worker; a run beyond those waiting starts a worker of its
        own, and that worker then waits for the next. None when ``handle`` is stopped while it waits."""
        deadline = time.monotonic() + SETTLE_WAIT
        with self._lock:
            # a worker stopped before it began its last run is about to wait again: the next run takes it rather
            # than start one more (Start, Stop, Start while the first worker imports torch)
            while self._settling and not self._idle and time.monotonic() < deadline:
                if handle is not None and handle.stopping:
                    return None
                self._lock.wait(POLL)
            while self._idle and not self._idle[-1].process.is_alive():
                self._idle.pop()
            worker = self._idle.pop() if self._idle else None
        return worker if worker is not None else self._start()

    def waiting_pids(self) -> list[int]:
        """The process ids of the workers waiting for a run."""
        with self._lock:
            return [w.process.pid for w in self._idle if w.process.is_alive()]

    def give_back(self, worker: Worker) -> None:
        """A worker whose run ended with its result waits for the next run; one too many is told to exit."""
        worker.stop.clear()
        with self._lock:
            if worker.process.is_alive() and len(self._idle) < self.keep:
                self._idle.append(worker)
                self._lock.notify_all()
                return
        _retire(worker)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            _retire(worker)

    # -- a run ---------------------------------------------------------------------------------------------------
    def run(self, order: RunOrder, views: Any, handle: RunHandle, store: Any, graph: Any = None) -> Any:
        # pickled here, not in the queue's feeder thread: an order that can't travel fails the run with its
        # reason instead of leaving a worker waiting for it. Plain pickle copies the tensors through the pipe;
        # torch's shared-memory pickling would need room in /dev/shm, which containers often keep at 64 MB.
        if order.environ is None:
            order = replace(order, environ=server_settings())
        raw = pickle.dumps(order, protocol=pickle.HIGHEST_PROTOCOL)
        worker = self.take(handle)
        if worker is None:
            return _stopped_before_training(handle)
        handle.worker_pid = worker.process.pid
        worker.orders.put(raw)
        relay = _Relay(worker, views, handle, store)
        try:
            return relay.run()
        finally:  # the run has its ending: the worker's own exit (torch's teardown) need not delay the page
            if relay.reusable:
                self.give_back(worker)
            elif relay.unbegun:  # still starting when Stop came: it skips the order, then waits for the next
                with self._lock:
                    self._settling += 1
                threading.Thread(target=self._settle, args=(worker, store), name="layerlab-worker-settle",
                                 daemon=True).start()
            else:  # killed, failed or stopped by force: it goes, and a fresh one waits for the next run
                threading.Thread(target=self._replace, args=(worker,), name="layerlab-worker-reap",
                                 daemon=True).start()

    def _replace(self, worker: Worker) -> None:
        _reap(worker)
        self.warm()

    def _settle(self, worker: Worker, store: Any) -> None:
        """A worker whose run was stopped before it began: read what it sends until it has put the order behind
        it (skipped, or begun just before Stop reached it and halted at once), then it waits for the next run.
        One that dies or says nothing within SETTLE_WAIT (importing torch on a busy machine) is replaced."""
        try:
            if self._settled(worker, store):
                self.give_back(worker)
                return
            _reap(worker)
        finally:
            with self._lock:
                self._settling -= 1
                self._lock.notify_all()
        self.warm()

    def _settled(self, worker: Worker, store: Any) -> bool:
        deadline = time.monotonic() + SETTLE_WAIT
        while time.monotonic() < deadline:
            try:
                kind, *values = pickle.loads(worker.events.get(timeout=POLL))  # our own worker's bytes
            except queue.Empty:
                if worker.process.is_alive():
                    continue
                break
            if kind == "run_id":  # it had begun: the stopped run is in the history, listed for this session
                _list_in_session(store, values[0])
            elif kind in ("skipped", "result"):
                return True
            elif kind == "error":
                return False
        worker.process.kill()  # silent for SETTLE_WAIT, or dead: it goes
        return False


def _retire(worker: Worker) -> None:
    """Tell an idle worker to exit; one that doesn't within 2 s is killed."""
    with contextlib.suppress(OSError, ValueError):
        worker.orders.put(None)
    worker.process.join(2)
    if worker.process.is_alive():
        worker.process.kill()


def _reap(worker: Worker) -> None:
    worker.process.join(REAP_WAIT)
    if worker.process.is_alive():  # it sent its last word; nothing of the run is lost by ending it
        worker.process.kill()
        worker.process.join(1)


class _Relay:
    """Reads one worker's messages in the run manager's thread and applies them as a thread's run would."""

    def __init__(self, worker: Worker, views: Any, handle: RunHandle, store: Any) -> None:
        self.worker, self.views, self.handle, self.store = worker, views, handle, store
        self.run_id: str | None = None
        self.stop_sent: float | None = None
        self.reusable = False  # the worker sent its result and lives: it can train the next run
        self.begun = False  # the worker took the order (a worker still starting hasn't)
        self.unbegun = False  # stopped before the worker took the order: the run ended here, with no result

    def run(self) -> Any:
        worker = self.worker
        while True:
            self._pass_stop()
            if self.stop_sent is not None and not self.begun:
                done, value = self._read_waiting()
                if done:
                    return value
                if not self.begun:
                    # Stop came while the worker was still starting (importing torch, its rehearsal): the run
                    # ends now, not seconds later when the worker is ready; it skips the order (executor._settle)
                    self.unbegun = True
                    return _stopped_before_training(self.handle)
            try:
                raw = worker.events.get(timeout=POLL)
            except queue.Empty:
                if worker.process.is_alive():
                    continue
                return self._ended()
            done, value = self._apply(pickle.loads(raw))  # our own worker's bytes: trusted like our code
            if done:
                return value

    def _read_waiting(self) -> tuple[bool, Any]:
        """Apply the messages already in the pipe, without waiting for more."""
        while True:
            try:
                raw = self.worker.events.get_nowait()
            except queue.Empty:
                return False, None
            done, value = self._apply(pickle.loads(raw))
            if done:
                return done, value

    def _pass_stop(self) -> None:
        if self.handle.stopping and self.stop_sent is None:
            self.worker.stop.set()
            self.stop_sent = time.monotonic()
        elif self.stop_sent is not None and time.monotonic() - self.stop_sent > STOP_GRACE:
            self.worker.process.kill()  # it did not answer Stop: the run ends now (see _ended)

    def _ended(self) -> Any:
        """The worker is gone: read what it sent before it went, else the run was interrupted."""
        self.worker.process.join(1)
        while True:
            try:
                raw = self.worker.events.get(timeout=POLL)
            except queue.Empty:
                break
            done, value = self._apply(pickle.loads(raw))
            if done:
                return value
        code = self.worker.process.exitcode
        if self.stop_sent is not None and code is not None and code < 0:
            message = f"stopped: the training process did not stop within {STOP_GRACE:g} s and was ended"
            self._mark_interrupted(message)
            return None  # the manager sees the stop request: the run is "stopped"
        message = "interrupted: the training process " + _how_it_ended(code)
        self._mark_interrupted(message)
        raise RunInterrupted(message)

    def _mark_interrupted(self, message: str) -> None:
        if self.run_id is None or self.store is None:
            return
        from training.runstore import RunStore, RunStoreError

        with contextlib.suppress(RunStoreError):  # the history can't be written: the page still says why
            RunStore(self.store.path).finish_run(self.run_id, "interrupted", message)

    def _apply(self, message: tuple[Any, ...]) -> tuple[bool, Any]:
        kind, *values = message
        if kind == "event":
            self.handle.emit(values[0])
        elif kind in ("plan", "boundary", "neurons"):
            if self.views is not None:
                setattr(self.views, kind, values[0])
        elif kind == "health":
            if self.views is not None:
                self.views.health = HealthView(values[0])
        elif kind == "run_id":
            self.run_id = values[0]
            _list_in_session(self.store, self.run_id)
        elif kind == "note":
            if self.views is not None and hasattr(self.views, "note"):
                self.views.note = values[0]
        elif kind == "begun":
            self.begun = True
        elif kind == "skipped":  # the order came with Stop already set: nothing trained, the worker waits on
            self.reusable = True
            return True, _stopped_before_training(self.handle)
        elif kind == "error":
            raise values[0]
        elif kind == "result":
            self.reusable = self.worker is not None and self.worker.process.is_alive()  # None: Ray's relay
            return True, _with_model(*values)
        return False, None


def _stopped_before_training(handle: RunHandle) -> None:
    """The run ends with no result; the manager sees the stop request, so it is "stopped", and says when."""
    handle.stop_reason = f"{handle.stop_reason or 'stopped'} before training began"


def _list_in_session(store: Any, run_id: str) -> None:
    """This session's history lists the run (the page's store keeps the ids of the runs it started)."""
    started = getattr(store, "started", None)
    if started is not None and run_id not in started:
        started.append(run_id)


@dataclass
class HealthView:
    """The worker's health monitor as the page reads it: its log, as last sent."""

    log: Any


def _with_model(result: Any, state: dict[str, Any]) -> Any:
    """The RunResult with its model rebuilt here from the generated source and the trained weights."""
    from codegen.loader import build_model

    model = build_model(result.source)
    model.load_state_dict(state)
    result.model = model
    return result


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (the system may have run out of memory)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{why}; the server and other runs go on"
    return f"ended without a result (exit code {code}); the server and other runs go on"
