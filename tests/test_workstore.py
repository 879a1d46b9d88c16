"""Work kept between visits: the SQLite store (real files) and the app bringing it back (AppTest)."""

from __future__ import annotations

import sqlite3

import pytest

from builder.edits import add_node
from builder.graph import Graph
from builder.history import History
from builder.workstore import SavedWork, WorkStore, WorkStoreError, encode_work, new_token, valid_token
from tests.app_helpers import start_app
from ui.project.saved_work import store as app_store


def _designs(n: int) -> list:
    """n designs, each one block longer than the last (an undo history)."""
    graph, _ = add_node(Graph(name="net"), "Input")
    out = [graph]
    for _ in range(n - 1):
        graph, _ = add_node(graph, "Linear")
        out.append(graph)
    return out


@pytest.fixture
def store(tmp_path) -> WorkStore:
    return WorkStore(tmp_path / "work.sqlite")


def test_history_and_extras_come_back_per_token(store):
    mine, theirs = new_token(), new_token()
    designs = _designs(4)
    store.save(mine, SavedWork(designs, 2, {"train": {"ll_set_epochs": 3}}), 1_000_000)
    back = store.load(mine)
    assert [len(g.nodes) for g in back.states] == [1, 2, 3, 4]
    assert back.index == 2 and back.extra == {"train": {"ll_set_epochs": 3}}
    restored = History.restored(back.states, back.index)
    assert len(restored.current.nodes) == 3 and restored.can_undo and restored.can_redo
    assert store.load(theirs) is None  # another browser's token sees nothing of mine


def test_tokens_are_unguessable_and_only_their_hash_is_stored(store, tmp_path):
    token = new_token()
    assert valid_token(token) and token != new_token() and len(token) == 43
    assert not valid_token("abc") and not valid_token(None) and not valid_token("x" * 42 + ";")
    store.save(token, SavedWork(_designs(1), 0), 1_000_000)
    keys = [row[0] for row in sqlite3.connect(tmp_path / "work.sqlite").execute("SELECT key FROM work")]
    assert len(keys) == 1 and token not in keys[0] and len(keys[0]) == 64


def test_a_save_replaces_the_last_one(store):
    token = new_token()
    store.save(token, SavedWork(_designs(1), 0), 1_000_000)
    store.save(token, SavedWork(_designs(3), 2), 1_000_000)
    assert len(store.load(token).states) == 3


def test_oldest_undo_steps_go_first_when_too_big(store):
    token = new_token()
    designs = _designs(30)
    work = SavedWork(designs, 25)
    whole = len(encode_work(SavedWork(designs, 25), 10**9).encode())
    store.save(token, work, whole // 2)
    back = store.load(token)
    assert work.dropped > 0 and len(back.states) == 30 - work.dropped
    assert len(back.states[back.index].nodes) == 26  # the design on screen is always kept
    assert len(back.states[0].nodes) > 1  # what was dropped is the oldest


def test_a_design_too_big_alone_is_refused_with_a_message(store):
    with pytest.raises(WorkStoreError, match="too big to keep between visits"):
        store.save(new_token(), SavedWork(_designs(5), 4), 200)


@pytest.mark.parametrize("body, words", [
    ("{not json", "damaged"),
    ('{"version": 99, "states": [], "index": 0}', "another version"),
    ('{"version": 1, "states": [], "index": 0}', "incomplete"),
    ('{"version": 1, "states": [{"layerlab": 1, "nodes": [{"id": "a", "type": "NoSuchLayer"}]}], "index": 0}',
     "can't be read"),
])
def test_a_damaged_row_gives_a_clear_message(store, body, words):
    token = new_token()
    store.save_text(token, body)
    with pytest.raises(WorkStoreError, match=words):
        store.load(token)


def test_a_damaged_database_file_gives_a_clear_message(tmp_path):
    path = tmp_path / "work.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(WorkStoreError, match="can't be used"):
        WorkStore(path)


def test_the_app_brings_back_a_browsers_work():
    token = new_token()
    app_store().save(token, SavedWork(_designs(3), 2, {"view": "Build", "train": {"ll_set_epochs": 4}}), 10**6)
    at = _app_with_token(token)
    assert len(at.session_state["ll_history"].current.nodes) == 3
    assert at.session_state["view"] == "Build"
    assert at.session_state["ll_train_kept"]["ll_set_epochs"] == 4


def test_a_damaged_row_opens_a_blank_design_with_a_message():
    token = new_token()
    app_store().save_text(token, "{not json")
    at = _app_with_token(token)
    assert not at.exception
    assert len(at.session_state["ll_history"].current.nodes) == 1  # the blank canvas: one Input
    assert any("could not be brought back" in e.value for e in at.error)


def test_a_share_link_wins_over_saved_work_and_undo_goes_back_to_it():
    from builder.share import encode_share
    from builder.templates import load_template

    token = new_token()
    app_store().save(token, SavedWork(_designs(3), 2), 10**6)
    at = _app_with_token(token, {"design": encode_share(load_template("digits_mlp"))})
    history = at.session_state["ll_history"]
    assert history.current.name != "net" and at.session_state["view"] == "Build"
    history.undo()
    assert history.current.name == "net" and len(history.current.nodes) == 3


def test_reloading_the_same_share_link_keeps_the_edits_made_since():
    import hashlib

    from builder.share import encode_share
    from builder.templates import load_template

    link = encode_share(load_template("digits_mlp"))
    token = new_token()
    seen = {"link": hashlib.sha256(link.encode()).hexdigest()[:16], "view": "Code"}
    app_store().save(token, SavedWork(_designs(3), 2, seen), 10**6)  # the link opened, then edited
    at = _app_with_token(token, {"design": link})
    assert at.session_state["ll_history"].current.name == "net" and at.session_state["view"] == "Code"


def _app_with_token(token: str, query: dict[str, str] | None = None):
    """The app as a browser whose cookie holds ``token`` (AppTest sends no cookies: the session is told it)."""
    from streamlit.testing.v1 import AppTest

    from tests.app_helpers import APP

    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.session_state["ll_work_token"] = token
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_fresh_app_session_saves_its_work():
    at = start_app()
    token = at.session_state["ll_work_token"]
    assert valid_token(token)
    assert app_store().load(token) is not None


def test_an_upload_is_named_to_upload_again_never_read_from_disk():
    token = new_token()
    first = _app_with_token(token)  # one visit: the Train tab, 5 epochs, a CSV uploaded
    first.session_state["view"] = "Train"
    first.run()
    next(n for n in first.number_input if n.label == "Epochs").set_value(5).run()
    next(s for s in first.selectbox if s.label == "Dataset").set_value("Upload a CSV…").run()
    first.session_state["ll_train_uploads"] = {"csv": ("houses.csv", b"rooms,price\n3,10\n4,12\n")}
    first.run()
    assert not first.exception, first.exception
    row = app_store().load_text(token)
    assert '"houses.csv"' in row and "rooms,price" not in row  # its name is kept, never its contents
    again = _app_with_token(token)  # the next visit
    assert any("Upload **houses.csv** again" in w.value for w in again.warning), [w.value for w in again.warning]
    assert next(n for n in again.number_input if n.label == "Epochs").value == 5


def test_the_open_block_comes_back_and_a_stale_one_is_dropped():
    from builder.templates import load_template

    design = load_template("resnet_mini")
    block = next(n for n in design.nodes if n.type in design.definitions)
    token = new_token()
    extra = {"view": "Build", "open": [[block.id, block.type, 0]]}
    app_store().save(token, SavedWork([design], 0, extra), 10**6)
    at = _app_with_token(token)
    assert [s.instance for s in at.session_state["ll_open"]] == [block.id]
    assert [s.instance for s in at.session_state["ll_block_view"][1]] == [block.id]  # the canvas shows its inside
    app_store().save(token, SavedWork([design], 0, {"open": [["gone", "Nothing", 0]], "selected": 3}), 10**6)
    at = _app_with_token(token)  # a path the design no longer has, a selection of the wrong type: ignored
    assert not at.exception and at.session_state["ll_selected"] is None


def test_work_too_big_to_keep_is_said_once_never_raised(monkeypatch):
    from builder.settings import settings

    monkeypatch.setenv("LAYERLAB_MAX_FILE_BYTES", "13000")  # the built-in block library (12 KB) still loads
    settings.cache_clear()
    try:
        at = start_app()
        at.session_state["ll_history"] = History(_designs(500)[-1])  # ~20 KB as a project file
        at.run()
        said = [w.value for w in at.warning if "not kept for your next visit" in w.value]
        assert len(said) == 1 and "too big" in said[0] and "save it as a project file" in said[0]
        at.run()
        assert not at.exception and not [w for w in at.warning if "not kept" in w.value]
        assert len(app_store().load(at.session_state["ll_work_token"]).states[0].nodes) == 1  # the last that fit
    finally:
        monkeypatch.delenv("LAYERLAB_MAX_FILE_BYTES")
        settings.cache_clear()
