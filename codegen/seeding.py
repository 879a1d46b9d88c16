"""One process-wide lock around torch's global random generator.

Initialisation and dropout read torch's global generator, so runs training side by side in one server
(training.rng.RunRandom) and a model built with a seed here (codegen.loader.build_model, for an export, say)
take turns under this lock; it lives with the model builder, the lowest layer that draws.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

GLOBAL_GENERATOR = threading.RLock()  # held while a run's state is swapped into torch's global generator


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """``torch.manual_seed(seed)`` for the code inside only: under the lock every run takes, and torch's
    global generator is given back as found. Anything in the server that seeds or draws from the global
    generator (building a model with a seed for an export, say) goes through here, or it could take draws
    from a run's stream in the middle of its step."""
    with GLOBAL_GENERATOR, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
