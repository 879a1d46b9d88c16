"""Learning-rate finder speed (target: ≤ 5 s on digits_cnn), printed as JSON with the load average.

``warmup_s`` is what the Train tab pays in a background thread when it is first drawn (training.warmup: the
imports torch makes once per process when the first optimizer is built, torch._dynamo, seconds on a busy
machine); ``first_call_s`` is the first range test after it, what the first click on the button waits.
``seconds`` are the following calls (what a user clicking the button again, or after a run, waits), with
the median; ``cpu_s`` is the process's CPU time per call, steadier than wall time on a shared machine.

    python bench/bench_lr_find.py [--template digits_cnn] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.templates import load_template  # noqa: E402
from data.datasets import load_dataset  # noqa: E402
from export.script import script_config  # noqa: E402
from training.lr_find import find_lr  # noqa: E402
from training.warmup import warm_torch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--template", default="digits_cnn")
    parser.add_argument("--rounds", type=int, default=3)
    args = parse_args(parser, {"rounds": 1})
    load_before = os.getloadavg()
    graph = load_template(args.template)
    config = script_config(graph, {})
    data = load_dataset(config.dataset, seed=config.seed, **config.dataset_options)
    began = time.perf_counter()
    warm_torch()
    warmup = time.perf_counter() - began
    began = time.perf_counter()
    first = find_lr(graph, data, config)
    first_call = time.perf_counter() - began
    walls, cpus = [], []
    for _ in range(args.rounds):
        began, cpu = time.perf_counter(), time.process_time()
        finding = find_lr(graph, data, config)
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
        assert finding.suggestion == first.suggestion, "the range test is seeded: every call must agree"
    print(json.dumps({
        "template": args.template, "quick": args.quick, "steps": len(first.lrs), "suggestion": first.suggestion, "ended": first.ended,
        "warmup_s": round(warmup, 3), "first_call_s": round(first_call, 3), "seconds": [round(w, 3) for w in walls],
        "median_s": round(statistics.median(walls), 3), "cpu_s": [round(c, 3) for c in cpus],
        "target_s": 5.0, "cpus": os.cpu_count(),
        "loadavg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }, indent=2))


if __name__ == "__main__":
    main()
