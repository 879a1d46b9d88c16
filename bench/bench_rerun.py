"""Benchmark: server-side time from a canvas change to new shapes and issues, for a 50-node graph. JSON out.

Two measurements (target: under 300 ms from the canvas event to the new canvas state):
- ``canvas_update_ms``: the work the run does for one canvas event, timed directly: apply the event (a deleted
  edge), validate, lay out and render every node face, edge route and label.
- ``apptest_rerun_ms``: a whole-page rerun in Streamlit's AppTest after injecting the same kind of canvas value
  (includes AppTest's own overhead, so it is an upper bound of the server time of a real rerun).

Usage: python bench/bench_rerun.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.edits import add_node, set_param  # noqa: E402
from builder.graph import Graph  # noqa: E402
from builder.validate import validate  # noqa: E402
from ui.design.canvas_events import apply_event  # noqa: E402
from ui.design.canvas_view import canvas_elements, edge_id  # noqa: E402

BLOCK = ("Conv2d", "BatchNorm2d", "ReLU", "Dropout2d")  # 4 blocks per stage, padding keeps 16×16
TARGET_MS = 300.0


def fifty_nodes() -> Graph:
    """Input → 11 stages of Conv/BN/ReLU/Dropout → pool → Flatten → Linear → ReLU → Linear: 50 nodes."""
    graph, last = add_node(Graph(name="bench50"), "Input")
    graph = set_param(graph, last, "shape", [3, 16, 16])
    for type_name in [*BLOCK * 11, "AdaptiveAvgPool2d", "Flatten", "Linear", "ReLU", "Linear"]:
        graph, new = add_node(graph, type_name, after=last)
        if type_name == "Conv2d":
            graph = set_param(graph, new, "padding", 1)
        last = new
    assert len(graph.nodes) == 50, len(graph.nodes)
    return graph


def canvas_value(graph: Graph, drop_edge: int, event_id: str) -> dict:
    """What the canvas sends when the user deleted one edge (ui/canvas_frontend: one intent per event)."""
    edges = [edge_id(e) for k, e in enumerate(graph.edges) if k == drop_edge]
    return {"id": event_id, "kind": "delete", "nodes": [], "edges": edges}


def time_direct(graph: Graph, repeat: int) -> list[float]:
    times = []
    for k in range(repeat):
        start = time.perf_counter()
        outcome = apply_event(graph, None, canvas_value(graph, k % len(graph.edges), f"d{k}"))
        result = validate(outcome.graph)
        canvas_elements(outcome.graph, result)
        times.append((time.perf_counter() - start) * 1000)
    return times


def time_apptest(graph: Graph, repeat: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    from builder.share import encode_share

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["design"] = encode_share(graph)
    at.run()
    clock = itertools.count(1)
    times = []
    for k in range(repeat + 1):
        history = at.session_state["ll_history"]
        # Alternately the user deletes an edge (new shapes and issues) / presses Ctrl+Z on the canvas.
        value = (canvas_value(history.current, 0, f"e{next(clock)}") if k % 2 == 0
                 else {"id": f"u{next(clock)}", "kind": "undo"})
        at.session_state["canvas"] = value
        start = time.perf_counter()
        at.run()
        if k:  # the first run warms caches
            times.append((time.perf_counter() - start) * 1000)
        assert not at.exception, at.exception
        expected = len(graph.edges) - (1 if k % 2 == 0 else 0)
        assert len(at.session_state["ll_history"].current.edges) == expected, "the canvas change was not applied"
    return times


def stats(times: list[float]) -> dict:
    return {"median": round(statistics.median(times), 2), "max": round(max(times), 2), "n": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parse_args(parser, {"repeat": 1})
    graph = fifty_nodes()
    time_direct(graph, 3)  # warm-up
    direct = stats(time_direct(graph, args.repeat))
    rerun = stats(time_apptest(graph, args.repeat))
    print(json.dumps({
        "quick": args.quick,
        "load_average": [round(v, 2) for v in os.getloadavg()],  # a shared machine slows every figure
        "nodes": len(graph.nodes), "edges": len(graph.edges),
        "canvas_update_ms": direct, "apptest_rerun_ms": rerun, "target_ms": TARGET_MS,
        "meets_target": direct["median"] < TARGET_MS and rerun["median"] < TARGET_MS,
        "python": platform.python_version(), "machine": platform.machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
