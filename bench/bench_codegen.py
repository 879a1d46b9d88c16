"""Benchmark codegen, printed as JSON.

1. ``generate_model`` on a 100-node graph (residual conv blocks with branches and merges, then a Linear head):
   median warm time, with the validation result given (codegen alone, target <= 20 ms) and without it.
2. A training step (forward, cross-entropy, backward, Adam step) of the generated module against a hand-written
   ``nn.Module`` with the same layers and the same weights, interleaved in one process; the ratio of medians
   should stay within 1.00 ± 0.03. Models: the digits_cnn template and an MLP 64-128-64-10.

Usage: python bench/bench_codegen.py [--repeat 100] [--steps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.graph import Edge, Graph, Node  # noqa: E402
from builder.templates import load_template  # noqa: E402
from builder.validate import validate  # noqa: E402
from codegen.loader import build_model  # noqa: E402
from codegen.source import generate_model  # noqa: E402

CODEGEN_TARGET_MS = 20.0
RATIO_TOLERANCE = 0.03


def graph_of(size: int) -> Graph:
    """Exactly ``size`` nodes: Input, a stem conv, residual blocks (7 nodes each), pooling and a Linear head."""
    nodes: list[Node] = [Node("image", "Input", {"shape": [8, 16, 16]})]
    edges: list[Edge] = []

    def add(type_name: str, *sources: str, **params: object) -> str:
        node_id = f"{type_name.lower()}_{len(nodes)}"
        nodes.append(Node(node_id, type_name, params))
        edges.extend(Edge(s, node_id, str(k + 1) if type_name == "Add" else None) for k, s in enumerate(sources))
        return node_id

    x = "image"
    while len(nodes) + 7 + 3 <= size:
        h = add("Conv2d", x, out_channels=8, kernel_size=3, padding=1)
        h = add("BatchNorm2d", h)
        h = add("ReLU", h)
        h = add("Conv2d", h, out_channels=8, kernel_size=3, padding=1)
        h = add("BatchNorm2d", h)
        h = add("Add", h, x)
        x = add("ReLU", h)
    x = add("AdaptiveAvgPool2d", x, output_size=1)
    x = add("Flatten", x)
    while len(nodes) < size - 1:
        x = add("Linear", x, out_features=32) if len(nodes) % 2 else add("ReLU", x)
    add("Linear", x, out_features=10)
    return Graph("bench_100", tuple(nodes), tuple(edges))


def time_codegen(size: int, repeat: int) -> dict[str, float]:
    graph = graph_of(size)
    result = validate(graph)
    assert result.valid and len(graph.nodes) == size, [i.message for i in result.errors]
    generate_model(graph, result)  # warm: imports, caches
    alone, total = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        generate_model(graph, result)
        alone.append(time.perf_counter() - start)
        start = time.perf_counter()
        generate_model(graph)
        total.append(time.perf_counter() - start)
    return {"nodes": size, "codegen_median_ms": round(statistics.median(alone) * 1000, 3),
            "codegen_with_validation_median_ms": round(statistics.median(total) * 1000, 3),
            "target_ms": CODEGEN_TARGET_MS, "ok": statistics.median(alone) * 1000 <= CODEGEN_TARGET_MS}


class HandCnn(nn.Module):
    """digits_cnn as a person would write it: functional activations, the same parameter names."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(512, 64)
        self.fc2 = nn.Linear(64, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = self.drop(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)


class HandMlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def _mlp_graph() -> Graph:
    nodes = (Node("x", "Input", {"shape": [64]}), Node("fc1", "Linear", {"out_features": 128}), Node("r1", "ReLU"),
             Node("fc2", "Linear", {"out_features": 64}), Node("r2", "ReLU"), Node("fc3", "Linear", {"out_features": 10}))
    ids = [n.id for n in nodes]
    return Graph("mlp", nodes, tuple(Edge(a, b) for a, b in zip(ids, ids[1:])))


def _steps(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def compare_step(graph: Graph, hand: nn.Module, shape: tuple[int, ...], repeat: int, steps: int) -> dict[str, float]:
    generated = build_model(generate_model(graph), seed=0)
    hand.load_state_dict(generated.state_dict(), strict=True)  # same weights, same names
    x, y = torch.randn(64, *shape), torch.randint(0, 10, (64,))
    models = {"generated": generated, "hand": hand}
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    times: dict[str, list[float]] = {"generated": [], "hand": []}
    for key in models:  # warm-up: allocator, Adam state
        _steps(models[key], optimizers[key], x, y, 3)
    for r in range(repeat):
        order = ["generated", "hand"] if r % 2 == 0 else ["hand", "generated"]  # no side always goes first
        for key in order:
            times[key].append(_steps(models[key], optimizers[key], x, y, steps))
    gen, ref = statistics.median(times["generated"]), statistics.median(times["hand"])
    # Each repeat's pair ran back to back, under the same load: the median of their ratios resists drift.
    paired = statistics.median(g / h for g, h in zip(times["generated"], times["hand"]))
    return {"generated_step_ms": round(gen * 1000, 4), "hand_written_step_ms": round(ref * 1000, 4),
            "ratio_of_medians": round(gen / ref, 4), "ratio": round(paired, 4),
            "ok": abs(paired - 1.0) <= RATIO_TOLERANCE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100, help="timed pairs per model (and codegen runs)")
    parser.add_argument("--steps", type=int, default=5, help="training steps per timing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads: 1 keeps a busy machine's noise down")
    args = parse_args(parser, {"repeat": 2, "steps": 1})
    torch.set_num_threads(args.threads)
    report = {
        "quick": args.quick,
        "load_average": [round(v, 2) for v in os.getloadavg()],  # a shared machine slows every figure
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "processor": platform.machine()},
        "codegen": time_codegen(100, args.repeat),
        "train_step": {
            "digits_cnn": compare_step(load_template("digits_cnn"), HandCnn(), (1, 8, 8), args.repeat, args.steps),
            "mlp_64_128_64_10": compare_step(_mlp_graph(), HandMlp(), (64,), args.repeat, args.steps),
        },
        "tolerance": RATIO_TOLERANCE,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
