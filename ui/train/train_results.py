"""After a run: final metrics, confusion matrix, decision boundary, predictions on sample inputs and attention
maps. Everything is computed from the run's model (``ui.train.train_insight``) and drawn with ``ui.train.charts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from training.loop import target_values
from ui.train import charts, train_insight
from ui.train.train_data import as_images, class_label, decode, labels_of, preview_kind
from ui.train.train_live import format_seconds

RISING_EPOCHS = 3  # "several": fewer is noise; the patience offered is this too


@dataclass(frozen=True)
class Overfitting:
    best_epoch: int  # the epoch with the lowest validation loss
    best_loss: float
    rising: int  # epochs since then
    patience: int  # early-stopping patience to offer


def overfitting(history: list[dict[str, Any]], rising: int = RISING_EPOCHS, margin: float = 0.02) -> Overfitting | None:
    """The run overfits when, since its best validation loss, at least ``rising`` epochs went by, the validation
    loss ended clearly higher (by ``margin``), still climbing over the last ``rising`` epochs, and the training
    loss kept falling. None otherwise (or when the run recorded no validation loss)."""
    rows = [(int(e["epoch"]), float(e["train_loss"]), float(e["val_loss"])) for e in history
            if isinstance(e.get("train_loss"), (int, float)) and isinstance(e.get("val_loss"), (int, float))]
    if len(rows) <= rising:
        return None
    best = min(rows, key=lambda r: r[2])
    since = [r for r in rows if r[0] > best[0]]
    last, tail = rows[-1], [r[2] for r in rows[-rising:]]
    if len(since) < rising or last[2] <= best[2] * (1 + margin) or tail[-1] <= tail[0] or last[1] >= best[1]:
        return None
    return Overfitting(best[0], best[2], len(since), rising)


def judge_overfitting(history: list[dict[str, Any]], dataset: Any) -> tuple[Overfitting | None, str | None]:
    """(the overfitting verdict, why there is none): the verdict reads the validation loss, so a validation set
    too small to tell (``data.base.small_split``) gives none, and says why."""
    from data.base import small_split

    why_not = small_split(dataset.val, dataset.task, dataset.class_names, dataset.num_classes, what="validation")
    if why_not:
        return None, why_not
    return overfitting(history), None


def target_units(dataset: Any) -> tuple[float, float, str] | None:
    """(mean, std, what) that turn standardized regression targets back into the data's own units."""
    extras = dataset.extras or {}
    std, mean = extras.get("target_std"), extras.get("target_mean")
    if dataset.task.value != "regression" or not isinstance(std, (int, float)) or not isinstance(mean, (int, float)):
        return None
    column = extras.get("target_column")
    return float(mean), float(std), f"‘{column}’" if column else "the target"


def is_two_d(dataset: Any) -> bool:
    return tuple(dataset.input_shapes[0]) == (2,) and dataset.extras.get("bounds") is not None


def render_results(result: Any, graph: Any, dataset: Any, key: str, overfitting_shown: bool = False) -> None:
    """Every view that fits the task; ``result`` is the engine's RunResult. ``overfitting_shown``: the health
    section above (``ui.train.health_view.render_health``) shows the overfitting verdict already."""
    _metrics(result, dataset)
    if not overfitting_shown:
        found, _ = judge_overfitting(getattr(result, "history", None) or [], dataset)
        if found is not None:
            overfitting_note(found, key)
    plan, model, test = result.plan, result.model, result.test_metrics
    confusion = test.get("confusion")
    boundary = is_two_d(dataset) and plan.task in ("classification", "binary")
    if confusion is not None or boundary:
        left, right = st.columns(2)
        if confusion is not None:
            names = dataset.class_names or [str(i) for i in range(len(confusion))]
            normalize = left.toggle("Show fractions", key=f"{key}_cm_norm")
            left.plotly_chart(charts.confusion_matrix_chart(confusion, names, normalize), key=f"{key}_cm")
        if boundary:
            right.plotly_chart(boundary_figure(model, plan, dataset), key=f"{key}_boundary")
    _predictions(result, dataset, key)
    _attention(result, graph, dataset, key)


def boundary_figure(model: Any, plan: Any, dataset: Any) -> Any:
    xs, ys, values = train_insight.boundary_values(model, plan, dataset.extras["bounds"])
    split = dataset.train
    return charts.decision_boundary_chart(
        xs, ys, values, split.inputs[0].numpy(), labels_of(dataset, split), dataset.class_names
    )


def shown_metrics(test: dict[str, Any], dataset: Any) -> list[tuple[str, float]]:
    """(label, value) of up to five test metrics; regression errors are in the target's own units (the engine
    converts them), and the label names the column."""
    units = target_units(dataset)
    numbers = {k: v for k, v in test.items() if isinstance(v, (int, float))}
    if units is not None and "rmse" in numbers:
        shown = [(f"test RMSE ({units[2]})", numbers.pop("rmse")), (f"test MAE ({units[2]})", numbers.pop("mae"))]
        return (shown + [(f"test {k}", v) for k, v in numbers.items()])[:5]
    return [(f"test {k}", v) for k, v in numbers.items()][:5]


def _metrics(result: Any, dataset: Any) -> None:
    shown = shown_metrics(result.test_metrics, dataset)
    columns = st.columns(len(shown) + 2)
    for column, (name, value) in zip(columns, shown):
        column.metric(name, f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}")
    columns[-2].metric("epochs", result.epochs)
    columns[-1].metric(
        "time",
        format_seconds(result.seconds),
        f"{result.samples_per_s:,.0f} samples/s",
        delta_color="off",
        delta_arrow="off",  # a speed, not a change: no ↑
    )
    for note in getattr(result, "notes", []) or []:
        st.caption(f"ℹ️ {note}")
    from data.base import small_split

    small = small_split(dataset.test, dataset.task, dataset.class_names, dataset.num_classes)
    if small:  # the metrics above may be luck
        st.caption(f"ℹ️ {small}")


def overfitting_note(found: Overfitting, key: str) -> None:
    """The overfitting warning and, when early stopping is off, the button that turns it on."""
    from ui.train.train_form import PATIENCE_KEY, set_setting

    st.warning(f"**Overfitting:** the validation loss has risen for {found.rising} epochs since epoch "
               f"{found.best_epoch} (its lowest, {found.best_loss:.4g}) while the training loss kept falling: the "
               "model is learning the training examples by heart. Early stopping ends such a run and keeps the "
               f"weights of its best epoch; more data, dropout or weight decay also help.")
    if not st.session_state.get(PATIENCE_KEY):
        st.button(f"Turn on early stopping (patience {found.patience})", key=f"{key}_early_stop",
                  on_click=set_setting, args=("patience", found.patience))


def _predictions(result: Any, dataset: Any, key: str) -> None:
    plan, model, split = result.plan, result.model, dataset.test
    kind = preview_kind(dataset)
    st.markdown("**Predictions on test examples**")
    if plan.task == "sequence":
        st.dataframe(sequence_rows(model, plan, dataset), hide_index=True, width="stretch")
    elif kind == "series":
        actual, predicted = train_insight.forecast(model, plan, split)
        extras = dataset.extras or {}  # the series was standardized for training: draw it as it was
        actual, predicted = target_values(actual, extras), target_values(predicted, extras)
        st.plotly_chart(charts.forecast_chart(actual, predicted), key=f"{key}_forecast")
    elif plan.task in ("reconstruction", "vae") and kind == "images":
        pred = train_insight.sample_predictions(model, plan, split, n=8)
        images = np.concatenate([as_images(pred.actual), as_images(pred.predicted)])
        titles = ["input"] * len(pred.actual) + ["reconstruction"] * len(pred.predicted)
        st.plotly_chart(charts.image_grid(images, titles, columns=len(pred.actual)), key=f"{key}_recon")
    elif kind == "images" and plan.task in ("classification", "binary"):
        pred = train_insight.sample_predictions(model, plan, split, n=16)
        st.plotly_chart(
            charts.image_grid(as_images(pred.inputs[0]), prediction_titles(dataset, pred), columns=8),
            key=f"{key}_digits",
        )
    elif kind == "tokens":
        st.dataframe(text_rows(model, plan, dataset), hide_index=True, width="stretch")
    else:
        st.dataframe(table_rows(model, plan, dataset), hide_index=True, width="stretch")


def prediction_titles(dataset: Any, pred: Any) -> list[str]:
    """'7' when right, '✗ 1 (is 7)' when wrong."""
    titles = []
    for p, a in zip(pred.predicted.reshape(-1), pred.actual.reshape(-1)):
        p, a = int(p), int(a)
        titles.append(
            class_label(dataset, p)
            if p == a
            else f"✗ {class_label(dataset, p)} (is {class_label(dataset, a)})"
        )
    return titles


def sequence_rows(model: Any, plan: Any, dataset: Any, n: int = 8) -> list[dict[str, Any]]:
    """Input, expected and greedily generated sequences of the first test examples."""
    split = dataset.test
    names = list(dataset.input_names)
    src = split.inputs[names.index("src") if "src" in names else 0][:n]
    target = split.target[:n]
    if "bos_id" in dataset.extras and len(split.inputs) > 1:
        generated = train_insight.greedy_decode(
            model, src, target.shape[1], int(dataset.extras["bos_id"]), dataset.pad_id or 0
        )
    else:  # one-input sequence models: one forward pass
        generated = train_insight.sample_predictions(model, plan, split, n).predicted
        generated = np.asarray(generated)
    rows = []
    for k in range(len(src)):
        expected = decode(target[k], dataset.vocab, dataset.pad_id)
        got = decode(generated[k], dataset.vocab, dataset.pad_id)
        rows.append(
            {
                "input": decode(src[k], dataset.vocab, dataset.pad_id),
                "expected": expected,
                "generated": got,
                "correct": "✓" if got == expected else "✗",
            }
        )
    return rows


def text_rows(model: Any, plan: Any, dataset: Any, n: int = 8) -> list[dict[str, Any]]:
    split = dataset.test
    pred = train_insight.sample_predictions(model, plan, split, n)
    rows = []
    for k in range(len(pred.predicted)):
        p, a = int(pred.predicted.reshape(-1)[k]), int(pred.actual.reshape(-1)[k])
        rows.append(
            {
                "text": decode(split.inputs[0][k], dataset.vocab, dataset.pad_id),
                "predicted": class_label(dataset, p),
                "true": class_label(dataset, a),
                "correct": "✓" if p == a else "✗",
            }
        )
    return rows


def table_rows(model: Any, plan: Any, dataset: Any, n: int = 10) -> list[dict[str, Any]]:
    """The first test rows: their inputs, then prediction, truth and error or ✓/✗. A CSV's rows are shown as
    the file wrote them (every column, the true value unrounded); other data shows up to four model inputs."""
    pred = train_insight.sample_predictions(model, plan, dataset.test, n)
    originals = (dataset.extras or {}).get("test_rows")
    rows = []
    for k in range(len(pred.predicted)):
        if originals and k < len(originals):
            row, written = _as_written(originals[k], dataset)
        else:
            row, written = _model_inputs(pred, k, dataset), None
        row.update(_outcome(pred, k, plan, dataset, written))
        rows.append(row)
    return rows


def _as_written(original: dict[str, Any], dataset: Any) -> tuple[dict[str, Any], Any]:
    """(the row's other columns, its target value) as the CSV file wrote them."""
    column = dataset.extras.get("target_column")
    return {name: value for name, value in original.items() if name != column}, original.get(column)


def _model_inputs(pred: Any, k: int, dataset: Any) -> dict[str, Any]:
    features = np.asarray(pred.inputs[0]).reshape(len(pred.predicted), -1)[:, :4]
    names = list(dataset.extras.get("feature_names") or [f"x{i}" for i in range(features.shape[1])])
    return {names[i]: round(float(v), 3) for i, v in enumerate(features[k][: len(names)])}


def _outcome(pred: Any, k: int, plan: Any, dataset: Any, written: Any) -> dict[str, Any]:
    """predicted / true / correct for classes; predicted / true / error in the target's units for numbers."""
    if plan.task in ("classification", "binary"):
        p, a = int(pred.predicted.reshape(-1)[k]), int(pred.actual.reshape(-1)[k])
        return {"predicted": class_label(dataset, p), "true": class_label(dataset, a), "correct": "✓" if p == a else "✗"}
    extras = dataset.extras or {}
    p = _shown(float(target_values(np.float64(np.asarray(pred.predicted[k]).reshape(-1)[0]), extras)))
    if not isinstance(written, (int, float)):  # no original row: the standardized truth, converted back
        written = _shown(float(target_values(np.float64(np.asarray(pred.actual[k]).reshape(-1)[0]), extras)))
    return {"predicted": p, "true": written, "error": _shown(p - written)}


def _shown(value: float) -> float:
    """Six significant digits: a price reads 731734, not 731734.0085 (float32 noise of the standardization)."""
    return float(f"{value:.6g}")


def token_text(result: Any, dataset: Any, index: int) -> dict[str, list[str]]:
    """Input node id -> the tokens of test example ``index`` (ids when there is no vocabulary)."""
    order = result.plan.input_order or tuple(range(len(dataset.input_names)))
    out = {}
    for model_input, k in zip(result.source.inputs, order):
        ids = dataset.test.inputs[k][index].reshape(-1).tolist()
        if dataset.input_dtypes[k] == "long":
            out[model_input.node] = [
                dataset.vocab[i] if dataset.vocab and 0 <= i < len(dataset.vocab) else str(i) for i in ids
            ]
    return out


ATTENTION_TYPES = ("MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
                   "TransformerEncoder", "TransformerDecoder", "scaled_dot_product_attention")


def has_attention(graph: Any) -> bool:
    """An attention layer anywhere in the design, inside blocks made of blocks too (gpt_tiny's blocks)."""
    from builder.blocks import expand

    flat = expand(graph).flat  # an instance's type is its block's name, which may read like a catalog type
    return any(n.type in ATTENTION_TYPES for n in flat.nodes)


def _attention(result: Any, graph: Any, dataset: Any, key: str) -> None:
    if not has_attention(graph):
        return
    st.markdown("**Attention maps**")
    last = max(0, len(dataset.test) - 1)
    index = int(st.number_input("Test example", 0, last, 0, key=f"{key}_attn_index"))
    views = train_insight.attention_views(
        result.model,
        graph,
        result.source,
        result.plan,
        dataset.test,
        index,
        token_text(result, dataset, index),
    )
    if not views:
        st.caption("No attention weights were captured for this model.")
        return
    tabs = st.tabs([v.title for v in views])
    for i, (tab, view) in enumerate(zip(tabs, views)):
        with tab:
            st.plotly_chart(
                charts.attention_chart(view.weights, view.queries, view.keys, title=view.title),
                key=f"{key}_attn_{i}",
            )
