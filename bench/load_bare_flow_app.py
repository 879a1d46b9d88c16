"""The yardstick of bench/load_lesson_compare.py: a bare streamlit-flow canvas app, nothing else on the page.

It draws the design written by the bench (``LL_BARE_DESIGN``: a JSON file of nodes with positions and edges,
the same template and positions the lesson page shows), with streamlit-flow-component's own frontend. It imports
no LayerLab code, so its server work is that of any small streamlit-flow app.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import streamlit as st
from streamlit_flow import streamlit_flow
from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

KEY = "bare_flow_state"  # one state per session: a fresh one every run loops (upstream #41)


@st.cache_data
def design(path: str) -> dict:
    return json.loads(Path(path).read_text())


def flow_state(data: dict) -> StreamlitFlowState:
    nodes = [StreamlitFlowNode(n["id"], (n["x"], n["y"]), {"content": n["text"]}, style={"width": 150})
             for n in data["nodes"]]
    edges = [StreamlitFlowEdge(e["id"], e["s"], e["t"], label=e["label"], style={}) for e in data["edges"]]
    return StreamlitFlowState(nodes, edges)


st.set_page_config(page_title="bare streamlit-flow", layout="wide")
if KEY not in st.session_state:
    st.session_state[KEY] = flow_state(design(os.environ["LL_BARE_DESIGN"]))
st.session_state[KEY] = streamlit_flow("flow", st.session_state[KEY], height=520, fit_view=True)
