"""The health section's words in the page (AppTest, real training): a node's warnings in full with their fix in the
inspector, one header that counts the overfitting verdict too, and none on a validation set too small to tell."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _node_health_page() -> None:
    """A real dead-ReLU run (digits_mlp at lr 10) as the session's run; the inspector's health part of relu1."""
    import streamlit as st

    from builder.templates import load_template
    from data.datasets import load_dataset
    from training.engine import TrainConfig, train
    from training.health import monitor_for
    from ui.common.state import TRAIN_RUN
    from ui.train.health_view import render_node_health
    from ui.train.train_panel import ActiveRun

    if TRAIN_RUN not in st.session_state:
        graph, data = load_template("digits_mlp"), load_dataset("digits", seed=0, flat=True)
        config = TrainConfig(epochs=2, lr=10.0, seed=0, device="cpu")
        monitor = monitor_for(graph, data, config)
        train(graph, data, config, observer=monitor)
        st.session_state[TRAIN_RUN] = ActiveRun(None, graph, data, config, "classification", health=monitor)
    run = st.session_state[TRAIN_RUN]
    render_node_health("relu1", run.graph)
    render_node_health("relu1", load_template("xor_mlp"))  # another design: its nodes show nothing


def test_the_inspector_lists_a_nodes_warning_in_full_with_its_fix() -> None:
    at = AppTest.from_function(_node_health_page, default_timeout=120).run()
    assert not at.exception, at.exception
    [warning] = [w.value for w in at.warning]
    assert warning.startswith("**Dead ReLUs · relu1**") and "LeakyReLU keeps a small slope below 0" in warning
    assert [b.label for b in at.button] == ["Replace ‘relu1’ with LeakyReLU"]


def test_one_header_counts_every_warning_shown() -> None:
    from ui.train.health_view import health_title

    assert health_title(0) == "Training health · no warnings"
    assert health_title(1) == "Training health · 1 warning" and health_title(3) == "Training health · 3 warnings"


def test_no_overfitting_verdict_on_a_validation_set_too_small_to_tell() -> None:
    from data.datasets import load_dataset
    from ui.train.train_results import judge_overfitting

    # a textbook overfitting curve: validation loss lowest at epoch 2, then rising while training loss falls
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": v}
               for e, v in enumerate([0.9, 0.5, 0.6, 0.7, 0.8, 0.9], start=1)]
    big = load_dataset("moons", seed=0)
    found, why_not = judge_overfitting(history, big)
    assert found is not None and found.best_epoch == 2 and why_not is None
    points = " ".join(f"{x / 10:g},{y / 10:g}" for x in range(-5, 5) for y in (-5, 5))  # 20 points
    tiny = load_dataset("drawn", seed=0, points=points, labels=" ".join("0 1" for _ in range(10)))
    found, why_not = judge_overfitting(history, tiny)
    assert found is None and why_not.startswith("The validation set holds only")
