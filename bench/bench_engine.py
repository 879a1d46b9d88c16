"""Training engine speed, printed as JSON.

1. Engine vs a seed-style loop (DataLoader over a TensorDataset, shuffle, batch 64, same generated model,
   same Adam and learning rate), interleaved in one process, training samples/s (evaluation excluded on
   both sides). Both run with the same intra-op thread count (the engine's automatic choice for these
   models is 1; see training.device.cpu_threads).
   Reported twice: by wall clock and by the training thread's CPU time (with one thread that is all the
   work, and other processes on a shared machine don't inflate it); the median ratio over the rounds.
2. Event reporting overhead: time spent building and delivering events / training time, at the default
   interval (0.1 s) and with an event after every step (the worst case).
3. Time to accuracy: wall seconds of `layerlab train digits_cnn --dataset digits --json` in a fresh process
   (process start, imports, dataset, validation, training and test pass), and its test accuracy.

    python bench/bench_engine.py [--rounds 9] [--epochs 2] [--cli-runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.templates import load_template  # noqa: E402
from codegen.loader import build_model  # noqa: E402
from codegen.source import generate_model  # noqa: E402
from data.datasets import load_dataset  # noqa: E402
from training.engine import TrainConfig, train  # noqa: E402

TEMPLATES = {"digits_mlp": {"flat": True}, "digits_cnn": {}}


def seed_loop(source, data, epochs: int, lr: float, seed: int, fused: bool = False) -> tuple[float, float]:
    """The loop of the seed documents; returns training samples/s by wall clock and by the thread's CPU time."""
    model = build_model(source, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=fused or None)
    criterion = torch.nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.train.inputs[0], data.train.target),
                                         batch_size=64, shuffle=True)
    model.train()
    started, cpu_started = time.perf_counter(), time.thread_time()
    running = 0.0
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            running += loss.item()
    samples = len(data.train) * epochs
    return samples / (time.perf_counter() - started), samples / (time.thread_time() - cpu_started)


def engine_run(graph, data, epochs: int, lr: float, seed: int, threads: int, **kw) -> object:
    # TrainConfig is frozen: a variant is a new config (dataclasses.replace), never an edited one.
    config = replace(TrainConfig(optimizer="adam", lr=lr, epochs=epochs, batch_size=64, seed=seed, threads=threads,
                                 device="cpu"), **kw.pop("config", {}))
    return train(graph, data, config, **kw)


def compare(rounds: int, epochs: int, threads: int) -> dict:
    out = {}
    for name, options in TEMPLATES.items():
        graph = load_template(name)
        data = load_dataset("digits", seed=0, **options)
        source = generate_model(graph)
        lr = graph.meta["training"]["lr"]
        engine_run(graph, data, 1, lr, 0, threads)  # warm up both paths (first-op and import costs)
        seed_loop(source, data, 1, lr, 0)
        wall, cpu, fused = [], [], []
        for r in range(rounds):  # interleaved, so load changes on the machine hit both alike
            result = engine_run(graph, data, epochs, lr, r, threads)
            seed_wall, seed_cpu = seed_loop(source, data, epochs, lr, r)
            samples = len(data.train) * epochs
            wall.append((result.samples_per_s, seed_wall))
            cpu.append((samples / result.train_cpu_seconds, seed_cpu))
            fused.append((samples / result.train_cpu_seconds, seed_loop(source, data, epochs, lr, r, fused=True)[1]))
        # The engine uses the fused Adam kernel; the last ratio gives the seed loop that kernel too, leaving
        # only the data path (device tensors batched by index vs DataLoader collation) as the difference.
        out[name] = {"wall": _ratios(wall), "cpu_time": _ratios(cpu), "cpu_time_vs_fused_seed_loop": _ratios(fused)}
    return out


def _ratios(pairs: list[tuple[float, float]]) -> dict:
    ratios = [e / s for e, s in pairs]
    return {"engine_samples_per_s": round(statistics.median(e for e, _ in pairs)),
            "seed_loop_samples_per_s": round(statistics.median(s for _, s in pairs)),
            "median_ratio": round(statistics.median(ratios), 3), "ratios": [round(r, 3) for r in ratios]}


def event_overhead(epochs: int, threads: int) -> dict:
    graph = load_template("digits_mlp")
    data = load_dataset("digits", seed=0, flat=True)
    out = {}
    for label, interval in (("default_interval", 0.1), ("every_step", 0.0)):
        seen = []
        result = engine_run(graph, data, epochs, 0.003, 0, threads, on_event=seen.append,
                            config={"event_interval": interval})
        out[label] = {"events": len(seen), "steps": result.steps,
                      "event_us": round(1e6 * result.event_seconds / max(1, len(seen)), 1),
                      "step_us": round(1e6 * result.train_seconds / max(1, result.steps), 1),
                      "overhead_percent": round(100 * result.event_seconds / result.train_seconds, 3)}
    return out


def time_to_accuracy(runs: int, epochs: int | None) -> dict:
    walls, accuracies = [], []
    more = ["--epochs", str(epochs)] if epochs else []  # None: the template's own training settings
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "cli", "train", "digits_cnn", "--dataset", "digits", "--json",
                                   "--db", os.path.join(tmp, "runs.sqlite"), *more], capture_output=True, text=True,
                                  cwd=ROOT, timeout=600, check=True)
            walls.append(time.perf_counter() - started)
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            accuracies.append(summary["test_accuracy"])
    return {"wall_seconds": [round(w, 2) for w in walls], "median_wall_seconds": round(statistics.median(walls), 2),
            "test_accuracy": accuracies, "target_seconds": 10}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--cli-epochs", type=int, default=None, help="epochs of the CLI runs (default: the template's)")
    args = parse_args(parser, {"rounds": 1, "epochs": 1, "cli_runs": 1, "cli_epochs": 1})
    torch.set_num_threads(args.threads)
    report = {"quick": args.quick, "torch": torch.__version__, "cpu_count": os.cpu_count(), "threads": args.threads,
              "load_average_at_start": os.getloadavg()[0],
              "engine_vs_seed_loop": compare(args.rounds, args.epochs, args.threads),
              "targets": {"digits_mlp": 1.3, "digits_cnn": 1.05, "event_overhead_percent": 3.0},
              "event_overhead": event_overhead(args.epochs, args.threads),
              "time_to_accuracy_digits_cnn": time_to_accuracy(args.cli_runs, args.cli_epochs),
              "load_average_at_end": os.getloadavg()[0]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
