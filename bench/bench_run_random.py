"""What per-run random streams cost, printed as JSON.

A run whose model draws random numbers in a step (dropout) swaps its own state into torch's global generator
under a process-wide lock for each step (training.rng.RunRandom); a model that draws nothing is found on its
first step and trains without the lock.

1. swap_us: one lock + state swap (get, set, get, set of the CPU generator state), microseconds.
2. Training samples/s of a dropout MLP on digits (batch 32, one thread), with the swap as the engine does it
   and, for comparison, the same loop with the swap skipped (what a model without dropout gets).
3. Two such runs started together in two threads: wall seconds against one run alone (the lock serialises
   their steps; without dropout it is not taken).

    python bench/bench_run_random.py [--epochs 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.project import load_project  # noqa: E402
from data.datasets import load_dataset  # noqa: E402
from training.engine import TrainConfig, train  # noqa: E402
from training.rng import RunRandom  # noqa: E402


def _graph(dropout: float) -> object:
    layers = [("x", "Input", {"shape": [64]}), ("h", "Linear", {"out_features": 128}), ("act", "ReLU", {}),
              ("drop", "Dropout", {"p": dropout}), ("out", "Linear", {"out_features": 10})]
    return load_project({"layerlab": 1, "name": "bench_drop",
                         "nodes": [{"id": i, "type": t, "params": p} for i, t, p in layers],
                         "edges": [{"source": a[0], "target": b[0]} for a, b in zip(layers, layers[1:])]})


def swap_us(repeats: int = 20_000) -> float:
    random = RunRandom(0, torch.device("cpu"))
    with random.init():
        pass
    random._draws = True  # measure the swap itself, as for a model with dropout
    started = time.perf_counter()
    for _ in range(repeats):
        with random.step():
            pass
    return (time.perf_counter() - started) / repeats * 1e6


def samples_per_s(graph: object, data: object, epochs: int, skip_swap: bool) -> float:
    original = RunRandom.step
    if skip_swap:
        RunRandom.step = lambda self: _Null()  # type: ignore[method-assign]
    try:
        result = train(graph, data, TrainConfig(epochs=epochs, batch_size=32, device="cpu", threads=1))
    finally:
        RunRandom.step = original  # type: ignore[method-assign]
    return result.samples_per_s


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def concurrent(graph: object, data: object, epochs: int) -> dict[str, float]:
    config = TrainConfig(epochs=epochs, batch_size=32, device="cpu", threads=1)
    started = time.perf_counter()
    train(graph, data, config)
    alone = time.perf_counter() - started
    threads = [threading.Thread(target=train, args=(graph, data, config)) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"one_run_s": round(alone, 3), "two_runs_together_s": round(time.perf_counter() - started, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parse_args(parser, {"epochs": 1, "rounds": 1})
    data = load_dataset("digits", flat=True)
    dropout, plain = _graph(0.3), _graph(0.0)
    with_swap, without = [], []
    for _ in range(args.rounds):  # interleaved: a busy machine slows both alike
        with_swap.append(samples_per_s(dropout, data, args.epochs, skip_swap=False))
        without.append(samples_per_s(dropout, data, args.epochs, skip_swap=True))
    print(json.dumps({
        "quick": args.quick,
        "load_average": [round(v, 2) for v in os.getloadavg()],  # a shared machine slows every figure
        "swap_us": round(swap_us(), 2),
        "dropout_mlp_samples_per_s": {"with_swap": round(statistics.median(with_swap)),
                                      "swap_skipped": round(statistics.median(without))},
        "concurrent_dropout": concurrent(dropout, data, 10 * args.epochs),
        "concurrent_no_dropout": concurrent(plain, data, 10 * args.epochs),
        "cores": torch.get_num_threads(),
    }, indent=2))


if __name__ == "__main__":
    main()
