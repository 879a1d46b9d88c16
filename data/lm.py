"""Language modelling on generated symbols, for decoder-only (GPT-style) models: predict every next token.

Each sequence is some random symbols, a separator, then the same symbols reversed. A model that reads one token at
a time (causal self-attention) can't guess the random half, so only the reversed half is scored (its targets are
real; the others are PAD, which the loss and the metrics skip); to continue it, the model must look back across
the separator — which the attention maps then show. Generated from a fixed vocabulary: nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from data.base import Builtin, Dataset, Option, Task, assemble, rng_for, split_indices
from data.text import symbol_names

LM_PAD, LM_BOS, LM_SEP = 0, 1, 2  # symbols are ids 3 and up


def prepare_next_token(
    seed: int, fractions: tuple[float, float], length: int, n_symbols: int, n_samples: int
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """Inputs: BOS, the symbols, SEP, the reversed symbols but the last (2·length + 1 ids); targets: the next id
    at every position, PAD where it can't be known (the random half)."""
    rng = rng_for(seed, 3)
    symbols = rng.integers(3, 3 + n_symbols, size=(n_samples, length), dtype=np.int64)
    separator = np.full((n_samples, 1), LM_SEP, dtype=np.int64)
    sequence = np.concatenate([symbols, separator, symbols[:, ::-1]], axis=1)
    tokens = np.concatenate([np.full((n_samples, 1), LM_BOS, dtype=np.int64), sequence[:, :-1]], axis=1)
    target = sequence.copy()
    target[:, : length + 1] = LM_PAD  # the random symbols and the separator: unknowable, not scored
    return [tokens], target, split_indices(n_samples, seed, None, fractions), {}


def _build_next_token(seed: int, fractions: tuple[float, float], length: int, n_symbols: int,
                      n_samples: int) -> Dataset:
    inputs, target, indices, _ = prepare_next_token(seed, fractions, length, n_symbols, n_samples)
    return assemble(
        inputs,
        target,
        indices,
        name="next_token",
        description=DESCRIPTION + f" Length {length}, {n_symbols} symbols.",
        task=Task.SEQUENCE,
        input_names=("tokens",),
        vocab_size=n_symbols + 3,
        pad_id=LM_PAD,
        vocab=["<pad>", "<bos>", "<sep>", *symbol_names(n_symbols)],
        default_template="gpt_tiny",
        extras={"bos_id": LM_BOS},
    )


DESCRIPTION = ("Next-token prediction for a decoder-only model: symbols, a separator, then the symbols reversed; "
               "only the reversed half is scored.")

BUILTINS = [
    Builtin(
        "next_token",
        DESCRIPTION,
        Task.SEQUENCE,
        "gpt_tiny",
        {
            "length": Option(8, "symbols before the separator", None, 2, 256),
            "n_symbols": Option(10, "distinct symbols (vocabulary = symbols + PAD + BOS + SEP)", None, 2, 1000),
            "n_samples": Option(4000, "number of sequences", None, 20, 1_000_000),
        },
        _build_next_token,
        prepare_next_token,
    )
]
