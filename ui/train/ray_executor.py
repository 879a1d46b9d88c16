"""Runs on a Ray cluster (LAYERLAB_EXECUTOR=ray): each run is a Ray actor of its own, on whichever machine of the
cluster has the CPUs, GPUs and memory the run asks for (the ray_* settings).

What goes over the wire is what a worker process gets (``ui.train.live_work.RunOrder``: the design as its project JSON
and the settings, never code from users) and what it sends back (numbers and arrays), pickled by LayerLab on
both sides exactly as in ``ui.train.worker``; the actor trains with that module's ``_train``. The server asks the actor
for its messages every ``POLL`` seconds (one round trip returns all that are waiting), so the page's live view
sees events as they come; measured in tests/test_ray_executor.py and bench/bench_ray_events.py.

Stop is a flag the actor's training checks between steps (as in a thread); an actor that doesn't answer within
``STOP_GRACE`` is killed. An actor that dies (its process killed, its node lost) ends the run as "interrupted"
with the history row saying so. A run that asks for more than the whole cluster has (a GPU on a cluster without
one) is refused at once with the numbers, instead of waiting forever; a run waiting for resources the cluster
has but are busy says so on the page.

Ray is optional (``pip install -e ".[ray]"``): nothing here imports it until a run is sent to it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ui.train.live_work import RunOrder, server_settings
from ui.train.run_manager import RunFailed, RunHandle, RunInterrupted

POLL = 0.1  # seconds an actor waits for a message before answering the server's poll with none
WAITING_AFTER = 3.0  # seconds unplaced before the page says what the run waits for (a worker starts in ~1 s)
ANSWER_WAIT = 10.0  # seconds a poll may take beyond POLL before the server asks again
STOP_GRACE = 5.0  # seconds a stopped actor may take to end its run before it is killed
ROOT = str(Path(__file__).resolve().parent.parent)  # LayerLab's code, for Ray's workers on this machine
RAY_MISSING = 'executor "ray" needs Ray, which is not installed: pip install -e ".[ray]" (or use executor "process")'


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RunFailed(RAY_MISSING) from None
    return ray


class RunActor:
    """One run, in a process of the cluster. Its methods are called from the server while it trains (a Ray
    actor with more than one thread), so the training itself runs in a thread of its own here."""

    def __init__(self) -> None:
        self.events: queue.Queue[bytes] = queue.Queue()
        self.stop = threading.Event()

    def start(self, raw: bytes, threads: int) -> int:
        """Begin training the order in a thread; returns this process's id (the run's ``worker_pid``) at once,
        so the server knows the run is placed before torch is imported here."""
        threading.Thread(target=self._run, args=(raw, threads), name="layerlab-ray-run", daemon=True).start()
        return os.getpid()

    def _run(self, raw: bytes, threads: int) -> None:
        try:
            import torch

            from ui.train.worker import _adopt_settings, _train

            torch.set_num_threads(max(1, threads))
            order = pickle.loads(raw)  # the LayerLab server's own order (RayExecutor.run), never a user's bytes
            _adopt_settings(order.environ)
        except Exception as err:  # LayerLab missing or another version on this machine: said on the page
            why = RunFailed(f"the run could not start on the Ray cluster's machine: {type(err).__name__}: {err}")
            self.events.put(pickle.dumps(("error", why), protocol=pickle.HIGHEST_PROTOCOL))
            return
        _train(order, self.events, self.stop)

    def poll(self, wait: float) -> list[bytes]:
        """Every message waiting (waiting up to ``wait`` seconds for the first)."""
        try:
            batch = [self.events.get(timeout=wait)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                batch.append(self.events.get_nowait())
        return batch

    def request_stop(self) -> None:
        self.stop.set()


def _resources_text(kind: str, count: float) -> str:
    return f"{count:g} {kind}{'' if count == 1 else 's'}"


def _start_ray(ray: Any, address: str) -> None:
    """ray.init, in a thread that never ends: Ray's daemons of a private cluster end with the thread that
    started them, and a run's thread (or a Streamlit script's) ends with its run (docs: shared/notes/ray.md)."""
    # an unreachable address would otherwise block for many minutes before saying anything
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "1")
    os.environ.setdefault("RAY_py_gcs_connect_timeout_s", "5")
    # Ray's workers on this machine import LayerLab from here; other machines need it installed (docs/classroom.md)
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}}
    kwargs: dict[str, Any] = {"runtime_env": runtime_env, "logging_level": "WARNING", "log_to_driver": False}
    if address:
        kwargs["address"] = address
    else:
        kwargs["include_dashboard"] = False
    outcome: dict[str, BaseException | None] = {}
    ready = threading.Event()

    def keep() -> None:
        try:
            ray.init(**kwargs)
            outcome["error"] = None
        except Exception as err:  # said by the run that asked (below)
            outcome["error"] = err
        ready.set()
        if outcome["error"] is None:
            threading.Event().wait()  # Ray's daemons live as long as the server

    threading.Thread(target=keep, name="layerlab-ray", daemon=True).start()
    ready.wait()
    err = outcome["error"]
    if err is not None:
        where = address or "a private cluster on this machine"
        hint = (" (the cluster asks for a token: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN for the server)"
                if "auth" in str(err).lower() else "")
        raise RunFailed(f"cannot reach the Ray cluster at {where}: {_first_line(err)}{hint}")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


class RayExecutor:
    """Sends each run to a Ray cluster as an actor and relays its messages as the worker processes' relay does
    (``ui.train.process_executor``)."""

    kind = "ray"

    def __init__(self, address: str | None = None, num_cpus: float | None = None, num_gpus: float | None = None,
                 memory_mb: int | None = None) -> None:
        from builder.settings import Settings, SettingsError, settings

        try:
            current = settings()
        except SettingsError:  # the app says what is wrong with the settings; a run still gets the defaults
            current = Settings()
        self.address = current.ray_address if address is None else address
        self.num_cpus = current.ray_num_cpus if num_cpus is None else num_cpus
        self.num_gpus = current.ray_num_gpus if num_gpus is None else num_gpus
        self.memory_mb = current.ray_memory_mb if memory_mb is None else memory_mb
        self._lock = threading.Lock()
        self._actor_class: Any = None

    # -- the cluster ---------------------------------------------------------------------------------------------
    def connect(self) -> Any:
        """Ray, connected to the cluster (a private one on this machine when no address is set)."""
        ray = _ray()
        with self._lock:
            if not ray.is_initialized():
                _start_ray(ray, self.address)
            if self._actor_class is None:
                self._actor_class = ray.remote(RunActor)
        return ray

    def refusal(self, ray: Any) -> str | None:
        """Why the cluster can never run this run (it asks for more than all its machines have), or None."""
        total = ray.cluster_resources()
        asked = {"CPU": self.num_cpus, "GPU": self.num_gpus, "memory": self.memory_mb * 2**20}
        for kind, count in asked.items():
            has = total.get(kind, 0)
            if count > has:
                if kind == "memory":
                    return (f"this run asks the Ray cluster for {self.memory_mb} MB of memory but all its machines "
                            f"have {has / 2**20:,.0f} MB: lower ray_memory_mb")
                return (f"this run asks the Ray cluster for {_resources_text(kind, count)} but it has "
                        f"{_resources_text(kind, has)} in all: it would wait forever. Set ray_num_{kind.lower()}s "
                        f"to at most {has:g}, or add a machine with {kind}s to the cluster")
        return None

    def waiting_text(self, ray: Any) -> str:
        """What a run waiting to be placed is waiting for, in the page's words."""
        free, total = ray.available_resources(), ray.cluster_resources()
        kind = "GPU" if self.num_gpus else "CPU"
        return (f"waiting for a {kind} on the cluster: {free.get(kind, 0):g} of {total.get(kind, 0):g} free "
                "(other runs are using them)")

    # -- a run ---------------------------------------------------------------------------------------------------
    def run(self, order: RunOrder, views: Any, handle: RunHandle, store: Any, graph: Any = None) -> Any:
        ray = self.connect()
        refused = self.refusal(ray)
        if refused:
            raise RunFailed(refused)
        if order.environ is None:
            order = replace(order, environ=server_settings())
        raw = pickle.dumps(order, protocol=pickle.HIGHEST_PROTOCOL)  # an order that can't travel fails here
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "max_concurrency": 4}
        if self.memory_mb:
            options["memory"] = self.memory_mb * 2**20
        actor = self._actor_class.options(**options).remote()
        try:
            return _RayRelay(ray, self, actor, views, handle, store).run(raw)
        finally:
            with contextlib.suppress(Exception):  # its result is in: the actor's resources go back now
                ray.kill(actor)

    def close(self) -> None:
        """Nothing to close: an actor ends with its run; Ray itself stays connected for the server's life."""


class _RayRelay:
    """Reads one actor's messages in the run manager's thread and applies them as
    ``ui.train.process_executor._Relay`` does."""

    def __init__(self, ray: Any, executor: RayExecutor, actor: Any, views: Any, handle: RunHandle,
                 store: Any) -> None:
        from ui.train.process_executor import _Relay

        self.ray, self.executor, self.actor, self.handle = ray, executor, actor, handle
        self.views = views
        self.apply = _Relay(None, views, handle, store)  # its message handling and history marking, unchanged
        self.stop_sent: float | None = None

    def run(self, raw: bytes) -> Any:
        started = self.actor.start.remote(raw, max(1, int(self.executor.num_cpus)))
        pid = self._placed(started)
        if pid is None:
            return None  # stopped while it waited for the cluster: the manager sees the stop request
        self.handle.worker_pid = pid
        while True:
            self._pass_stop()
            try:
                batch = self.ray.get(self.actor.poll.remote(POLL), timeout=POLL + ANSWER_WAIT)
            except self.ray.exceptions.GetTimeoutError:  # busy or far away: ask again (Stop is still checked)
                continue
            except self.ray.exceptions.RayActorError as err:
                return self._died(err)
            for message in batch:
                done, value = self.apply._apply(pickle.loads(message))  # the actor's LayerLab bytes (see start)
                if done:
                    return value
            if self.stop_sent is not None and time.monotonic() - self.stop_sent > STOP_GRACE:
                self.ray.kill(self.actor)
                message = f"stopped: the run on the Ray cluster did not stop within {STOP_GRACE:g} s and was ended"
                self.apply._mark_interrupted(message)
                return None

    def _placed(self, started: Any) -> int | None:
        """The actor's process id once the cluster has placed it; meanwhile the page says what it waits for."""
        asked = time.monotonic()
        while True:
            ready, _ = self.ray.wait([started], timeout=POLL)
            if ready:
                self.handle.waiting = ""  # placed: the page stops saying it waits
                try:
                    return self.ray.get(started)
                except self.ray.exceptions.RayActorError as err:
                    return self._died(err)
            if self.handle.stopping:
                return None
            if time.monotonic() - asked >= WAITING_AFTER and not self.handle.waiting:
                self.handle.waiting = self.executor.waiting_text(self.ray)  # said once: the page shows it

    def _pass_stop(self) -> None:
        if self.handle.stopping and self.stop_sent is None:
            self.actor.request_stop.remote()
            self.stop_sent = time.monotonic()

    def _died(self, err: Exception) -> Any:
        if self.stop_sent is not None:
            message = "stopped: the run's process on the Ray cluster ended after Stop"
            self.apply._mark_interrupted(message)
            return None
        why = _first_line(err)
        message = ("interrupted: the run's process on the Ray cluster died (killed, out of memory or its machine "
                   f"lost: {why}); the server and other runs go on")
        self.apply._mark_interrupted(message)
        raise RunInterrupted(message)
