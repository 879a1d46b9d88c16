"""Recorded runs as table rows that tell them apart: the run's number (what ``--run N`` takes), the settings
that matter or differ, and the final test metrics as columns. The app's history and ``layerlab runs`` both
print these rows, so the two never disagree on a column's name or a run's number.

Column names of settings come from ``training.settings.setting_label``; regression errors are stored in the
target's own units (``training.loop.in_units``) and their column names the target column.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from training.metrics import HEADLINE
from training.settings import SETTINGS, setting_label

# Always shown: the settings people change most between runs. Others appear when they differ.
KEY_SETTINGS = ("optimizer", "lr", "seed", "epochs")
_NOT_COMPARED = ("device", "threads", "amp", "dataset", "dataset_options", "target")  # where, not what
_SKIPPED_METRICS = ("confusion", "precision", "recall")  # lists: shown by the run's own views
DATA_COLUMN = setting_label("dataset")
UNITS_METRICS = ("rmse", "mae")  # the metrics that carry the target's units


def differing_settings(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Settings (in ``SETTINGS`` order) whose values are not the same in every config; a setting a config
    lacks counts as its default, so older records compare fairly."""
    names = []
    for spec in SETTINGS:
        if spec.name in _NOT_COMPARED:
            continue
        values = {repr(config.get(spec.name, spec.default)) for config in configs}
        if len(values) > 1:
            names.append(spec.name)
    return names


def setting_columns(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The key settings, then every other setting that differs among ``configs``."""
    return list(KEY_SETTINGS) + [n for n in differing_settings(configs) if n not in KEY_SETTINGS]


def units_label(name: str, task: str, target: str) -> str:
    """'rmse (price_eur)' for an error in the target's units (the live chart's title too); 'accuracy' otherwise."""
    if task == "regression" and target and name in UNITS_METRICS:
        return f"{name} ({target})"
    return name


def metric_label(name: str, task: str, target: str) -> str:
    """'test rmse (price_eur)': a final metric's column."""
    return "test " + units_label(name, task, target)


def final_metrics(metrics: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, float]:
    """Column label -> value of a run's final test metrics, the task's headline first."""
    task = str(metrics.get("task") or "")
    test = metrics.get("test") if isinstance(metrics.get("test"), Mapping) else {}
    numbers = {k: float(v) for k, v in test.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _SKIPPED_METRICS}
    first = HEADLINE.get(task)
    order = sorted(numbers, key=lambda k: (k != first, k == "loss"))
    target = str(config.get("target") or "")
    return {metric_label(k, task, target): numbers[k] for k in order}


def run_row(record: Any, settings: Sequence[str]) -> dict[str, Any]:
    """One run: number, start, design, data, ``settings`` by their labels, status, final metrics."""
    row: dict[str, Any] = {"Run": record.number,
                           "Started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created)),
                           "Design": record.name, DATA_COLUMN: record.dataset}
    for name in settings:
        row[setting_label(name)] = _setting_value(record.config, name)
    row["Status"] = record.status
    row.update(final_metrics(record.metrics, record.config))
    return row


def run_rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows for ``records`` (in the order given), with the same setting columns for all of them."""
    settings = setting_columns([r.config for r in records])
    return [run_row(r, settings) for r in records]


def _setting_value(config: Mapping[str, Any], name: str) -> Any:
    spec = next(s for s in SETTINGS if s.name == name)
    value = config.get(name, spec.default)
    return value if isinstance(value, (int, float, str)) or value is None else str(value)


def format_value(value: Any) -> str:
    """A cell as text for the terminal: 0.9812, 1.2e-05, 12,345 (large errors in a target's units)."""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    return "" if value is None else str(value)
