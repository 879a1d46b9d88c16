"""The seed (and every other changed setting) in share links and lesson links (issue 13, point 4): a share link
carries the Train tab's settings in the design's meta.training and the Train tab opens on them; a lesson link's
``&seed=N`` reaches each student's copy. Through Streamlit's AppTest, plus the pure rule."""

from __future__ import annotations

from app_helpers import start_app
from streamlit.testing.v1 import AppTest

from builder.share import decode_share, encode_share
from builder.templates import load_template
from training.settings import defaults
from ui.gallery.lesson import lesson_link, with_seed
from ui.train.draw_data import Drawing
from ui.train.train_state import link_training


def _link(at: AppTest) -> str:
    link = at.query_params["design"]
    return link[0] if isinstance(link, list) else link


def _shown(at: AppTest, key: str):
    return at.number_input(key=key).value


# -- the rule --------------------------------------------------------------------------------------------------
def test_a_link_carries_the_seed_and_every_changed_setting():
    design = {"dataset": "gates", "dataset_options": {"gate": "xor"}, "epochs": 40, "lr": 0.1, "notes": "XOR!"}
    shown = {**defaults(), "dataset": "gates", "dataset_options": {"gate": "and"}, "epochs": 10, "lr": 0.1,
             "weight_decay": 0.001}
    assert link_training(design, shown, defaults()) == {
        "dataset": "gates", "dataset_options": {"gate": "and"},  # the Train tab's choice, not the design's
        "epochs": 10,  # back to the default, but the design said 40: the link must say 10
        "lr": 0.1, "notes": "XOR!",  # not a setting: kept as the design had it
        "weight_decay": 0.001, "seed": 0,  # the seed always, even at its default
    }


def test_an_uploaded_file_stays_out_of_the_link():
    shown = {**defaults(), "dataset": "my data.csv", "dataset_options": {"task": "auto"}, "target": "y", "seed": 3}
    out = link_training({"dataset": "iris"}, shown, defaults())
    assert out == {"dataset": "iris", "seed": 3}  # the link can't carry the file: the design's data stays


def test_lesson_links_carry_a_checked_seed():
    assert lesson_link("xor_mlp") == "?lesson=xor_mlp"
    assert lesson_link("xor_mlp", "http://10.0.0.5:8501", seed=7) == "http://10.0.0.5:8501/?lesson=xor_mlp&seed=7"
    graph = load_template("xor_mlp")
    seeded, problem = with_seed(graph, "7")
    assert problem is None and seeded.meta["training"]["seed"] == 7
    assert seeded.meta["training"]["epochs"] == graph.meta["training"]["epochs"]  # the rest as the template has it
    for bad in ("-1", "2.5", "seven", "99999999999"):
        same, problem = with_seed(graph, bad)
        assert same is graph and f"seed ‘{bad}’ is not a whole number from 0 to 2147483647" in problem


# -- in the app --------------------------------------------------------------------------------------------------
def test_the_train_tab_opens_a_share_link_on_its_settings():
    at = start_app({"design": encode_share(load_template("xor_mlp"))}, view="Train", timeout=120)
    at.number_input(key="ll_set_seed").set_value(7).run()
    at.number_input(key="ll_set_epochs").set_value(12).run()
    at.button(key="share").click().run()
    assert not at.exception, at.exception
    training = decode_share(_link(at)).meta["training"]
    assert (training["seed"], training["epochs"], training["lr"], training["dataset"]) == (7, 12, 0.1, "gates")

    again = start_app({"design": _link(at)}, view="Train", timeout=120)
    assert (_shown(again, "ll_set_seed"), _shown(again, "ll_set_epochs"), _shown(again, "ll_set_lr")) == (7, 12, 0.1)


def test_a_share_link_carries_the_drawn_points():
    at = start_app({"design": encode_share(load_template("xor_mlp"))}, view="Train", timeout=120)
    at.selectbox(key="ll_data_dataset").set_value("drawn").run()
    drawing = Drawing().add([(-0.5, -0.5), (-0.4, -0.6), (-0.6, -0.3)], 0).add([(0.5, 0.5), (0.4, 0.6), (0.7, 0.2)], 1)
    at.session_state["ll_data_drawn"] = drawing
    at.run()
    at.button(key="share").click().run()
    assert not at.exception, at.exception
    training = decode_share(_link(at)).meta["training"]
    assert training["dataset"] == "drawn" and training["dataset_options"] == drawing.options()

    again = start_app({"design": _link(at)}, view="Train", timeout=120)
    assert again.selectbox(key="ll_data_dataset").value == "drawn"
    opened = again.session_state["ll_data_drawn"]
    assert (opened.points, opened.labels) == (drawing.points, drawing.labels)
    assert any("3 blue · 3 orange" in c.value for c in again.caption)


def test_a_lesson_links_seed_reaches_the_students_copy():
    at = start_app({"lesson": "xor_mlp", "seed": "7"}, timeout=120)
    assert any("seed 7" in c.value for c in at.caption)  # the lesson says which seed it uses
    at.button(key="lesson_copy").click().run()
    assert not at.exception, at.exception
    assert at.session_state["ll_history"].current.meta["training"]["seed"] == 7
    assert "seed" not in at.query_params and "lesson" not in at.query_params
    at.session_state["view"] = "Train"
    at.run()
    assert _shown(at, "ll_set_seed") == 7

    bad = start_app({"lesson": "xor_mlp", "seed": "-3"}, timeout=120)
    assert any("seed ‘-3’ is not a whole number" in w.value for w in bad.warning)
    assert "seed" not in bad.session_state["ll_lesson"][1].meta["training"]
