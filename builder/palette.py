"""The colour of each block category and of an error: pure data, shared by the canvas (ui/) and the exported
diagram (export/), so a picture on a slide looks like the canvas it came from."""

from __future__ import annotations

from builder.catalog import Category

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
    Category.TENSOR_OPS: "#0f766e",
    Category.TENSORS: "#b45309",
}
ERROR_BORDER = "#dc2626"
