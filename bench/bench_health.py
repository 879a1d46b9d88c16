"""Cost of the per-layer training-health statistics (issue 13: at most 5 % of the step time), printed as JSON.

For each model, runs without and with a ``HealthMonitor`` alternate in one process (same seed, same data);
the step time is the training thread's CPU time per optimizer step (other processes on a shared machine
don't inflate it). Reported: the median overhead over the rounds, and the monitor's own measured time as a
share of the training time (what its budget controls).

    python bench/bench_health.py [--rounds 5] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.templates import load_template  # noqa: E402
from data.datasets import load_dataset  # noqa: E402
from training.engine import TrainConfig, train  # noqa: E402
from training.health import monitor_for  # noqa: E402

MODELS = {  # name: (dataset, options, epochs): runs of a few hundred steps, as in class
    "spirals_mlp": ("spirals", {}, 40),
    "digits_mlp": ("digits", {"flat": True}, 10),
    "digits_cnn": ("digits", {}, 4),
}
TARGET = 0.05


def step_seconds(result) -> float:
    return result.train_cpu_seconds / max(1, result.steps)


def measure(name: str, rounds: int, scale: float) -> dict:
    dataset_name, options, epochs = MODELS[name]
    epochs = max(1, round(epochs * scale))
    graph, data = load_template(name), load_dataset(dataset_name, seed=0, **options)
    config = TrainConfig(epochs=epochs, seed=0, device="cpu", threads=1)
    train(graph, data, TrainConfig(epochs=1, seed=0, device="cpu", threads=1))  # warm up
    plain, watched, own = [], [], []
    for _ in range(rounds):
        plain.append(step_seconds(train(graph, data, config)))
        monitor = monitor_for(graph, data, config)
        result = train(graph, data, config, observer=monitor)
        watched.append(step_seconds(result))
        own.append(monitor.log.seconds / max(result.train_seconds, 1e-9))
        samples = len(monitor.log.samples)
    overheads = [w / p - 1 for p, w in zip(plain, watched)]
    return {"model": name, "steps": result.steps, "samples": samples,
            "step_ms_plain": round(statistics.median(plain) * 1e3, 4),
            "step_ms_with_health": round(statistics.median(watched) * 1e3, 4),
            "overhead": round(statistics.median(overheads), 4),
            "monitor_share_of_train_time": round(statistics.median(own), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every model's epochs")
    args = parse_args(parser, {"rounds": 1, "scale": 0.05})
    rows = [measure(name, args.rounds, args.scale) for name in MODELS]
    worst = max(max(r["overhead"], r["monitor_share_of_train_time"]) for r in rows)
    print(json.dumps({"bench": "health", "quick": args.quick, "target_overhead": TARGET, "models": rows,
                      "worst": round(worst, 4), "ok": worst <= TARGET,
                      "load_average": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
