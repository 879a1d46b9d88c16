"""Where runs train, under a classroom's load: the same load test (bench/load_test.py: students on the server's
websocket protocol, editing; some press Start together) against a server whose runs train in threads of its own
process, in warm worker processes (the default), and on a local Ray cluster, one after the other in one command.

    python bench/load_executors.py                 # 40 students, 20 of them training, each executor
    python bench/load_executors.py --quick         # 3 students, 1 training: shows it still runs (CI)

The figure compared is the p95 time from a click to the end of the rerun that shows its result (the page's
responsiveness), overall and while the runs train, with the runs' own completion times beside it. The Ray
cluster is started here (bench/ray_local.py: 127.0.0.1, as many CPUs as the machine, stopped by its PID) and
left out, with the reason, where Ray is not installed. One JSON report, with the load average before and after
each executor's run: on a shared machine the executors' figures move with what else runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quick_mode import parse_args  # noqa: E402
from ray_local import start_head, stop_head, wait_ready  # noqa: E402

BENCH = Path(__file__).resolve().parent
EXECUTORS = ("thread", "process", "ray")


def _load(args: argparse.Namespace, executor: str, extra_env: dict[str, str]) -> dict:
    """One load test against a server with ``executor``; its report (or the reason it has none)."""
    command = [sys.executable, str(BENCH / "load_test.py"), "--sessions", str(args.sessions), "--trainers",
               str(args.trainers), "--max-runs", str(args.max_runs), "--train-template", args.train_template,
               "--rounds", str(args.rounds), "--ramp", str(args.ramp), "--think", *map(str, args.think),
               "--timeout", str(args.timeout), "--max-seconds", str(args.max_seconds),
               "--st", "runner.postScriptGC=false"]
    env = {**os.environ, "LAYERLAB_EXECUTOR": executor, **extra_env}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.max_seconds + 300)
    if done.returncode != 0:
        return {"error": f"load_test.py exited {done.returncode}: {done.stderr.strip()[-600:]}"}
    return json.loads(done.stdout)


def _summary(report: dict) -> dict:
    if "error" in report:
        return report
    training = report["by_phase"].get("training", {})
    return {"p50_s": report["p50_s"], "p95_s": report["p95_s"], "max_s": report["max_s"],
            "p95_while_training_s": training.get("p95_s"), "interactions": report["interactions"],
            "live_view_poll_p95_s": report["live_view_poll"]["p95_s"],
            "runs_finished": report["training"]["finished"], "runs": report["training"]["runs"],
            "run_completion_p50_s": report["training"]["completion_p50_s"],
            "run_completion_max_s": report["training"]["completion_max_s"],
            "errors": report["errors"], "error_samples": report["error_samples"][:3],
            "server_peak_mb": report["memory"].get("peak_mb"),
            "loadavg_before_after": report["loadavg_before_after"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--trainers", type=int, default=20)
    parser.add_argument("--max-runs", type=int, default=2, help="the server's run cap, the same for every executor")
    parser.add_argument("--train-template", default="digits_cnn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--think", type=float, nargs=2, default=(2.0, 8.0), metavar=("MIN", "MAX"))
    parser.add_argument("--ramp", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="per executor's load test")
    parser.add_argument("--executors", nargs="+", choices=EXECUTORS, default=list(EXECUTORS))
    args = parse_args(parser, {"sessions": 3, "trainers": 1, "rounds": 1, "ramp": 1.0, "think": (0.0, 0.2),
                               "train_template": "xor_mlp", "timeout": 90.0, "max_seconds": 240.0}, argv)
    out: dict = {"quick": args.quick, "sessions": args.sessions, "trainers": args.trainers,
                 "max_runs": args.max_runs, "train_template": args.train_template, "cpu_count": os.cpu_count(),
                 "load_average": [round(x, 2) for x in os.getloadavg()], "executors": {}}
    for executor in args.executors:
        if executor != "ray":
            out["executors"][executor] = _summary(_load(args, executor, {}))
        elif importlib.util.find_spec("ray") is None:
            out["executors"]["ray"] = {"skipped": 'Ray is not installed (pip install -e ".[ray]")'}
        else:
            head, address = start_head(num_cpus=os.cpu_count() or 2)
            try:
                wait_ready(head, address)
                out["executors"]["ray"] = {"address": address, **_summary(
                    _load(args, "ray", {"LAYERLAB_RAY_ADDRESS": address}))}
            finally:
                stop_head(head)
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
