"""The block palette: categories of buttons with a search box; a click adds the block after the selection.
The "Blocks" section holds the built-in library of blocks made of blocks (BasicBlock, TransformerEncoderBlock, …):
a click copies its definition into the design and adds an instance, which opens on the canvas like any block."""

from __future__ import annotations

import streamlit as st

from builder.block_edits import add_block as add_block_instance
from builder.catalog import BlockSpec, Category, all_blocks
from builder.edits import add_node
from builder.library import LibraryBlock, library_blocks
from ui.common import state
from ui.common.fragments import PALETTE_TARGET, redraw_design

SEARCH_KEY = "palette_search"
# Dropout (Regularization) is in most first MLPs; the rest (156 blocks in all) open with a click
OPEN_BY_DEFAULT = {Category.INPUT, Category.DENSE, Category.CONV, Category.ACTIVATION, Category.DROPOUT}


def _expander_key(category: Category, query: str) -> str:
    """A category stays open or closed as the user leaves it; its buttons are drawn only while it is open. Hidden
    buttons in closed categories were 100 of the sidebar's 183 elements (3,400 of the page's 3,700 DOM nodes), and
    Streamlit's frontend walks every element at each click: at 300 nodes a palette add took 249-281 ms instead of
    265-297 (median of 7, Chromium, click to drawn node, three A/B rounds in turns at load 2). Opening a category
    costs one rerun. A search has keys of its own, so every category with a match opens while searching."""
    return f"palette_open_{category.name}" + ("_search" if query else "")


def matches(block: BlockSpec, query: str) -> bool:
    """Every word of the query appears in the type, the doc line or an alias (any case)."""
    haystack = " ".join([block.type, block.doc, *block.aliases]).lower()
    return all(word in haystack for word in query.lower().split())


def grouped(query: str = "") -> dict[Category, list[BlockSpec]]:
    """Blocks matching ``query`` by category, categories in catalog order, empty ones left out."""
    groups: dict[Category, list[BlockSpec]] = {c: [] for c in Category}
    for block in all_blocks():
        if matches(block, query):
            groups[block.category].append(block)
    return {c: blocks for c, blocks in groups.items() if blocks}


def add_block(type_name: str) -> None:
    state.edit(add_node, type_name, after=state.selected())
    redraw_design()  # the canvas and the palette line, not the whole sidebar


def library_matches(query: str) -> list[LibraryBlock]:
    return [b for b in library_blocks() if all(w in f"{b.name} {b.doc}".lower() for w in query.lower().split())]


def _add_library(name: str) -> None:
    state.edit(add_block_instance, name, after=state.selected())  # the selection at click time
    redraw_design()


def _library_section(query: str) -> None:
    found = library_matches(query)
    if not found:
        return
    with st.expander(f"Blocks made of blocks ({len(found)})", expanded=bool(query)):
        st.caption("Open one on the canvas (double-click) to see and edit its inside.")
        for block in found:
            st.button(block.name, key=f"library_{block.name}", help=block.doc, width="stretch",
                      on_click=_add_library, args=(block.name,))


@st.fragment(key=PALETTE_TARGET)  # rerun on its own after a canvas click (ui.common.fragments)
def _target_line() -> None:
    selected = state.selected()
    if selected:
        left, right = st.columns([3, 2], vertical_alignment="center")
        left.caption(f"New blocks go after **‘{selected}’**")
        right.button("Deselect", key="palette_deselect", on_click=state.select, args=(None,),
                     help="then new blocks land at a free spot, unconnected")
    else:
        st.caption("Nothing selected: new blocks land at a free spot. Click a node to add after it.")


def render_palette() -> None:
    st.markdown("#### Blocks")
    query = st.text_input("Search blocks", key=SEARCH_KEY, placeholder="conv, dense, lstm, residual…",
                          label_visibility="collapsed")
    _target_line()
    groups = grouped(query)
    if not groups and not library_matches(query):
        st.info(f"No block matches ‘{query}’.")
    # One wrapping row per category, not st.columns per pair: the browser puts two short names side by side and a
    # long one ("TransformerEncoderLayer") on a line of its own, each label whole; and the page has 120 fewer
    # elements for Streamlit's frontend to redraw on every click (at 300 nodes its redraw is most of a click).
    for category, blocks in groups.items():
        expander = st.expander(f"{category.value} ({len(blocks)})", expanded=bool(query) or category in OPEN_BY_DEFAULT,
                               key=_expander_key(category, query), on_change="rerun")
        if not expander.open:  # a closed category's buttons aren't sent at all (see _expander_key)
            continue
        with expander, st.container(horizontal=True, gap="small", key=f"palette_grid_{category.name}"):
            for block in blocks:
                st.button(block.type, key=f"palette_{block.type}", help=block.doc, on_click=add_block,
                          args=(block.type,), width="stretch")
    _library_section(query)
