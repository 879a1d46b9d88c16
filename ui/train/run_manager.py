"""Training runs off the script thread: a per-server cap, a queue, and stopping runs nobody watches.

Streamlit runs each session's script on its own thread and threads outlive their tab, so the UI never trains
on the script thread. A ``RunManager`` (one per server process) starts at most ``max_runs`` workers at once;
the rest wait in a first-come queue and can ask for their place. A watchdog thread stops a run when its
session has gone (Streamlit's runtime says the websocket closed) or when the page stopped polling (no
heartbeat for ``heartbeat_timeout`` seconds, where no session check is available). Workers never call
``st.*``: they only write into their ``RunHandle``, which the page reads.

Nothing here imports streamlit at module level; the session check is injected (see ``session_alive``).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

DEFAULT_MAX_RUNS = 2
DEFAULT_HEARTBEAT_TIMEOUT = 15.0  # seconds; only where no session check exists (AppTest, bare scripts)
SESSION_GONE_GRACE = 1.5  # seconds a session may be disconnected (a websocket reconnect) before its run stops
WATCH_INTERVAL = 0.25


class RunFailed(Exception):
    """A run failed elsewhere (a worker process) and its message is already in words: said as is."""


class RunInterrupted(RunFailed):
    """A run's worker process ended without a result (killed, out of memory)."""


class RunState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        return self in (RunState.QUEUED, RunState.RUNNING)


@dataclass(eq=False)
class RunHandle:
    """What a page holds of its run. The worker appends to ``events``; the page only reads and heartbeats."""

    id: int
    session: str
    label: str
    work: Callable[[RunHandle], Any]
    alive: Callable[[], bool] | None = None  # is the owning session still connected?
    state: RunState = RunState.QUEUED
    stop_event: threading.Event = field(default_factory=threading.Event)
    events: list[Any] = field(default_factory=list)  # append-only: safe to read while the worker appends
    result: Any = None
    error: str | None = None
    stop_reason: str | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    heartbeat: float = field(default_factory=time.monotonic)
    gone_since: float | None = None  # when the session was first seen disconnected
    done_event: threading.Event = field(default_factory=threading.Event)
    max_events: int = 10_000
    worker_pid: int | None = None  # the process training the run, when it is not the server's (ui.train.executor)
    waiting: str = ""  # what a started run waits for before it trains (a free GPU on a Ray cluster), in words

    def beat(self) -> None:
        """The page is still looking: called on every poll of the live view."""
        self.heartbeat = time.monotonic()

    def emit(self, event: Any) -> None:
        """Record an event. A long run's log is thinned (every other older event dropped, the first and the
        newest tenth kept) so memory and the page's redraws stay bounded; charts show <= 400 points anyway."""
        self.events.append(event)
        if len(self.events) > self.max_events:
            keep = max(1, self.max_events // 10)
            # a new list, swapped in one step: a reader holding the old one is unaffected
            self.events = self.events[:1] + self.events[1:-keep:2] + self.events[-keep:]

    def request_stop(self, reason: str = "stopped by the user") -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()

    @property
    def latest(self) -> Any:
        return self.events[-1] if self.events else None

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (tests and the CLI use this; the page never blocks)."""
        return self.done_event.wait(timeout)


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def _configured_cap() -> int:
    """settings().max_concurrent_runs; the built-in default where the settings can't be read."""
    from builder.settings import SettingsError, settings

    try:
        return settings().max_concurrent_runs
    except SettingsError:  # the app reports a bad setting itself; the manager must still start
        return DEFAULT_MAX_RUNS


def _env_float(name: str, default: float) -> float:
    try:
        return max(0.5, float(os.environ.get(name, default)))
    except ValueError:
        return default


class RunManager:
    """Starts runs up to a cap, queues the rest, and stops runs that lost their page."""

    def __init__(self, max_runs: int | None = None, heartbeat_timeout: float | None = None) -> None:
        # LAYERLAB_MAX_RUNS (older name) wins over the max_concurrent_runs setting (LAYERLAB_MAX_CONCURRENT_RUNS)
        self.max_runs = max_runs or _env_int("LAYERLAB_MAX_RUNS", _configured_cap())
        self.heartbeat_timeout = heartbeat_timeout or _env_float(
            "LAYERLAB_HEARTBEAT_TIMEOUT", DEFAULT_HEARTBEAT_TIMEOUT
        )
        self._lock = threading.RLock()
        self._queue: list[RunHandle] = []
        self._running: list[RunHandle] = []
        self._by_session: dict[str, RunHandle] = {}
        self._ids = itertools.count(1)
        self._watchdog: threading.Thread | None = None

    # ---- submitting and stopping -------------------------------------------------------------------
    def submit(
        self,
        session: str,
        work: Callable[[RunHandle], Any],
        label: str = "run",
        alive: Callable[[], bool] | None = None,
    ) -> RunHandle:
        """Queue ``work(handle)`` for ``session``; the session's previous run is stopped first."""
        with self._lock:
            old = self._by_session.get(session)
            if old is not None and old.state.active:
                self._stop(old, "a new run was started")
            handle = RunHandle(next(self._ids), session, label, work, alive)
            self._by_session[session] = handle
            self._queue.append(handle)
            self._dispatch()
            self._ensure_watchdog()
        return handle

    def stop(self, handle: RunHandle, reason: str = "stopped by the user") -> None:
        with self._lock:
            self._stop(handle, reason)

    def _stop(self, handle: RunHandle, reason: str) -> None:
        handle.request_stop(reason)
        if handle in self._queue:  # never started: it ends here
            self._queue.remove(handle)
            self._finish(handle, RunState.STOPPED)

    def stop_all(self) -> None:
        with self._lock:
            for handle in [*self._queue, *self._running]:
                self._stop(handle, "the server is shutting down")

    # ---- what a page asks ---------------------------------------------------------------------------
    def place(self, handle: RunHandle) -> int:
        """1 for the first in the queue, 2 for the next...; 0 when it is not waiting."""
        with self._lock:
            return self._queue.index(handle) + 1 if handle in self._queue else 0

    def current(self, session: str) -> RunHandle | None:
        with self._lock:
            return self._by_session.get(session)

    def counts(self) -> tuple[int, int]:
        """(running, queued) over the whole server."""
        with self._lock:
            return len(self._running), len(self._queue)

    # ---- internals ----------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self.max_runs:
            handle = self._queue.pop(0)
            handle.state = RunState.RUNNING
            handle.started = time.monotonic()
            self._running.append(handle)
            thread = threading.Thread(
                target=self._run, args=(handle,), name=f"layerlab-run-{handle.id}", daemon=True
            )
            thread.start()

    def _run(self, handle: RunHandle) -> None:
        state = RunState.FINISHED
        try:
            handle.result = handle.work(handle)
        except RunFailed as err:
            handle.error = str(err)
            state = RunState.FAILED
        except Exception as err:  # a worker failure is shown on the page, never raised into the server
            handle.error = f"{type(err).__name__}: {err}"
            state = RunState.FAILED
        if state is RunState.FINISHED and handle.stopping:
            state = RunState.STOPPED
        with self._lock:
            if handle in self._running:
                self._running.remove(handle)
            self._finish(handle, state)
            self._dispatch()

    def _finish(self, handle: RunHandle, state: RunState) -> None:
        handle.state = state
        handle.finished = time.monotonic()
        handle.done_event.set()

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or not self._watchdog.is_alive():
            self._watchdog = threading.Thread(target=self._watch, name="layerlab-run-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        """Stop runs whose page went away; exits when nothing is active (restarted by the next submit)."""
        while True:
            time.sleep(WATCH_INTERVAL)
            with self._lock:
                active = [*self._queue, *self._running]
                if not active:
                    self._watchdog = None
                    return
                now = time.monotonic()
                for handle in active:
                    reason = self._abandoned(handle, now)
                    if reason and not handle.stopping:
                        self._stop(handle, reason)

    def _abandoned(self, handle: RunHandle, now: float) -> str | None:
        """Why the run should stop, if it should. Inside a Streamlit server the websocket's state decides
        (a user looking at another tab of the app stops polling but is still there); heartbeats decide only
        where no such check exists."""
        if handle.alive is None:
            if now - handle.heartbeat > self.heartbeat_timeout:
                return f"the page stopped polling for {self.heartbeat_timeout:g} s"
            return None
        try:
            connected = handle.alive()
        except Exception:  # a failing check must not kill the watchdog: treat the page as still there
            connected = True
        if connected:
            handle.gone_since = None
            return None
        handle.gone_since = handle.gone_since or now
        return "the page was closed" if now - handle.gone_since >= SESSION_GONE_GRACE else None


_MANAGER: RunManager | None = None
_MANAGER_LOCK = threading.Lock()


def get_manager() -> RunManager:
    """The server-wide manager. It is shared by every session on purpose (the cap is per server);
    each session only ever reaches its own handle, kept in its session state."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = RunManager()
        return _MANAGER


def session_alive(session_id: str) -> Callable[[], bool] | None:
    """A check that Streamlit's runtime still has ``session_id`` connected; None outside a server (bare
    scripts, AppTest), where the run manager falls back on heartbeats."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    runtime = Runtime.instance()
    return lambda: runtime.is_active_session(session_id)
