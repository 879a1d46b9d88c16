"""The run manager with real threads: cap, queue order, stop, new run replaces old, heartbeat and session loss."""

from __future__ import annotations

import threading
import time

import pytest

from ui.train.run_manager import RunManager, RunState, session_alive


def _blocking_work(started: list[str], gate: threading.Event):
    """A worker that records its start and runs until released or stopped (checked like one engine step)."""

    def work(handle):
        started.append(handle.label)
        while not handle.stop_event.is_set() and not gate.is_set():
            handle.emit({"step": len(handle.events)})
            time.sleep(0.01)
        return "done"

    return work


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_cap_and_queue_order_and_places():
    manager = RunManager(max_runs=2, heartbeat_timeout=60)
    started: list[str] = []
    gate = threading.Event()
    handles = [manager.submit(f"s{i}", _blocking_work(started, gate), label=f"r{i}") for i in range(5)]
    assert _wait_for(lambda: len(started) == 2)
    assert sorted(started) == ["r0", "r1"]
    assert [manager.place(h) for h in handles] == [0, 0, 1, 2, 3]
    assert [h.state for h in handles] == [RunState.RUNNING] * 2 + [RunState.QUEUED] * 3
    assert manager.counts() == (2, 3)
    manager.stop(handles[0])  # frees a slot: the first queued run starts, never more than two at once
    assert _wait_for(lambda: len(started) == 3)
    assert started[2] == "r2"
    assert handles[0].wait(2) and handles[0].state is RunState.STOPPED
    assert [manager.place(h) for h in handles[2:]] == [0, 1, 2]
    gate.set()
    assert all(h.wait(5) for h in handles)
    assert sorted(started[3:]) == ["r3", "r4"]  # they start together once r1 and r2 free their slots
    assert [h.state for h in handles[1:]] == [RunState.FINISHED] * 4
    assert handles[1].result == "done"
    assert manager.counts() == (0, 0)


def test_stopping_a_queued_run_removes_it_and_never_starts_it():
    manager = RunManager(max_runs=1, heartbeat_timeout=60)
    started: list[str] = []
    gate = threading.Event()
    first = manager.submit("a", _blocking_work(started, gate), label="first")
    queued = manager.submit("b", _blocking_work(started, gate), label="queued")
    assert manager.place(queued) == 1
    manager.stop(queued)
    assert queued.state is RunState.STOPPED and queued.stop_reason == "stopped by the user"
    gate.set()
    assert first.wait(5)
    time.sleep(0.1)
    assert started == ["first"]


def test_new_run_in_same_session_stops_the_old_one():
    manager = RunManager(max_runs=2, heartbeat_timeout=60)
    started: list[str] = []
    gate = threading.Event()
    old = manager.submit("same", _blocking_work(started, gate), label="old")
    assert _wait_for(lambda: old.state is RunState.RUNNING and old.events)
    new = manager.submit("same", _blocking_work(started, gate), label="new")
    assert old.wait(2), "the old worker must end within one step"
    assert old.state is RunState.STOPPED and old.stop_reason == "a new run was started"
    assert manager.current("same") is new
    gate.set()
    assert new.wait(5) and new.state is RunState.FINISHED


def test_no_heartbeat_stops_the_worker():
    manager = RunManager(max_runs=2, heartbeat_timeout=0.6)
    started: list[str] = []
    handle = manager.submit("tab", _blocking_work(started, threading.Event()), label="watched")
    for _ in range(10):  # the page polls for a second: the run keeps going
        handle.beat()
        time.sleep(0.1)
    assert handle.state is RunState.RUNNING
    t0 = time.monotonic()
    assert handle.wait(5)  # the page stops polling
    assert handle.state is RunState.STOPPED
    assert "stopped polling" in handle.stop_reason
    assert time.monotonic() - t0 < 0.6 + 1.0


def test_closed_session_stops_the_worker_even_while_heartbeats_are_recent():
    manager = RunManager(max_runs=2, heartbeat_timeout=60)
    connected = {"yes": True}
    handle = manager.submit(
        "tab", _blocking_work([], threading.Event()), label="x", alive=lambda: connected["yes"]
    )
    time.sleep(0.5)
    assert handle.state is RunState.RUNNING
    connected["yes"] = False
    t0 = time.monotonic()
    assert handle.wait(5)
    assert handle.stop_reason == "the page was closed"
    assert time.monotonic() - t0 < 3.0


def test_a_short_disconnect_does_not_stop_the_run():
    manager = RunManager(max_runs=1, heartbeat_timeout=60)
    connected = {"yes": True}
    gate = threading.Event()
    handle = manager.submit("tab", _blocking_work([], gate), alive=lambda: connected["yes"])
    connected["yes"] = False
    time.sleep(0.5)  # shorter than the grace period: a websocket reconnect
    connected["yes"] = True
    time.sleep(1.5)
    assert handle.state is RunState.RUNNING
    gate.set()
    assert handle.wait(5) and handle.state is RunState.FINISHED


def test_worker_exception_becomes_a_failed_run_and_frees_the_slot():
    manager = RunManager(max_runs=1, heartbeat_timeout=60)

    def broken(handle):
        raise ValueError("bad things")

    failed = manager.submit("a", broken)
    after = manager.submit("b", lambda h: 42)
    assert failed.wait(5) and after.wait(5)
    assert failed.state is RunState.FAILED and failed.error == "ValueError: bad things"
    assert after.result == 42


def test_cap_from_environment(monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_RUNS", "3")
    assert RunManager().max_runs == 3
    monkeypatch.setenv("LAYERLAB_MAX_RUNS", "zero")
    assert RunManager().max_runs == 2


def test_outside_a_server_there_is_no_session_check():
    assert session_alive("nope") is None  # the manager then relies on heartbeats


def test_with_a_session_check_a_page_that_stops_polling_keeps_its_run():
    """A user looking at another tab of the app is still connected: the run goes on without heartbeats."""
    manager = RunManager(max_runs=1, heartbeat_timeout=0.5)
    gate = threading.Event()
    handle = manager.submit("tab", _blocking_work([], gate), alive=lambda: True)
    time.sleep(1.5)
    assert handle.state is RunState.RUNNING
    gate.set()
    assert handle.wait(5) and handle.state is RunState.FINISHED


@pytest.mark.parametrize("n", [6])
def test_many_sessions_never_exceed_the_cap(n):
    manager = RunManager(max_runs=2, heartbeat_timeout=60)
    concurrent = {"now": 0, "max": 0}
    lock = threading.Lock()

    def work(handle):
        with lock:
            concurrent["now"] += 1
            concurrent["max"] = max(concurrent["max"], concurrent["now"])
        time.sleep(0.05)
        with lock:
            concurrent["now"] -= 1

    handles = [manager.submit(f"s{i}", work) for i in range(n)]
    assert all(h.wait(5) for h in handles)
    assert concurrent["max"] == 2


def test_a_long_event_log_is_thinned_but_keeps_its_ends():
    manager = RunManager(max_runs=1, heartbeat_timeout=60)

    def chatty(handle):
        for i in range(25_000):
            handle.emit(i)

    handle = manager.submit("s", chatty)
    assert handle.wait(10) and handle.state is RunState.FINISHED
    events = handle.events
    assert len(events) <= handle.max_events
    assert events[0] == 0 and events[-1] == 24_999
    assert events[-1000:] == list(range(24_000, 25_000))  # the newest tenth is whole
    assert events == sorted(events)  # order kept
