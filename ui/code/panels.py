"""The summary panel (per-layer table, totals, memory) and the code panel (source and downloads)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from builder.graph import Graph
from builder.project import to_json
from builder.summary import Summary, summarize
from builder.validate import ValidationResult
from codegen.source import CodegenError, generate_model
from export.diagram import ORIENTS, diagram_png, diagram_svg
from ui.code.code_downloads import (
    TRAINING_DOWNLOADS,
    WEIGHT_DOWNLOADS,
    deferred,
    download_info,
    export_source,
    forget_chosen_settings,
)
from ui.common.style import human_count

BATCH_KEY = "summary_batch"
# Counts as people read them ("118,013,952", the browser's own digit grouping), still numbers that sort as numbers.
COUNT = st.column_config.NumberColumn(format="localized")
COUNT_COLUMNS = {"params": COUNT, "MACs": COUNT}


def summary_frame(summary: Summary) -> pd.DataFrame:
    rows = [{
        "layer": "\u2003" * r.depth + r.node, "type": r.type,
        "output": "?" if r.output_shape is None else "(" + ", ".join("N" if d == -1 else str(d) for d in r.output_shape) + ")",
        "params": r.total_params, "trainable": r.trainable_params, "MACs": r.macs, "activations (KB)": round(r.activation_bytes / 1024, 1),
    } for r in summary.rows]
    return pd.DataFrame(rows)


def render_summary(graph: Graph, result: ValidationResult) -> None:
    batch = st.number_input("Batch size", min_value=1, max_value=65536, value=32, step=1, key=BATCH_KEY, width=220)
    depth = None
    if graph.definitions:  # blocks made of blocks: collapsed, or every layer inside them (torchinfo's depth)
        inside = st.radio("Show", ["blocks", "every layer"], horizontal=True, key="ll_summary_depth")
        depth = None if inside == "every layer" else 0
    summary = summarize(graph, batch_size=int(batch), result=result, depth=depth if graph.definitions else 0)
    cols = st.columns(4)
    cols[0].metric("Parameters", f"{summary.total_params:,}",
                   delta=f"{summary.frozen_params:,} frozen" if summary.frozen_params else None, delta_color="off",
                   help=f"{human_count(summary.total_params)} parameters: {summary.trainable_params:,} trainable, "
                        f"{summary.frozen_params:,} frozen (nodes switched to not trainable in the inspector keep "
                        "their weights in training)")
    cols[1].metric("MACs per sample", human_count(summary.total_macs))
    cols[2].metric("Model size", f"{summary.model_mb:.2f} MB")
    cols[3].metric(f"Training memory (batch {summary.batch_size})", f"{summary.training_mb:.1f} MB",
                   help="rough peak with Adam: weights, gradients, two moments, activations kept for backward")
    st.dataframe(summary_frame(summary), hide_index=True, use_container_width=True, column_config=COUNT_COLUMNS)
    if not summary.valid:
        st.caption("Rows with ‘?’ have no shape yet: fix the issues on the canvas.")
    _diagram_downloads(graph, result)


def _diagram_downloads(graph: Graph, result: ValidationResult) -> None:
    """The design as a picture for slides and handouts (export.diagram), drawn only when clicked: landscape
    fits a 16:9 slide (a 1920×1080 png), portrait runs top to bottom as the canvas does."""
    stem, cols = graph.name or "model", st.columns(4)
    orient = cols[2].radio("Diagram", ORIENTS, horizontal=True, key="ll_diagram_orient",
                           help="landscape: a 16:9 slide (1920×1080 png); portrait: top to bottom, for a page")
    cols[0].download_button("⬇ diagram .svg", lambda: diagram_svg(graph, result, orient), file_name=f"{stem}.svg",
                            mime="image/svg+xml", key="dl_svg", on_click="ignore")
    cols[1].download_button("⬇ diagram .png", lambda: diagram_png(graph, result, orient=orient),
                            file_name=f"{stem}.png", mime="image/png", key="dl_png", on_click="ignore")


def settings_summary(settings: dict) -> str:
    """'adam, lr 0.003, 8 epochs, batch 64, seed 0 · digits': the settings a training script starts from."""
    data = settings.get("dataset") or "the design's data set"
    return (f"{settings.get('optimizer')}, lr {settings.get('lr'):g}, {settings.get('epochs')} epochs, "
            f"batch {settings.get('batch_size')}, seed {settings.get('seed')} · {data}")


def _download_buttons(graph: Graph, code: str) -> None:
    stem = graph.name or "model"
    source = export_source(graph)
    cols = st.columns(4)
    cols[0].download_button("⬇ model .py", code, file_name=f"{stem}.py", mime="text/x-python",
                            key="dl_py", on_click="ignore", type="primary")
    cols[1].download_button("⬇ project .json", to_json(graph), file_name=f"{stem}.json",
                            mime="application/json", key="dl_json", on_click="ignore")
    # Deferred: the bytes are made only when a button is clicked (ONNX export takes a moment).
    for k, fmt in enumerate(TRAINING_DOWNLOADS):
        label, suffix, mime, _ = download_info(fmt)
        cols[2 + k].download_button(f"⬇ {label}", deferred(graph, fmt, source), file_name=f"{stem}{suffix}",
                                    mime=mime, key=f"dl_{fmt}", on_click="ignore")
    st.caption(f"Training script and notebook: the settings of {source.settings_from} "
               f"({settings_summary(source.settings)}).")
    if source.settings_from != "the Train tab":
        st.button("Use the Train tab's settings instead", key="dl_use_train_tab", on_click=forget_chosen_settings)
    cols = st.columns(len(WEIGHT_DOWNLOADS))
    for k, fmt in enumerate(WEIGHT_DOWNLOADS):
        label, suffix, mime, legacy = download_info(fmt)
        cols[k].download_button(f"⬇ {label}", deferred(graph, fmt, source), file_name=f"{stem}{suffix}",
                                mime=mime, key=f"dl_{fmt}", on_click="ignore", help=legacy)
    st.markdown(f"Weights: **{source.label}**")
    if source.note:
        st.caption(f"⚠️ {source.note}")


def render_code(graph: Graph, result: ValidationResult) -> None:
    if not result.valid:
        n = len(result.errors)
        st.warning(f"Fix {n} issue{'s' if n != 1 else ''} first: the code is generated only for a design "
                   "where every shape fits.")
        for issue in result.errors:
            st.markdown(f"- ‘{issue.node}’: {issue.message}" if issue.node else f"- {issue.message}")
        return
    try:
        model = generate_model(graph, result)
    except CodegenError as err:
        st.error("The code could not be generated: " + "; ".join(err.problems))
        return
    _download_buttons(graph, model.code)
    st.code(model.code, language="python", line_numbers=True)
