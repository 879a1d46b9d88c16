"""Colours, number formats and the page CSS: one place so the canvas, chip and panels agree."""

from __future__ import annotations

from builder.catalog import Category, TensorSpec

# A colour per category: the node border, so a learner sees "conv → pool → dense" at a glance.
CATEGORY_COLOURS: dict[Category, str] = {
    Category.INPUT: "#475569",
    Category.DENSE: "#2563eb",
    Category.CONV: "#7c3aed",
    Category.POOL: "#0891b2",
    Category.ACTIVATION: "#16a34a",
    Category.DROPOUT: "#ca8a04",
    Category.NORM: "#0d9488",
    Category.SEQUENCE: "#db2777",
    Category.RECURRENT: "#ea580c",
    Category.ATTENTION: "#9333ea",
    Category.MERGE: "#4f46e5",
}
ERROR_BORDER = "#dc2626"
ERROR_BG = "#fef2f2"
WARNING_BORDER = "#d97706"
BLOCKED_BG = "#f1f5f9"
SELECTED_SHADOW = "0 0 0 3px #93c5fd"

# Wide layout with less padding: the canvas and inspector must fit 1280×800 without horizontal scrolling.
PAGE_CSS = """
<style>
.block-container {padding-top: 2.2rem; padding-bottom: 0.5rem; padding-left: 1.2rem; padding-right: 1.2rem;
                  max-width: 100%;}
section[data-testid="stSidebar"] {min-width: 250px; max-width: 290px;}
section[data-testid="stSidebar"] .stButton button {padding: 0.1rem 0.4rem; min-height: 1.9rem; font-size: 0.85rem;}
.ll-chip {display: inline-block; padding: 0.15rem 0.7rem; border-radius: 1rem; font-weight: 600;
          font-size: 0.95rem; white-space: nowrap; max-width: 100%; box-sizing: border-box; overflow: hidden;
          text-overflow: ellipsis; vertical-align: middle;}
.ll-chip-ok {background: #dcfce7; color: #166534;}
.ll-chip-bad {background: #fee2e2; color: #991b1b;}
.ll-chip-new {background: #e0f2fe; color: #075985;}
h3.ll-title {font-size: 1.35rem; padding: 0; margin: 0; white-space: nowrap; overflow: hidden;
            text-overflow: ellipsis;}
/* Toasts (good news) in the empty strip above the header, centred on the page: at the top right they covered
   Redo and Auto-layout. One line, compact, so they stay above the header's controls. */
div[data-testid="stToastContainer"] {top: 0.1rem !important; bottom: auto !important; right: 50% !important;
  transform: translateX(50%); align-items: center;}
div[data-testid="stToast"] {padding: 0.15rem 0.7rem !important; min-height: 0 !important; max-width: 34rem;
  width: auto !important; font-size: 0.9rem; line-height: 1.4;}
div[data-testid="stToast"] [data-testid="stToastDynamicIcon"] {font-size: 1.1rem;}
div[data-testid="stToast"] p {white-space: nowrap; overflow: hidden; text-overflow: ellipsis; margin: 0;}
.ll-mono {font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;}
</style>
"""


def human_count(n: int) -> str:
    """1234 → "1.2 K", the way the chip and node faces show sizes."""
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def short_shape(spec: TensorSpec | None) -> str:
    """64×8×8 for floats, "20 ids" style for token ids; "?" when unknown (never a blank)."""
    if spec is None:
        return "?"
    dims = "×".join(str(d) for d in spec.shape) or "scalar"
    return f"{dims} ids" if spec.dtype == "long" else dims


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
