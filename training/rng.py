"""The random streams one run owns, so runs training side by side in one server can't disturb each other.

Shuffling draws from the run's own ``torch.Generator``. Initialisation and dropout can't take a generator
(``nn.Linear`` and ``F.dropout`` read torch's global one), so the run keeps its own copy of the global
generator's state and swaps it in, under a process-wide lock, while it builds the model and while it takes
a step. A model that draws nothing during a step (no dropout) is found on the first step and then trains
without the lock. The streams equal a fresh process's: ``torch.manual_seed(seed)``, build the model, train;
which is what an exported script does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

# The lock and ``seeded`` live with the model builder, which takes them when it builds a model with a seed.
from codegen.seeding import GLOBAL_GENERATOR as _GLOBAL_GENERATOR
from codegen.seeding import seeded  # noqa: F401  (re-exported for training code)


class RunRandom:
    def __init__(self, seed: int, device: torch.device) -> None:
        self.seed = seed
        self.device = device
        self.shuffle = torch.Generator().manual_seed(seed)
        self._state: list[torch.Tensor] = []  # the run's global-generator states (CPU, then its GPU)
        self._draws: bool | None = None  # whether a training step draws from the global generator

    @contextlib.contextmanager
    def init(self) -> Iterator[None]:
        """Build the model inside: ``torch.manual_seed(seed)`` as a fresh process would, others untouched."""
        with _GLOBAL_GENERATOR:
            saved = self._get()
            try:
                torch.manual_seed(self.seed)
                yield
                self._state = self._get()
            finally:
                self._set(saved)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Take one training step inside: dropout draws from this run's stream."""
        if self._draws is False:
            yield
            return
        with _GLOBAL_GENERATOR:
            saved = self._get()
            before = self._state
            self._set(before)
            try:
                yield
                self._state = self._get()
                if self._draws is None:
                    self._draws = not all(torch.equal(a, b) for a, b in zip(before, self._state))
            finally:
                self._set(saved)

    def state(self) -> tuple[torch.Tensor, list[torch.Tensor], bool | None]:
        """(shuffling generator's state, the run's global-generator states, whether steps draw): a checkpoint's."""
        return self.shuffle.get_state(), [s.clone() for s in self._state], self._draws

    def restore(self, shuffle: torch.Tensor, states: list[torch.Tensor], draws: bool | None) -> None:
        """Go on from ``state()``'s values, saved by an earlier process."""
        self.shuffle.set_state(shuffle)
        self._state = [s.clone() for s in states]
        self._draws = draws

    def _get(self) -> list[torch.Tensor]:
        states = [torch.get_rng_state()]
        if self.device.type == "cuda":
            states.append(torch.cuda.get_rng_state(self.device))
        elif self.device.type == "mps":
            states.append(torch.mps.get_rng_state())
        return states

    def _set(self, states: list[torch.Tensor]) -> None:
        if not states:
            return
        torch.set_rng_state(states[0])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(states[1], self.device)
        elif self.device.type == "mps":
            torch.mps.set_rng_state(states[1])
