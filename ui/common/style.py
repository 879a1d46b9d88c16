"""Colours, number formats and the page CSS: one place so the canvas, chip and panels agree."""

from __future__ import annotations

from builder.captions import short_shape  # noqa: F401  (one wording with the diagram)
from builder.palette import CATEGORY_COLOURS, ERROR_BORDER  # noqa: F401  (one definition, shared with the diagram)
from builder.validate import human_count  # noqa: F401  (the chip, node faces and summary count alike)

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


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
