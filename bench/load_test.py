"""Classroom load test: N concurrent sessions against a LayerLab server this script starts on loopback.

    python bench/load_test.py --sessions 30 --trainers 10

Each session speaks Streamlit's own websocket protocol (the BackMsg/ForwardMsg protobufs the browser sends
and receives, see docs/load-test.md for why not 30 real browsers on 2 cores): it loads the page, opens a
template, clicks a node on the canvas, adds a Dropout from the palette, changes its ``p`` and undoes that
(rounds of four actions, a think time of ``--think`` seconds before each). ``--trainers`` of them also open the
Train tab, set Epochs to 1 and press Start at the same moment, once every session has loaded; the page's live
view is polled the way the browser does (the fragment's ``auto_rerun``), and a node click is the canvas's
one ``select`` intent, sent as the real component (ui/canvas_frontend) sends it: a rerun of the workspace
fragment. The run cap is set explicitly (``--max-runs``, default 2).

Printed as JSON: p50/p95 interaction latency (action sent -> the run that shows its result finished),
page loads, errors (exceptions in the page, failed loads, timeouts, tracebacks in the server log), server
memory per session (VmRSS of the server and its children, from /proc), training completion times and queue
waits (reported apart from interaction latency), and the load average. Bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_client import (  # noqa: E402
    MemoryWatch,
    Session,
    Stats,
    WidgetState,
    pct,
    start_server,
    stop_server,
    tree_cpu_s,
    tree_rss_mb,
)
from quick_mode import parse_args  # noqa: E402  (bench/, on sys.path above, as load_client)

EDIT_TEMPLATES = ("digits_cnn", "digits_mlp", "lenet5", "spirals_mlp", "tabular_mlp", "xor_mlp")
HEADING = re.compile(r"#### (\S+) · Dropout")
RUN_ENDED = re.compile(r"(finished|stopped|failed): |The run failed")
# The run's state caption while it trains (ui.train.train_live.state_text): its Material icon in Markdown, then
# "training" (not the Start button's "▶ Start training")
TRAINING = re.compile(r"[:\]] training\b")


# ---- the scenario ------------------------------------------------------------------------------------------
async def edit_round(s: Session, rng: random.Random) -> None:
    """Click a node, add a Dropout after it, set its p to 0.3, undo that."""
    middle = [n["id"] for n in s.canvas["nodes"][1:-1]] or [s.canvas["nodes"][0]["id"]]
    node = rng.choice(middle)
    if not await s.act("select_node", lambda: s.canvas_value(node), lambda: f"#### {node} · " in s.page_text()):
        return
    if not await s.act("palette_add", s.click("palette_Dropout"), lambda: HEADING.search(s.page_text())):
        return
    new = HEADING.search(s.page_text()).group(1)
    key = f"param_{new}_p"
    await s.wait_for(lambda: key in s.widgets, "the new node's inspector")
    if not await s.act("set_param", s.set_value(key, double_value=0.3), lambda: "p 0.3" in s.page_text()):
        return
    s.values.pop(s.widgets[key], None)  # the undo below resets the widget from Python
    await s.act("undo", s.click("undo"), lambda: "p 0.5" in s.page_text())


async def open_template(s: Session, template: str) -> bool:
    return await s.act("open_template", s.click(f"open_{template}"),
                       lambda: bool(s.canvas.get("nodes")) and "Opened the template" in s.page_text())


async def prepare_training(s: Session) -> bool:
    """Open the Train tab and set Epochs to 1; True once Start is enabled."""
    s.values[s.widgets["view"]] = WidgetState(id=s.widgets["view"], string_value="Train")
    if not await s.act("open_train_tab", lambda: s._send(), lambda: "Start training" in s.page_text()):
        return False
    epochs = next(k for k in s.widgets if k.endswith("_epochs"))
    await s.act("set_epochs", s.set_value(epochs, int_value=1), lambda: "Start training" in s.page_text())
    return await s.wait_for(lambda: s.kinds.get("train_start") == "button", "an enabled Start button")


async def train(s: Session, stats: Stats) -> None:
    clicked = time.monotonic()
    running_at = None

    def shows_state() -> bool:
        text = s.page_text()
        return ("Waiting for a free training slot" in text or bool(TRAINING.search(text))
                or bool(RUN_ENDED.search(text)))

    await s.act("start_training", s.click("train_start"), shows_state, pause=False)  # all at once
    deadline = clicked + 10 * s.timeout
    while time.monotonic() < deadline:
        text = s.page_text()
        if running_at is None and (TRAINING.search(text) or RUN_ENDED.search(text)):
            running_at = time.monotonic()
        if RUN_ENDED.search(text):
            break
        s.texts = []
        await s.finished_within(s.next_finish(), s.timeout)
    done = time.monotonic()
    text = s.page_text()
    ended = RUN_ENDED.search(text)
    if ended is None or ended.group(0) != "finished: ":
        stats.errors.append(f"{s.name}: the run did not finish: {ended.group(0) if ended else 'timed out'}")
    stats.trainings.append({"session": s.name, "queue_wait_s": round((running_at or done) - clicked, 2),
                            "completion_s": round(done - clicked, 2), "ok": bool(ended)})
    s.stop_polls()


async def student(k: int, args, url: str, stats: Stats, loaded: asyncio.Semaphore, go: asyncio.Event,
                  end: float) -> None:
    rng = random.Random(k)
    s = Session(url, f"s{k:02d}", stats, args.timeout, tuple(args.think), seed=k)
    trainer = k < args.trainers
    template = args.train_template if trainer else EDIT_TEMPLATES[k % len(EDIT_TEMPLATES)]
    signalled = False
    try:
        await asyncio.sleep(rng.uniform(0, args.ramp))  # students don't all press Enter in the same ms
        await s.open()
        if await open_template(s, template):
            await edit_round(s, rng)
            if trainer:
                await prepare_training(s)
        loaded.release()
        signalled = True
        await go.wait()  # every session is loaded: now the trainers press Start together
        if trainer:
            await train(s, stats)
        for _ in range(args.rounds):  # editors keep editing while the others train
            if time.monotonic() > end or trainer:
                break
            await edit_round(s, rng)
    except Exception as err:
        stats.errors.append(f"{s.name}: {type(err).__name__}: {err}")
    finally:
        if not signalled:
            loaded.release()
        await s.close()


async def run_all(args, url: str, stats: Stats, memory: dict, server_pid: int) -> None:
    end = time.monotonic() + args.max_seconds
    loaded, go = asyncio.Semaphore(0), asyncio.Event()
    tasks = [asyncio.create_task(student(k, args, url, stats, loaded, go, end)) for k in range(args.sessions)]

    async def all_loaded() -> None:
        for _ in range(args.sessions):
            await loaded.acquire()

    try:
        await asyncio.wait_for(all_loaded(), args.max_seconds)
    except TimeoutError:
        stats.errors.append("not every session loaded within --max-seconds")
    memory["load_phase_s"] = round(time.monotonic() - (end - args.max_seconds), 1)
    memory["after_load_mb"] = tree_rss_mb(server_pid)
    memory["cpu_load_phase_s"] = round(tree_cpu_s(server_pid) - memory.pop("cpu_at_start"), 1)
    cpu_go = tree_cpu_s(server_pid)
    stats.phase = "training"
    go.set()
    started = time.monotonic()
    done, pending = await asyncio.wait(tasks, timeout=max(1.0, end - time.monotonic()))
    for task in pending:
        task.cancel()
        stats.errors.append("a session was still busy at --max-seconds")
    memory["phase_two_s"] = round(time.monotonic() - started, 1)
    memory["cpu_phase_two_s"] = round(tree_cpu_s(server_pid) - cpu_go, 1)


def report(args, stats: Stats, memory: dict, wall: float, cpu: float, server_errors: int) -> dict:
    every = [x for v in stats.latencies.values() for x in v]
    per_action = {a: {"n": len(v), "p50_s": pct(v, 0.5), "p95_s": pct(v, 0.95), "max_s": round(max(v), 3)}
                  for a, v in sorted(stats.latencies.items())}
    waits = [t["queue_wait_s"] for t in stats.trainings]
    completions = [t["completion_s"] for t in stats.trainings]
    growth = memory["after_load_mb"] - memory["baseline_mb"]
    loadavg = memory.pop("loadavg")
    cpu_keys = ("load_phase_s", "cpu_load_phase_s", "phase_two_s", "cpu_phase_two_s")
    phases = {k: memory.pop(k, None) for k in cpu_keys}
    return {
        "quick": args.quick, "mode": "streamlit websocket protocol", "sessions": args.sessions,
        "trainers": args.trainers,
        "max_runs": args.max_runs, "train_template": args.train_template, "streamlit_options": args.st,
        "interactions": len(every), "p50_s": pct(every, 0.5), "p95_s": pct(every, 0.95),
        "max_s": round(max(every), 3) if every else None, "target_p95_s": 1.0,
        "by_phase": {p: {"n": len(v), "p50_s": pct(v, 0.5), "p95_s": pct(v, 0.95)} for p, v in stats.by_phase.items()},
        "by_action": per_action,
        "think_s": list(args.think), "rounds": args.rounds,
        "page_load": {"n": len(stats.page_loads), "p50_s": pct(stats.page_loads, 0.5),
                      "p95_s": pct(stats.page_loads, 0.95)},
        "live_view_poll": {"n": len(stats.polls), "p50_s": pct(stats.polls, 0.5), "p95_s": pct(stats.polls, 0.95)},
        "training": {"runs": len(stats.trainings), "finished": sum(t["ok"] for t in stats.trainings),
                     "queue_wait_p50_s": pct(waits, 0.5), "queue_wait_max_s": max(waits, default=None),
                     "completion_p50_s": pct(completions, 0.5), "completion_max_s": max(completions, default=None)},
        "errors": len(stats.errors) + server_errors, "error_samples": stats.errors[:10],
        "server_tracebacks": server_errors,
        "memory": {**memory, "per_session_mb": round(growth / max(1, args.sessions), 1)},
        "server_cpu": {
            "loading": {"wall_s": phases["load_phase_s"], "cpu_s": phases["cpu_load_phase_s"]},
            "training": {"wall_s": phases["phase_two_s"], "cpu_s": phases["cpu_phase_two_s"]},
            "cpu_s_per_interaction": round(
                ((phases["cpu_load_phase_s"] or 0) + (phases["cpu_phase_two_s"] or 0)) / max(1, len(every)), 3),
        },
        "wall_s": round(wall, 1), "load_generator_cpu_s": round(cpu, 1),
        "loadavg_before_after": loadavg, "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--trainers", type=int, default=10)
    parser.add_argument("--max-runs", type=int, default=2, help="LAYERLAB_MAX_RUNS for the server (its default)")
    parser.add_argument("--train-template", default="digits_cnn")
    parser.add_argument("--rounds", type=int, default=3, help="edit rounds per editor while the others train")
    parser.add_argument("--think", type=float, nargs=2, default=(2.0, 8.0), metavar=("MIN", "MAX"),
                        help="a student's pause before each action, uniform in [MIN, MAX] seconds")
    parser.add_argument("--ramp", type=float, default=10.0, help="sessions start over this many seconds")
    parser.add_argument("--timeout", type=float, default=60.0, help="per action")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="hard bound on the whole test")
    parser.add_argument("--st", action="append", default=[], metavar="SECTION.NAME=VALUE",
                        help="a Streamlit setting for the server, e.g. runner.postScriptGC=false (repeatable)")
    # quick: 3 sessions, one of them training xor_mlp for its few epochs (tests/test_load_smoke.py runs it)
    args = parse_args(parser, {"sessions": 3, "trainers": 1, "rounds": 1, "ramp": 1.0, "think": (0.0, 0.2),
                               "train_template": "xor_mlp", "timeout": 90.0, "max_seconds": 240.0}, argv)
    args.trainers = min(args.trainers, args.sessions)
    data_dir = Path(tempfile.mkdtemp(prefix="layerlab_load_"))
    proc, url, log = start_server(data_dir, args.max_runs, args.st)
    stats, memory = Stats(), {"loadavg": [round(x, 2) for x in os.getloadavg()]}
    try:
        warm = Stats()  # one session first: imports (torch, plotly) are not per-session memory
        asyncio.run(_warm_up(url, args, warm))
        memory["baseline_mb"], memory["cpu_at_start"] = tree_rss_mb(proc.pid), tree_cpu_s(proc.pid)
        watch = MemoryWatch(proc.pid)
        watch.start()
        started, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
        asyncio.run(run_all(args, url, stats, memory, proc.pid))
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        watch.halt.set()
        memory["peak_mb"], memory["end_mb"] = watch.peak, tree_rss_mb(proc.pid)
        stats.errors.extend(warm.errors)
    finally:
        stop_server(proc)
        tracebacks = log.read_text(errors="replace").count("Traceback")
        shutil.rmtree(data_dir, ignore_errors=True)
    memory["loadavg"] = [memory["loadavg"], [round(x, 2) for x in os.getloadavg()]]
    out = report(args, stats, memory, wall, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime,
                 tracebacks)
    print(json.dumps(out, indent=2))
    return out


async def _warm_up(url: str, args, stats: Stats) -> None:
    s = Session(url, "warmup", stats, args.timeout)
    try:
        await s.open()
        if await open_template(s, args.train_template):
            await prepare_training(s)
    finally:
        await s.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` or kill: still stop our server
    main()
