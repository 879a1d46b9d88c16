"""Whom the server serves: this machine's own user alone (it listens on 127.0.0.1), or a room (any other address).

Two rules follow from it: a .py model is imported (its code run) only for the machine's own user
(ui.project.import_panel), and a room's runs each get a memory cap by default (ui.train.executor).
"""

from __future__ import annotations

LOCAL_ADDRESSES = {"127.0.0.1", "localhost", "::1"}


def serves_this_machine_alone(address: str | None) -> bool:
    """True only when the server listens on this machine alone. Streamlit's default (no address) listens on every
    interface: a room."""
    return (address or "").strip().lower() in LOCAL_ADDRESSES
