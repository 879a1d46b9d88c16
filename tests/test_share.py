"""Share links: round trips for every template, exact refusals, and hostile strings that must never crash."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.layout import auto_layout
from builder.share import MAX_LINK_CHARS, ShareError, decode_share, encode_share
from builder.templates import load_template, template_names

# Lengths measured when this was written: a regression to much longer links should be noticed. 1_200 until the
# tensor-op templates: se_resnet (1,742: its block's documented parameters and gate) and nanogpt_tiny (1,481: two
# block definitions) carry more design, not a longer encoding.
LONGEST_TEMPLATE_LINK = 2_000


def pack(raw: bytes, level: int = 9) -> str:
    return "1." + base64.urlsafe_b64encode(zlib.compress(raw, level)).decode().rstrip("=")


@pytest.mark.parametrize("name", template_names())
def test_every_template_round_trips(name):
    graph = load_template(name)
    link = encode_share(graph)
    print(f"share link length {name}: {len(link)}")
    assert link.startswith("1.") and "=" not in link
    assert set(link[2:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(link) < LONGEST_TEMPLATE_LINK
    assert decode_share(link) == graph


def test_positions_are_dropped_unless_kept():
    graph = auto_layout(load_template("resnet_mini"))
    plain, placed = encode_share(graph), encode_share(graph, keep_positions=True)
    assert all(n.pos is None for n in decode_share(plain).nodes)
    assert decode_share(placed) == graph
    assert len(plain) < len(placed)


def test_surrounding_whitespace_is_ignored():
    graph = load_template("xor_mlp")
    assert decode_share("  " + encode_share(graph) + "\n") == graph
    link = encode_share(graph)
    assert decode_share(f"http://localhost:8501/?design={link}") == graph  # a whole pasted URL
    assert decode_share(f"http://localhost:8501/?a=b&design={link}&tab=code#top") == graph


@pytest.mark.parametrize(("text", "message"), [
    ("", "the share link is empty"),
    ("   ", "the share link is empty"),
    (None, "the share link is empty"),
    ("abc", "not a LayerLab share link"),
    ("x.abc", "not a LayerLab share link"),
    ("2.abc", "uses version 2; this LayerLab reads version 1"),
    ("1.", "empty after its version"),
    ("1.ab$cd", "characters a link can't contain"),
    ("1.abcde", "characters a link can't contain, or was cut short"),
    ("1.AAAA", "can't be decompressed"),
    ("http://[abc?x=1.abc", "the address can't be read"),
    ("http://localhost/?tab=code", "not a LayerLab share link"),
    ("1." + "A" * MAX_LINK_CHARS, f"the limit is {MAX_LINK_CHARS:,}"),
])
def test_refusals_name_the_problem(text, message):
    with pytest.raises(ShareError, match=message):
        decode_share(text)


def test_cut_short_link_is_reported():
    link = encode_share(load_template("lenet5"))
    with pytest.raises(ShareError, match="cut short|damaged"):
        decode_share(link[: len(link) // 2])


def test_decompression_bomb_is_refused():
    bomb = pack(b"[" + b" " * 5_000_000 + b"]")
    assert len(bomb) < MAX_LINK_CHARS  # tiny link, huge payload
    with pytest.raises(ShareError, match="expands to more than 1,000,000 bytes"):
        decode_share(bomb)


def test_not_json_and_not_text():
    with pytest.raises(ShareError, match="not JSON"):
        decode_share(pack(b"{not json"))
    with pytest.raises(ShareError, match="not text"):
        decode_share(pack(b"\xff\xfe\x00"))
    with pytest.raises(ShareError, match="not JSON"):
        decode_share(pack(b'{"layerlab": NaN}'))
    with pytest.raises(ShareError, match="not JSON"):
        decode_share(pack(b"[" * 100_000 + b"]" * 100_000))


def test_invalid_project_lists_the_project_problems():
    data = {"layerlab": 1, "name": "m", "nodes": [{"id": "a", "type": "Conv3d"}], "edges": []}
    with pytest.raises(ShareError) as info:
        decode_share(pack(json.dumps(data).encode()))
    text = str(info.value)
    assert text.startswith("the link holds a design that can't be opened")
    assert "nodes[0] ('a'): unknown block type 'Conv3d'" in text


def _assert_share_error_only(text: str) -> None:
    try:
        decode_share(text)
    except ShareError as err:
        assert str(err)


_alphabet = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ")
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
_keys = st.sampled_from(["layerlab", "name", "nodes", "edges", "meta", "id", "type", "params", "pos", "source",
                         "target", "port", "description", "shape", "dtype"])
_projectish = st.fixed_dictionaries(
    {"layerlab": st.sampled_from([1, 1, 1, 0, 2, "1", None, True]),
     "nodes": st.lists(st.dictionaries(_keys, _json | st.sampled_from(["Input", "Linear", "Add", "a", "b"]),
                                       max_size=5), max_size=4),
     "edges": st.lists(st.dictionaries(_keys, _json | st.sampled_from(["a", "b", "1", "x"]), max_size=4),
                       max_size=4)},
    optional={"name": _json, "meta": _json, "description": _json},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200) | st.text(_alphabet, max_size=300).map(lambda s: "1." + s)
       | st.text(st.sampled_from("[]?=&#:/.1aA_-%"), max_size=40).map(lambda s: "http://" + s))
def test_hostile_strings_raise_only_share_error(text):
    _assert_share_error_only(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json | _projectish)
def test_hostile_payloads_raise_only_share_error(data):
    _assert_share_error_only(pack(json.dumps(data).encode()))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_hostile_compressed_bytes_raise_only_share_error(raw):
    _assert_share_error_only(pack(raw))
    _assert_share_error_only("1." + base64.urlsafe_b64encode(raw).decode().rstrip("="))
