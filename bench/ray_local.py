"""A private Ray cluster on this machine for the benches and tests: a head on 127.0.0.1, a chosen number of CPUs,
no GPU, no dashboard, no usage report, in the foreground of one process (``ray start --block``) so that ending
that PID ends the cluster. Nothing is stopped by name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_head(num_cpus: int = 2, object_store_mb: int = 100) -> tuple[subprocess.Popen, str]:
    """The head's process (stop it with ``stop_head``) and its address, HOST:PORT."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": ROOT, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(["ray", "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
                             "--num-cpus", str(num_cpus), "--num-gpus", "0", "--include-dashboard", "false",
                             "--object-store-memory", str(object_store_mb * 2**20), "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return head, f"127.0.0.1:{port}"


def wait_ready(head: subprocess.Popen, address: str, timeout: float = 120.0) -> None:
    """Until a client can connect (checked in a child process, so the caller's own Ray stays unconnected)."""
    probe = f"import ray; ray.init(address={address!r}, logging_level='ERROR'); ray.shutdown()"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}")
        if subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=timeout).returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray head at {address} did not answer within {timeout:g} s")


def stop_head(head: subprocess.Popen) -> None:
    head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
    try:
        head.wait(60)
    except subprocess.TimeoutExpired:
        head.kill()
