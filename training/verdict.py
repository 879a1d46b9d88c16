"""Did a change (a health fix) make the model better? The one place that says what "beyond noise" means.

Two runs are compared by the task's headline test metric (``training.metrics.headline``: accuracy for
classification, RMSE for regression…), and only runs of the same seed: another seed draws other initial weights
and, for most data, another split, which moves the metric by itself.

Beyond noise, for a share of correct answers (accuracy, token accuracy) measured on ``n`` test examples: the
change must exceed Z = 2 standard errors of the difference of two such shares, 2·√(2·p(1−p)/n) with ``p`` their
mean (about a 95 % band), and at least MIN_CHANGE (one example in a hundred). On digits' 270 test examples near
chance (p ≈ 0.1) that is ±0.05: 0.0967 → 0.1004 is no real change. For errors (RMSE, MSE) the standard error
would need every example's error, which a run does not keep, so a change must exceed RELATIVE_NOISE (5 %) of the
run before's value.

Pure Python: no torch, no streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from training.metrics import HIGHER_IS_BETTER, headline

Z = 2.0  # standard errors a change must exceed
MIN_CHANGE = 0.01  # the smallest change of a share that counts, however many test examples
RELATIVE_NOISE = 0.05  # errors (RMSE, MSE): the share of the value a change must exceed
SHARES = {"accuracy", "token_accuracy"}  # metrics that are a share of n test examples

BETTER, WORSE, SAME, APART = "better", "worse", "no real change", "not comparable"


@dataclass(frozen=True)
class Outcome:
    """What one finished run says about itself, for a comparison."""

    metric: str  # the headline metric's name
    value: float | None  # on the test set; None when the run has no test result
    n: int  # test examples
    seed: int | None


@dataclass(frozen=True)
class Verdict:
    word: str  # BETTER | WORSE | SAME | APART
    change: float | None = None  # after − before
    noise: float | None = None  # the smallest change that counts
    reason: str = ""  # why APART


def outcome(task: str, test_metrics: dict[str, Any] | None, n_test: int, seed: int | None) -> Outcome:
    metric, value = headline(task, test_metrics or {})
    finite = isinstance(value, (int, float)) and math.isfinite(value)
    return Outcome(metric, float(value) if finite else None, int(n_test), seed)


def noise(metric: str, before: float, after: float, n: int) -> float:
    """The smallest change of ``metric`` from ``before`` to ``after`` on ``n`` test examples that is not noise."""
    if metric in SHARES:
        p = min(max((before + after) / 2, 0.0), 1.0)
        return max(Z * math.sqrt(2 * p * (1 - p) / max(n, 1)), MIN_CHANGE)
    return RELATIVE_NOISE * abs(before)


def compare(before: Outcome, after: Outcome) -> Verdict:
    """``after`` against ``before``: better or worse only beyond noise, never across seeds or metrics."""
    if before.seed != after.seed:
        return Verdict(APART, reason=f"the seeds differ ({before.seed} and {after.seed}): another seed alone "
                                     "moves the result; run again with the same seed to compare")
    if before.metric != after.metric or before.value is None or after.value is None:
        return Verdict(APART, reason="one of the runs has no test result to compare")
    change, band = after.value - before.value, noise(after.metric, before.value, after.value, after.n)
    if abs(change) <= band:
        return Verdict(SAME, change, band)
    gained = change > 0 if HIGHER_IS_BETTER.get(after.metric, False) else change < 0
    return Verdict(BETTER if gained else WORSE, change, band)


def describe(before: Outcome, after: Outcome, verdict: Verdict) -> str:
    """'test accuracy 0.1004 (the run before, seed 0: 0.0967) — no real change: on 270 test examples a change
    under ±0.05 is noise.'"""
    now = f"test {after.metric} {after.value:.4g}" if after.value is not None else "no test result yet"
    was = f"{before.value:.4g}" if before.value is not None else "no test result"
    head = f"{now} (the run before, seed {before.seed}: {was})"
    if verdict.word == APART:
        return f"{head} — not comparable: {verdict.reason}."
    band = f"on {after.n} test examples a change under ±{verdict.noise:.2g} is noise"
    if verdict.word == SAME:
        return f"{head} — no real change: {band}."
    return f"{head} — {verdict.word} ({verdict.change:+.3g}; {band})."
