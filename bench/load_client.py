"""The pieces of bench/load_test.py that are not the scenario: a LayerLab server on loopback, /proc readings
of its memory and CPU, and ``Session``, a browser tab as the server sees it, speaking Streamlit's websocket
protocol (``BackMsg``/``ForwardMsg`` protobufs from the ``streamlit`` package over ``websockets``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
DONE = ForwardMsg.ScriptFinishedStatus


# ---- the server --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, max_runs: int, options: list[str] = (), script: str = "app.py",
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, Path]:
    """``streamlit run app.py`` (or another ``script`` of the repository) on a free loopback port, in its own
    process group (stopped by its PID).

    ``options`` are Streamlit config settings as ``section.name=value`` (e.g. ``runner.postScriptGC=false``)."""
    extra = [arg for option in options for arg in (f"--{option.split('=', 1)[0]}", option.split("=", 1)[1])]
    port, log = _free_port(), data_dir / f"server_{Path(script).stem}.log"
    env = {**os.environ, "LAYERLAB_DATA_DIR": str(data_dir), "LAYERLAB_MAX_RUNS": str(max_runs),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.port",
             str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", *extra],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url, log
        except OSError:
            time.sleep(0.25)
    stop_server(proc)
    raise RuntimeError("streamlit did not answer within 90 s")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the group this script created: nothing else
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the server and anything it spawned)."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and all its descendants, in MB (from /proc/PID/status)."""
    total = 0
    for current in process_tree(pid):
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants so far."""
    total = 0
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


class MemoryWatch(threading.Thread):
    """Samples the server's RSS every 0.5 s; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.halt = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.5):
            self.peak = max(self.peak, tree_rss_mb(self.pid))


# ---- one session -------------------------------------------------------------------------------------------
@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    page_loads: list[float] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    trainings: list[dict] = field(default_factory=list)
    phase: str = "loading"  # "training" once the trainers pressed Start
    by_phase: dict[str, list[float]] = field(default_factory=dict)

    def add(self, action: str, seconds: float) -> None:
        self.latencies.setdefault(action, []).append(seconds)
        self.by_phase.setdefault(self.phase, []).append(seconds)


class Session:
    """A browser tab, as far as the server can tell: widget states, fragment polling, the canvas's events."""

    def __init__(self, url: str, name: str, stats: Stats, timeout: float,
                 think: tuple[float, float] = (0.0, 0.0), seed: int = 0) -> None:
        self.url, self.name, self.stats, self.timeout = url, name, stats, timeout
        self.think, self.rng = think, random.Random(seed)
        self.widgets: dict[str, str] = {}  # user key -> element id, newest render wins
        self.kinds: dict[str, str] = {}  # user key -> element kind ("button:disabled", "number_1"...)
        self.values: dict[str, WidgetState] = {}  # element id -> value the "browser" keeps sending
        self.texts: list[str] = []  # what was drawn since the current action was sent
        self.canvas: dict = {}
        self.canvas_at = (None, "")  # (element id, fragment id)
        self.sent = 0  # canvas events sent: their ids
        self.page_hash = ""
        self.polls: dict[str, asyncio.Task] = {}
        self.waiters: list[asyncio.Future] = []  # resolved at the end of every successful script run
        self.ws = None
        self.closed = False

    # -- protocol
    async def open(self, query: str = "") -> None:
        started = time.monotonic()
        await asyncio.to_thread(lambda: urllib.request.urlopen(self.url + "/", timeout=self.timeout).read())
        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=self.timeout)
        self.reader = asyncio.create_task(self._read())
        await self._send(query=query)
        await self.wait_for(lambda: "Start blank" in self.page_text(), "page load")
        self.stats.page_loads.append(time.monotonic() - started)

    async def close(self) -> None:
        self.closed = True
        self.stop_polls()
        if self.ws is not None:
            self.reader.cancel()
            await self.ws.close()

    async def _send(self, extra: list[WidgetState] = (), fragment: str = "", query: str = "",
                    auto: bool = False) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_script_hash = query, self.page_hash
        state.fragment_id, state.is_auto_rerun = fragment, auto
        state.widget_states.widgets.extend([*self.values.values(), *extra])
        await self.ws.send(msg.SerializeToString())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._handle(ForwardMsg.FromString(raw))
        except Exception as err:  # a dropped connection is an error of the test run, not a crash
            if not isinstance(err, asyncio.CancelledError):
                self.stats.errors.append(f"{self.name}: connection lost: {type(err).__name__}: {err}")

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
        elif kind == "delta":
            self._delta(msg.delta)
        elif kind == "auto_rerun":
            self._poll(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
            self.stats.errors.append(f"{self.name}: script compilation exception")
        elif kind == "script_finished":
            if msg.script_finished == DONE.FINISHED_WITH_COMPILE_ERROR:
                self.stats.errors.append(f"{self.name}: script failed to compile")
            if msg.script_finished in (DONE.FINISHED_SUCCESSFULLY, DONE.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                for waiter in self.waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                self.waiters.clear()

    def _delta(self, delta) -> None:
        if delta.WhichOneof("type") == "add_block" and delta.add_block.id.startswith("$$ID-"):
            self.widgets[delta.add_block.id.split("-", 2)[2]] = delta.add_block.id  # stateful tabs
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        body = getattr(element, kind)
        if kind == "exception":
            self.stats.errors.append(f"{self.name}: exception shown: {body.type}: {body.message[:200]}")
        for attr in ("body", "text", "label"):
            if hasattr(body, attr) and isinstance(getattr(body, attr), str):
                self.texts.append(getattr(body, attr))
        element_id = getattr(body, "id", "")
        if isinstance(element_id, str) and element_id.startswith("$$ID-"):
            key = element_id.split("-", 2)[2]
            self.widgets[key] = element_id
            self.kinds[key] = kind if kind != "number_input" else f"number_{body.data_type}"
            if kind == "button":
                self.kinds[key] += ":disabled" if body.disabled else ""
        if kind == "component_instance" and element_id.endswith("-canvas"):
            args = json.loads(body.json_args)
            if args.get("nodes") is not None:  # None: the canvas holds this drawing already (a fragment run)
                self.canvas = args
                self.texts.extend(" ".join(text for line in n["lines"] for _, text in line) for n in args["nodes"])
            self.canvas_at = (element_id, delta.fragment_id)

    def _poll(self, fragment: str, interval: float) -> None:
        """The browser reruns a ``run_every`` fragment on a timer until a full run stops asking."""
        if fragment in self.polls or self.closed:
            return

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                sent = time.monotonic()
                finish = self.next_finish()
                try:
                    await self._send(fragment=fragment, auto=True)
                except ConnectionClosed:
                    return  # the tab is closing
                if await self.finished_within(finish, self.timeout):
                    self.stats.polls.append(time.monotonic() - sent)
                else:
                    self.stats.errors.append(f"{self.name}: live view poll timed out")

        self.polls[fragment] = asyncio.create_task(loop())

    def stop_polls(self) -> None:
        for task in self.polls.values():
            task.cancel()
        self.polls.clear()

    async def canvas_value(self, selected: str | None, fragment: str | None = None) -> None:
        """A click on a node: LayerLab's canvas sends one intent per event (ui/canvas_frontend), never its state."""
        self.sent += 1
        value = {"id": f"{self.name}-{self.sent}", "kind": "select", "node": selected}
        element_id = self.canvas_at[0]
        self.values[element_id] = WidgetState(id=element_id, json_value=json.dumps(value))
        await self._send(fragment=self.canvas_at[1] if fragment is None else fragment)

    # -- actions
    def page_text(self) -> str:
        return "\n".join(self.texts)

    def next_finish(self) -> asyncio.Future:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return waiter

    @staticmethod
    async def finished_within(waiter: asyncio.Future, seconds: float) -> bool:
        try:
            await asyncio.wait_for(waiter, max(0.01, seconds))
            return True
        except TimeoutError:
            return False

    async def wait_for(self, ready: Callable[[], bool], what: str) -> bool:
        """Wait until ``ready()`` holds after a finished script run (checked at each one)."""
        deadline = time.monotonic() + self.timeout
        while not ready():
            if not await self.finished_within(self.next_finish(), deadline - time.monotonic()) and not ready():
                self.stats.errors.append(f"{self.name}: timed out waiting for {what}")
                return False
        return True

    async def act(self, action: str, send: Callable, ready: Callable[[], bool], pause: bool = True) -> bool:
        """After the user's think time, send one action and time it until the page shows its result."""
        if pause and self.think[1] > 0:
            await asyncio.sleep(self.rng.uniform(*self.think))
        self.texts = []
        started = time.monotonic()
        await send()
        ok = await self.wait_for(ready, action)
        if ok:
            self.stats.add(action, time.monotonic() - started)
        return ok

    def click(self, key: str) -> Callable:
        return lambda: self._send([WidgetState(id=self.widgets[key], trigger_value=True)])

    def set_value(self, key: str, **value) -> Callable:
        state = WidgetState(id=self.widgets[key], **value)
        self.values[state.id] = state
        return lambda: self._send()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)
