"""Pick the device a run trains on: CUDA, then Apple MPS, then CPU, with an override that never fails.

Asking for a device this machine lacks falls back to the CPU with a note rather than an error: a design
saved on a GPU workstation must still train on a laptop.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from training.choices import DEVICES  # noqa: F401  (re-exported)

AMP_MODES = ("off", "auto", "bf16", "fp16")


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    note: str = ""  # why the device differs from the one asked for, if it does

    @property
    def name(self) -> str:
        return self.device.type


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def pick_device(requested: str = "auto") -> DeviceChoice:
    """The device for ``requested`` (auto|cpu|cuda|mps|cuda:N); unknown or missing devices fall back to CPU."""
    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return DeviceChoice(torch.device("cuda"))
        if mps_available():
            return DeviceChoice(torch.device("mps"))
        return DeviceChoice(torch.device("cpu"))
    if requested.startswith("cuda"):
        if torch.cuda.is_available():
            return DeviceChoice(torch.device(requested))
        return DeviceChoice(torch.device("cpu"), "CUDA was asked for but no CUDA GPU is available: using the CPU")
    if requested == "mps":
        if mps_available():
            return DeviceChoice(torch.device("mps"))
        return DeviceChoice(torch.device("cpu"), "MPS was asked for but is not available: using the CPU")
    if requested != "cpu":
        return DeviceChoice(torch.device("cpu"), f"unknown device {requested!r}: using the CPU")
    return DeviceChoice(torch.device("cpu"))


def amp_dtype(device: torch.device, mode: str) -> torch.dtype | None:
    """The autocast dtype for ``mode`` on ``device``; mixed precision is used on CUDA only."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA, MPS and CPU allocators all report exhaustion differently; recognise each."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text
                                              or "not enough memory" in text)


def free_cached_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


SMALL_STEP_MACS = 200_000_000  # below this per batch, extra CPU threads cost more in hand-offs than they save


def cpu_threads(requested: int, macs_per_batch: int) -> int:
    """Intra-op threads for a CPU run. Measured on 2 busy cores: a digits-sized step took 15–35× longer with
    2 threads than with 1 when other processes held the cores (OpenMP workers wait for each other), so small
    steps use one thread and larger ones only the cores that are free right now."""
    if requested > 0:
        return requested
    if macs_per_batch < SMALL_STEP_MACS:
        return 1
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        busy = 0.0
    return max(1, min(torch.get_num_threads(), round(cores - busy + 1)))


_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"active": 0, "initial": 0}


@contextlib.contextmanager
def cpu_thread_budget(wanted: int) -> Iterator[None]:
    """torch's thread count is process-wide: with several runs in one server the first sets it and the last
    one out restores it, so concurrent runs can't leave each other stuck at one thread."""
    with _THREADS_LOCK:
        if _THREADS_STATE["active"] == 0:
            _THREADS_STATE["initial"] = torch.get_num_threads()
            torch.set_num_threads(wanted)
        _THREADS_STATE["active"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["active"] -= 1
            if _THREADS_STATE["active"] == 0:
                torch.set_num_threads(_THREADS_STATE["initial"])
