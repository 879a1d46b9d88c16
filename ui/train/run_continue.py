"""Runs that continue, in the history: "Continue this run" (resume from its last checkpoint) and "Start from these
weights" (the next Start in the Train tab trains the design from that run's weights, with a fresh optimizer).

The checks and messages are ``training.continuation``'s, the same as ``layerlab train --resume / --from-run``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

FINETUNE = "ll_start_from_run"  # (run id, run number): the weights the next Start begins from
ContinueCallback = Callable[[Any, Any, Any, str], None]  # (graph, dataset, config, run id)


def render_continue_actions(store: Any, record: Any, on_continue: ContinueCallback | None, key: str) -> None:
    left, right = st.columns(2)
    if on_continue is not None:
        why = _not_resumable(store, record)
        left.button("Continue this run", icon=":material/play_arrow:", key=f"{key}_continue",
                    disabled=why is not None, help=why or (
                    f"Train run {record.number} on from its last checkpoint (epoch "
                    f"{len(record.epochs)} of {record.config.get('epochs')}), with its own design, data and "
                    "settings: the epochs are those it would have had without stopping."),
                    on_click=_continue, args=(store, record.id, on_continue))
    chosen = st.session_state.get(FINETUNE)
    if chosen and chosen[0] == record.id:
        right.button("✕ Train from scratch again", key=f"{key}_scratch", on_click=st.session_state.pop,
                     args=(FINETUNE, None), help="The next Start trains new weights, not this run's.")
        right.caption(f"✓ The next Start begins from run {record.number}'s weights.")
    else:
        right.button("Start from these weights", key=f"{key}_finetune", disabled=not record.weights,
                     on_click=choose_weights, args=(record.id, record.number),
                     help="Fine-tune: the next Start trains the design on the canvas (freeze layers in the inspector) "
                          "with the Train tab's settings, beginning from this run's weights and a fresh optimizer.")


def choose_weights(run_id: str, number: int) -> None:
    st.session_state[FINETUNE] = (run_id, number)


def chosen_weights() -> tuple[str, Any] | None:
    """(run id, run number) of a run's weights, or ("file", name, bytes) of an uploaded file; None: from scratch."""
    return st.session_state.get(FINETUNE)


def chosen_label(chosen: tuple[str, Any]) -> str:
    return f"{chosen[1]}" if chosen[0] == "file" else f"run {chosen[1]}'s weights"


def start_from(chosen: tuple[str, Any], store: Any) -> Any:
    """The StartFrom of ``chosen_weights()``; RunStoreError when they can't be read."""
    from training.continuation import from_bytes, from_run
    from training.runstore import RunStoreError

    if chosen[0] == "file":
        return from_bytes(chosen[2], chosen[1])
    if store is None:
        raise RunStoreError("the run history can't be opened, so a run's weights can't be read from it")
    return from_run(getattr(store, "store", store), chosen[0])[1]


def render_weights_upload(key: str) -> None:
    """Fine-tuning from weights made elsewhere: a .safetensors file keyed for this design (what `layerlab import
    --weights` writes for an imported model, or a run's weights download)."""
    upload = st.file_uploader("Start from a weights file (.safetensors)", type=["safetensors"], key=f"{key}_upload",
                              help="The next Start begins from these weights, with a fresh optimizer; they must fit "
                                   "the design exactly (names and sizes).")
    chosen = st.session_state.get(FINETUNE)
    if upload is not None:  # while a file is here, every Start begins from it
        if not chosen or chosen[0] != "file" or chosen[1] != upload.name:
            st.session_state[FINETUNE] = ("file", upload.name, upload.getvalue())
    elif chosen and chosen[0] == "file":  # the file was removed: from scratch again
        st.session_state.pop(FINETUNE, None)


def _not_resumable(store: Any, record: Any) -> str | None:
    """Why the run can't be continued, as the button's help; None when it can."""
    epochs = record.config.get("epochs")
    if record.status == "running":
        return "The run is still running."
    if not (store.checkpoint_folder(record.id) / "last.pt").is_file():
        return "This run kept no checkpoint (older runs, and runs over the server's checkpoint size limit)."
    if record.status == "finished" or (isinstance(epochs, int) and len(record.epochs) >= epochs):
        return "This run has finished: start a new one from its weights to train it further."
    return None


def _continue(store: Any, run_id: str, on_continue: ContinueCallback) -> None:
    """Load the run's own design, settings and data, then hand them to the Train tab to resume."""
    from data.datasets import DatasetError, load_dataset
    from training.runstore import RunStoreError
    from ui.common import state

    try:
        record, graph, config = _resume_inputs(store, run_id)
    except RunStoreError as err:
        state.flash("error", str(err))
        return
    name = config.dataset
    if name.lower().endswith((".csv", ".zip")):
        state.flash("error", f"Run {record.number} trained on an uploaded file ({name}), which the server doesn't "
                             f"keep: continue it with `layerlab train --resume {record.number}` where the file is.")
        return
    try:
        dataset = load_dataset(name, seed=config.seed, fractions=(config.val_fraction, config.test_fraction),
                               **config.dataset_options)
    except DatasetError as err:
        state.flash("error", f"Run {record.number} can't be continued: {err.message}")
        return
    on_continue(graph, dataset, config, record.id)


def _resume_inputs(store: Any, run_id: str) -> tuple[Any, Any, Any]:
    from training.continuation import resume_inputs

    return resume_inputs(getattr(store, "store", store), run_id)
