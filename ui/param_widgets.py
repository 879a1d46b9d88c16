"""One typed widget per catalog parameter, built from the Param spec (kind, range, choices, doc).

Widget values are set from the graph before each widget is drawn, so undo, redo and a refused value all show
the graph's real value. A change calls ``builder.edits.set_param`` through ``state.edit`` (one undo step per
field: consecutive changes of one field coalesce).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.edits import set_param
from builder.params import Kind, Param
from ui import state


def widget_key(node_id: str, name: str) -> str:
    return f"param_{node_id}_{name}"


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def parse_ints(text: str, spec: Param) -> Any:
    """ "1, 28, 28" → [1, 28, 28]; "3" → 3 for kernel-size style params; "" → None (default / inferred)."""
    parts = [p for p in text.replace("×", ",").replace("x", ",").replace(" ", ",").split(",") if p]
    if not parts:
        return None
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{spec.name}: ‘{text}’ is not a list of whole numbers, e.g. 1, 28, 28") from None
    if spec.kind is Kind.INT_OR_TUPLE and len(numbers) == 1:
        return numbers[0]
    return numbers


def _widget_value(spec: Param, value: Any) -> Any:
    if spec.kind in (Kind.INTS, Kind.INT_OR_TUPLE):
        return to_text(value)
    if spec.kind is Kind.FLOAT and value is not None:
        return float(value)
    return value


def _on_change(node_id: str, spec: Param) -> None:
    raw = st.session_state[widget_key(node_id, spec.name)]
    if spec.kind in (Kind.INTS, Kind.INT_OR_TUPLE):
        try:
            raw = parse_ints(raw, spec)
        except ValueError as err:
            state.flash("error", str(err))
            return
    state.edit(set_param, node_id, spec.name, raw, key=f"param:{node_id}.{spec.name}")


def _bounds(spec: Param) -> dict[str, Any]:
    cast = int if spec.kind is Kind.INT else float
    out: dict[str, Any] = {}
    if spec.minimum is not None:
        out["min_value"] = cast(spec.minimum)
    if spec.maximum is not None:
        out["max_value"] = cast(spec.maximum)
    return out


def param_widget(node_id: str, spec: Param, value: Any) -> None:
    """Draw the widget for ``spec`` showing ``value`` (the node's own value or the default)."""
    key = widget_key(node_id, spec.name)
    st.session_state[key] = _widget_value(spec, value)
    common: dict[str, Any] = {"key": key, "help": spec.doc or None, "on_change": _on_change, "args": (node_id, spec)}
    label = spec.name
    if spec.kind is Kind.BOOL:
        st.checkbox(label, **common)
    elif spec.kind is Kind.CHOICE:
        st.selectbox(label, options=list(spec.choices), **common)
    elif spec.kind is Kind.INT:
        st.number_input(label, step=1, format="%d", **_bounds(spec), **common)
    elif spec.kind is Kind.FLOAT:
        st.number_input(label, step=0.01, format="%.4g", **_bounds(spec), **common)
    else:
        hint = "e.g. 1, 28, 28" if spec.kind is Kind.INTS else "3, or 3, 5 for height, width"
        st.text_input(f"{label} ({spec.describe_range()})" if spec.minimum is not None else label,
                      placeholder=hint, **common)


def inferred_line(spec: Param, resolved: Any) -> str:
    shown = to_text(resolved) if resolved is not None else "?"
    return f"`{spec.name} = {shown}` · from the input"
