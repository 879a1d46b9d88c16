"""Hostile input: property-based tests of the CSV loader, the image-zip loader, the project reader and the share
decoder, and an audit of the sources for unpickling and code execution.

The contract for every loader: each case ends in a result or the module's own error with a message — never
another exception, never a hang (a per-case alarm), never a file written (the tests run in a scratch working
directory and HOME, snapshotted before and after), never code execution (formula and shell cells would leave
a file behind). Fixed seeds, so CI sees the same cases each time; LAYERLAB_FUZZ_SCALE=20 for a long hunt.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import io
import json
import os
import signal
import stat
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from builder.project import ProjectError, load_project, to_json
from builder.share import ShareError, decode_share, encode_share
from builder.templates import load_template, template_names
from data.base import DatasetError
from data.userdata import CsvLimits, ZipLimits, load_csv, load_image_zip

REPO = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("LAYERLAB_FUZZ_SCALE", "1"))
CASE_SECONDS = 10  # one case past this is a hang


def fuzz(examples: int) -> settings:
    return settings(max_examples=int(examples * SCALE), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Fail a case that runs past ``seconds`` (hypothesis' deadline only measures a case after it returns)."""
    def expired(*_):
        raise TimeoutError(f"a case ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if not p.is_symlink()} | {
            str(p.relative_to(root)): (-1, 0) for p in root.rglob("*") if p.is_symlink()}


@pytest.fixture
def jail(tmp_path, monkeypatch) -> Iterator[Path]:
    """A scratch working directory and HOME inside ``tmp_path``; nothing under ``tmp_path`` may change."""
    (tmp_path / "work").mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "work" / "keep.txt").write_text("untouched")
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    before = _snapshot(tmp_path)
    yield tmp_path
    assert _snapshot(tmp_path) == before, "a loader wrote or changed a file"


# ---- CSV -------------------------------------------------------------------------------------------------
FORMULAS = ["=cmd|' /C calc'!A0", "=1+1", "+1+1", "-2+3", "@SUM(A1:A2)", "=HYPERLINK(\"http://x\",\"y\")",
            "__import__('os').system('touch pwned')", "$(touch pwned)", "`touch pwned`", "; touch pwned",
            "{{7*7}}", "${7*7}", "%(x)s", "\\x00"]
CELLS = st.one_of(
    st.integers(-10, 10).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e400", "-1e309", "9" * 400, "-" + "9" * 5000, "0x1F", "1_000", "1,5", "nan", "NaN", "inf",
                     "-inf", "Infinity", "", " ", "NULL", "N/A", "None", "true", "FALSE", "\"", "\"a,b\"",
                     "\"line\nbreak\"", "é", "日本", "\u202e", "\ufeff", "\U0001F600", "a" * 3000, *FORMULAS]),
    st.text(max_size=8),
)
HEADERS = st.one_of(st.sampled_from(["y", "Y", "target", "", " ", "y", "x", "=1+1", "日本", "\ufeffy", "a\"b"]),
                    st.text(max_size=6))
SMALL_CSV = CsvLimits(max_bytes=200_000, max_rows=60, max_columns=40, max_features=80, max_categories=8,
                      max_classes=10, min_rows=3)


PLAIN_CELLS = st.one_of(st.integers(-5, 5).map(str), st.floats(-100, 100).map(lambda v: f"{v:.3g}"),
                        st.sampled_from(["red", "green", "blue"]))


@st.composite
def csv_files(draw) -> tuple[bytes, str, str, str]:
    """CSV bytes: mostly plausible tables (quoted like a spreadsheet export) with hostile cells, headers,
    delimiters, line endings, BOMs and encodings mixed in; sometimes ragged or very wide rows."""
    sep = draw(st.sampled_from([",", ",", ";", "\t", "|"]))
    width = draw(st.integers(2, 5)) if draw(st.integers(0, 9)) else draw(st.integers(30, 1200))  # sometimes wide
    header = [draw(HEADERS) if draw(st.integers(0, 4)) == 0 else f"c{k}" for k in range(width - 1)] + ["y"]
    hostile = draw(st.sampled_from([0.0, 0.1, 0.3, 1.0]))  # the share of hostile cells
    rows = []
    for _ in range(draw(st.integers(0, 25)) if width <= 5 else draw(st.integers(0, 4))):
        cells = [draw(CELLS) if draw(st.floats(0, 1)) < hostile else draw(PLAIN_CELLS) for _ in range(min(width, 6))]
        row = (cells * (width // len(cells) + 1))[:width]  # wide rows repeat a few cells: cheap to generate
        if draw(st.integers(0, 9)) == 0:  # ragged
            row = row[:draw(st.integers(0, width))] + [draw(CELLS)] * draw(st.integers(0, 2))
        rows.append(row)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_MINIMAL, csv.QUOTE_NONNUMERIC])))
    writer.writerows([header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    raw = out.getvalue().encode(encoding, errors="replace")
    target = draw(st.sampled_from(["y", "y", "y", "Y", header[0], "missing"]))
    task = draw(st.sampled_from(["auto", "auto", "auto", "classification", "binary", "regression", "nonsense"]))
    missing = draw(st.sampled_from(["impute", "impute", "drop", "error"]))
    return raw, target, task, missing


def _csv_contract(raw: bytes, target: str, task: str = "auto", missing: str = "impute",
                  limits: CsvLimits = SMALL_CSV) -> object | None:
    with alarm(CASE_SECONDS):
        try:
            data = load_csv(raw, target, task, missing=missing, limits=limits)
        except DatasetError as err:
            assert err.message and isinstance(err.message, str)
            return None
    n = len(data.train) + len(data.val) + len(data.test)
    assert n >= limits.min_rows and data.input_shapes[0][0] == len(data.extras["feature_names"])
    for split in (data.train, data.val, data.test):  # inf or NaN here would only surface as a NaN loss
        assert all(torch.isfinite(t).all() for t in (*split.inputs, split.target)), "non-finite values loaded"
    return data


def test_csv_random_bytes(jail):
    @fuzz(300)
    @given(st.binary(max_size=400) | st.binary(max_size=200).map(lambda b: b"a,b,y\n" + b))
    def case(raw):
        _csv_contract(raw, "y")

    case()


def test_csv_hostile_tables(jail):
    outcomes = {"loaded": 0, "refused": 0}

    @fuzz(500)
    @given(csv_files())
    def case(args):
        outcomes["loaded" if _csv_contract(*args) is not None else "refused"] += 1

    case()
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0  # both paths were exercised


def test_csv_formulas_stay_text_and_nothing_runs(jail):
    out = io.StringIO()
    writer = csv.writer(out)  # quoted as a spreadsheet would export them
    writer.writerow(["cmd", "n", "y"])
    writer.writerows([FORMULAS[i % len(FORMULAS)], i, FORMULAS[i % 3]] for i in range(42))
    data = _csv_contract(out.getvalue().encode(), "y", "classification",
                         limits=CsvLimits(max_categories=20, min_rows=3))
    assert data.class_names == sorted(FORMULAS[:3])  # the cells themselves, never their "result"
    assert {f"cmd={f}" for f in FORMULAS} <= set(data.extras["feature_names"])
    assert not (jail / "work" / "pwned").exists()


@pytest.mark.parametrize("pattern", ['",', '"\n', '"",', '",\n', '"a";', "a,"])
def test_csv_quote_storms_and_duplicate_names_finish_quickly(jail, pattern):
    """Two quadratic traps, each found here: csv.Sniffer on quote-heavy text (64 kB of '"\\n' took 90 s before
    the loader capped what it sniffs) and pandas renaming duplicate column names (16,000 took 2 s, a 1 MB
    header would take most of an hour) before the column limit was checked. One upload must not hold a
    server thread that long."""
    raw = (pattern * (65536 // len(pattern))).encode()
    started = time.perf_counter()
    _csv_contract(raw, "y")
    assert time.perf_counter() - started < 5
    wide = ("a," * 500_000 + "y\n" + "1," * 500_000 + "1\n").encode()
    with alarm(CASE_SECONDS), pytest.raises(DatasetError, match="has 500,001 columns; the limit is 1,000"):
        load_csv(wide, "y")


# ---- image zips ------------------------------------------------------------------------------------------
def _png(color: tuple[int, int, int], size: int = 6) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


def _png_bomb() -> bytes:
    """A valid PNG header that declares 100000×100000 pixels, followed by nothing."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, "PNG")
    raw = bytearray(out.getvalue())
    raw[16:24] = struct.pack(">II", 100_000, 100_000)
    return bytes(raw)


GOOD = [_png((200, 30, 30)), _png((30, 30, 200)), _png((20, 200, 20), 40)]
CONTENTS = st.sampled_from([*GOOD, *GOOD, b"", b"junk", GOOD[0][:30], _png_bomb(), b"\x89PNG\r\n\x1a\n" + bytes(100),
                            b"GIF89a" + bytes(20)]) | st.binary(max_size=64)
SAFE_NAMES = st.sampled_from(["red/1.png", "red/2.png", "blue/1.png", "blue/2.JPG", "data/red/3.png",
                              "data/blue/3.png", "green/1.gif", "notes.txt", "__MACOSX/red/._1.png",
                              ".hidden/1.png", "red/", "blue/", "a/b/c/d/e.png", "日本/1.png", "red/ 1.png"])


def hostile_names(jail: Path) -> st.SearchStrategy[str]:
    """Names made to escape: absolute (inside the jail, so an escape would be seen), '..', drives, UNC."""
    return st.sampled_from([f"{jail}/abs_escape.png", "/tmp/layerlab_zip_escape.png", "../escape.png",
                            "red/../../escape.png", "..\\escape.png", "red\\..\\..\\escape.png", "C:/escape.png",
                            "c:\\escape.png", "\\\\server\\share\\escape.png", "red/..", "./red/1.png",
                            "red//1.png", "red/\x00.png", "x" * 300 + ".png"])


def _nested_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as inner:
        inner.writestr("red/1.png", GOOD[0])
        inner.writestr("blue/1.png", GOOD[1])
    return out.getvalue()


def _patch_declared_sizes(raw: bytes, size: int) -> bytes:
    """Rewrite every central-directory entry's uncompressed size: a header that lies."""
    data = bytearray(raw)
    at = data.find(b"PK\x01\x02")
    while at != -1:
        data[at + 24:at + 28] = struct.pack("<I", size)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


@st.composite
def zip_files(draw, jail: Path) -> bytes:
    out = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for _ in range(draw(st.integers(0, 8))):
            kind = draw(st.integers(0, 9))
            name = draw(hostile_names(jail)) if kind == 0 else draw(SAFE_NAMES)
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            if kind == 1:  # a symbolic link pointing out of the folder
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, "../../../etc/passwd")
                continue
            if kind == 2:
                info.flag_bits |= 0x1  # claims to be encrypted
            content = _nested_zip() if kind == 3 else draw(CONTENTS)
            with contextlib.suppress(ValueError):  # e.g. a NUL in the name: zipfile itself refuses to write it
                archive.writestr(info, content)
    raw = out.getvalue()
    if draw(st.integers(0, 5)) == 0:
        raw = _patch_declared_sizes(raw, draw(st.sampled_from([0, 1, 2**31, 2**32 - 1, 40_000_000])))
    if draw(st.integers(0, 7)) == 0:  # damaged somewhere
        cut = draw(st.integers(0, max(0, len(raw) - 1)))
        raw = raw[:cut] + draw(st.binary(max_size=8)) + raw[cut + 8:]
    return raw


SMALL_ZIP = ZipLimits(max_bytes=2_000_000, max_entries=20, max_total=50_000_000, max_member=1_000_000,
                      max_pixels=100_000, max_values=2_000_000)


def _zip_contract(raw: bytes, size: int = 8, grayscale: bool = False) -> object | None:
    with alarm(CASE_SECONDS):
        try:
            data = load_image_zip(raw, size=size, grayscale=grayscale, limits=SMALL_ZIP)
        except DatasetError as err:
            assert err.message and isinstance(err.message, str)
            return None
    assert data.input_shapes[0] == (1 if grayscale else 3, size, size) and data.num_classes >= 2
    return data


def test_zip_random_bytes(jail):
    @fuzz(200)
    @given(st.binary(max_size=300) | st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b)
           | st.binary(max_size=200).map(lambda b: b + b"PK\x05\x06" + bytes(18)))
    def case(raw):
        _zip_contract(raw)

    case()


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # duplicated members are part of the attack
def test_zip_hostile_archives(jail):
    outcomes = {"loaded": 0, "refused": 0}

    @fuzz(600)
    @given(zip_files(jail), st.sampled_from([4, 8, 16]), st.booleans())
    def case(raw, size, grayscale):
        outcomes["loaded" if _zip_contract(raw, size, grayscale) is not None else "refused"] += 1

    case()
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0
    assert not Path("/tmp/layerlab_zip_escape.png").exists()


def test_zip_escapes_are_refused_even_beside_good_images(jail):
    for name in ["../escape.png", f"{jail}/abs_escape.png", "c:\\escape.png", "red\\..\\..\\escape.png"]:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for k in range(3):
                archive.writestr(f"red/{k}.png", GOOD[0])
                archive.writestr(f"blue/{k}.png", GOOD[1])
            archive.writestr(name, GOOD[0])
        with pytest.raises(DatasetError, match="unsafe path"):
            load_image_zip(out.getvalue(), size=8)


def test_zip_entry_count_is_checked_before_zipfile_reads_the_directory(jail):
    """zipfile makes one object per directory entry (300,000 empty entries: 1.6 s, 160 MB) before the loader
    could count them; now the entry signatures are counted first, so even a fake directory is refused."""
    with alarm(CASE_SECONDS), pytest.raises(DatasetError, match="The zip has 60,000 entries; the limit is 50,000"):
        load_image_zip(b"PK\x01\x02" * 60_000)


def _two_members() -> bytearray:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("X", b"x")
        archive.writestr("red/1.png", GOOD[0])
    return bytearray(out.getvalue())


def test_damaged_directories_found_by_the_fuzzer_are_refused(jail):
    """Two crashes the fuzzer found: a directory entry needing "zip version 6.4" (NotImplementedError from
    zipfile) and an entry whose name is empty (IndexError in ZipInfo.is_dir)."""
    raw = _two_members()
    raw[raw.find(b"PK\x01\x02") + 6] = 64  # version needed to extract: 6.4
    with pytest.raises(DatasetError, match="is not a zip file \\(or it is damaged\\)"):
        load_image_zip(bytes(raw))
    raw = _two_members()
    at = raw.find(b"PK\x01\x02")
    raw[at + 28:at + 30] = (0).to_bytes(2, "little")  # the first name's length: 0
    del raw[at + 46]
    end = raw.rfind(b"PK\x05\x06")
    raw[end + 12:end + 16] = (int.from_bytes(raw[end + 12:end + 16], "little") - 1).to_bytes(4, "little")
    with pytest.raises(DatasetError, match="an entry without a name: the file is damaged"):
        load_image_zip(bytes(raw))


# ---- project files and share links ---------------------------------------------------------------------
HOSTILE_TEXT = st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u202e", "\ufeff", "日本", "\U0001F600", "'\"\\",
                                "\n# comment", "\"\"\"", "import os", "x" * 70]) | st.text(max_size=5)
TEMPLATE_DATA = {name: json.loads(to_json(load_template(name))) for name in template_names()}


@st.composite
def hostile_projects(draw) -> str | dict:
    """Templates with hostile text in names, ids, descriptions and meta; or JSON text at the parser's edges."""
    data = json.loads(json.dumps(TEMPLATE_DATA[draw(st.sampled_from(sorted(TEMPLATE_DATA)))]))
    spot = draw(st.sampled_from(["name", "description", "meta", "id", "node_meta", "edge"]))
    text = draw(HOSTILE_TEXT)
    if spot in ("name", "description"):
        data[spot] = text
    elif spot == "meta":
        data["meta"] = {text: text}
    elif spot == "node_meta":
        data["nodes"][0]["meta"] = {"note": text}
    else:
        old = data["nodes"][-1]["id"]
        data["nodes"][-1]["id"] = text
        for edge in data["edges"]:
            for key in ("source", "target"):
                if edge[key] == old and (spot == "id" or draw(st.booleans())):
                    edge[key] = text
    as_text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    return draw(st.sampled_from([data, as_text, "\ufeff" + as_text]))


EDGE_TEXTS = st.sampled_from([
    "[" * 100_000, "{\"a\":" * 50_000, '{"layerlab": 1e400, "nodes": []}', '{"layerlab": 1, "nodes": [], "x": 1e400}',
    '{"layerlab": ' + "9" * 5000 + "}", '{"layerlab": 1, "layerlab": 2, "nodes": []}', "\x00" * 10,
    '{"layerlab": 1, "nodes": [{"id": "x", "type": "Input", "pos": [1e400, 0]}]}', "\ud800",
    '{"layerlab": 1, "nodes": [{"id": "x", "type": "Input", "params": {"shape": [1e400]}}]}',
    '{"layerlab": 1, "nodes": [{"id": "x", "type": "Input", "params": {"shape": [' + "9" * 400 + "]}}]}",
])


def _project_contract(source: str | bytes | dict) -> None:
    """ProjectError with lines, or a graph that can be saved as UTF-8 and read back unchanged."""
    with alarm(CASE_SECONDS):
        try:
            graph = load_project(source)
        except ProjectError as err:
            assert err.problems and all(isinstance(p, str) and p for p in err.problems)
            return
        text = to_json(graph)
        assert load_project(text.encode("utf-8")) == graph  # encodes: no lone surrogates got through


def test_project_text_at_the_edges(jail):
    @fuzz(60)
    @given(EDGE_TEXTS | EDGE_TEXTS.map(lambda s: s.encode("utf-8", "surrogatepass")))
    def case(source):
        _project_contract(source)

    case()


def test_project_hostile_text_round_trips_or_is_refused(jail):
    @fuzz(600)
    @given(hostile_projects())
    def case(source):
        _project_contract(source)

    case()


def test_lone_surrogates_are_refused_with_their_place():
    data = json.loads(json.dumps(TEMPLATE_DATA["xor_mlp"]))
    data["nodes"][1]["meta"] = {"note": "bad \ud800 text"}
    with pytest.raises(ProjectError) as err:
        load_project(json.dumps(data))
    assert err.value.problems == ["nodes[1].meta.note: the text holds \\ud800, half of a character pair that is not "
                                  "valid Unicode; remove it"]


def test_share_links_of_hostile_designs_round_trip_or_fail_cleanly(jail):
    @fuzz(200)
    @given(hostile_projects(), st.integers(0, 60), st.sampled_from(["", "A", "-", "~", "=="]))
    def case(source, cut, junk):
        try:
            graph = load_project(source)
        except ProjectError:
            return
        link = encode_share(graph, keep_positions=True)
        assert decode_share(link) == graph
        damaged = link[:len(link) - cut] + junk
        with alarm(CASE_SECONDS):
            try:
                decode_share(damaged)
            except ShareError as err:
                assert str(err)

    case()


# ---- audit of the sources ------------------------------------------------------------------------------
SOURCES = sorted([*REPO.glob("builder/**/*.py"), *REPO.glob("importer/**/*.py"), *REPO.glob("codegen/**/*.py"),
                  *REPO.glob("export/**/*.py"), *REPO.glob("cli/**/*.py"), *REPO.glob("ui/**/*.py"), REPO / "app.py"])
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
# The one documented place that executes code: the generated model module, imported after codegen.safety's
# AST gate (codegen/loader.py). Nothing else may run code it was given.
# The importer runs a model file the user points at (`layerlab import model.py:Class`, or the app's .py upload,
# offered only when the app serves one person on their own machine): their own code, on their own machine.
EXEC_ALLOWED = {("codegen/loader.py", "exec_module"), ("importer/source_file.py", "exec_module")}
# The run executor and its worker process pass their own messages (run orders, events, results) over a private
# pipe between two LayerLab processes, as multiprocessing's queues do with pickle anyway; no user file or upload
# is ever among those bytes (a design travels as project JSON, weights as tensors from our own engine).
# The Ray executor does the same between the server and its run's actor on the room's own (private) cluster:
# the order it pickled itself goes out, the actor's messages come back (ui/train/ray_executor.py).
UNPICKLE_ALLOWED = {"ui/train/process_executor.py", "ui/train/worker.py", "ui/train/ray_executor.py"}


def _call_name(call: ast.Call) -> tuple[str, str]:
    """("pickle", "loads") for pickle.loads(...), ("", "eval") for eval(...)."""
    func = call.func
    if isinstance(func, ast.Name):
        return "", func.id
    if isinstance(func, ast.Attribute):
        owner = func.value
        while isinstance(owner, ast.Attribute):  # torch.serialization.load -> torch
            owner = owner.value
        base = owner.id if isinstance(owner, ast.Name) else "?"  # "?": a call's result, e.g. copy(m).eval()
        return base, func.attr
    return "", ""


def _keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<expr>"
    return None


def audit(code: str, where: str) -> list[str]:
    """Every call in ``code`` that could unpickle or execute what a user supplied."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Call):
            continue
        base, name = _call_name(node)
        line = f"{where}:{node.lineno}"
        if name == "load" and base == "torch" and _keyword(node, "weights_only") is not True:
            found.append(f"{line}: torch.load without weights_only=True")
        elif base in FORBIDDEN_MODULES and name in {"load", "loads", "Unpickler", "open"} \
                and not (base == "pickle" and name == "loads" and where in UNPICKLE_ALLOWED):
            found.append(f"{line}: {base}.{name} unpickles")
        elif base == "" and name in {"eval", "exec", "compile"}:
            found.append(f"{line}: {name}()")
        elif base == "yaml" and name in {"load", "unsafe_load", "full_load", "load_all"}:
            found.append(f"{line}: yaml.{name} (use yaml.safe_load)")
        elif name == "load" and base in {"np", "numpy"} and _keyword(node, "allow_pickle") not in (None, False):
            found.append(f"{line}: numpy.load with allow_pickle")
        elif name in {"read_pickle", "Unpickler"}:
            found.append(f"{line}: {name}")
        elif name in {"system", "popen"} and base == "os" or _keyword(node, "shell") not in (None, False):
            found.append(f"{line}: a shell command")
        elif name == "exec_module" and (where, name) not in EXEC_ALLOWED:
            found.append(f"{line}: exec_module outside codegen/loader.py")
        elif name == "__import__" and not all(isinstance(a, ast.Constant) for a in node.args[:1]) \
                and not _imports_constant_names(code, node):
            found.append(f"{line}: __import__ of a computed name")
    return found


def _imports_constant_names(code: str, call: ast.Call) -> bool:
    """cli/main.py imports its subcommand modules by name from a literal tuple: that is fine."""
    arg = call.args[0] if call.args else None
    if not isinstance(arg, ast.Name):
        return False
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == arg.id:
            return isinstance(node.iter, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.iter.elts)
    return False


def test_the_audit_catches_what_it_looks_for():
    bad = ("import pickle, torch, yaml, os, subprocess\npickle.loads(b)\ntorch.load(f)\ntorch.load(f, weights_only=False)\n"
           "eval(s)\nexec(s)\nyaml.load(s)\nos.system(s)\nsubprocess.run(s, shell=True)\nnp.load(f, allow_pickle=True)\n"
           "spec.loader.exec_module(m)\n__import__(name)\n")
    assert [hit.split(": ", 1)[1] for hit in audit(bad, "x.py")] == [
        "pickle.loads unpickles", "torch.load without weights_only=True", "torch.load without weights_only=True",
        "eval()", "exec()", "yaml.load (use yaml.safe_load)", "a shell command", "a shell command",
        "numpy.load with allow_pickle", "exec_module outside codegen/loader.py", "__import__ of a computed name"]
    good = "torch.load(f, weights_only=True)\nmodel.eval()\nre.compile('x')\nyaml.safe_load(s)\nnp.load(f)\n"
    assert audit(good, "x.py") == []


def test_sources_never_unpickle_or_execute_user_data():
    assert len(SOURCES) > 40
    found = [hit for path in SOURCES
             for hit in audit(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert found == []


@pytest.mark.slow
def test_generated_scripts_load_weights_safely():
    """The training scripts LayerLab writes for users follow the same rules (they save with torch.save and say
    how to load with weights_only=True)."""
    from export.script import generate_script

    for name in ("digits_cnn", "xor_mlp", "transformer_seq2seq"):
        code = generate_script(load_template(name))
        assert audit(code, f"{name}_train.py") == []


# --- ONNX files ------------------------------------------------------------------------------------------------


def test_onnx_files_with_flipped_bytes_open_or_are_refused_in_words():
    """A real exported file with bytes changed anywhere: it opens (verified or not) or is refused with an
    ImportFailure; no other exception reaches the user, and no case hangs."""
    from importer import ImportFailure, ImportResult
    from importer.onnx_import import import_onnx
    from tests.test_import_onnx import exported

    original = exported("lstm_classifier")

    @fuzz(40)
    @given(st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)), min_size=1, max_size=6))
    def case(flips):
        raw = bytearray(original)
        for at, value in flips:
            raw[at] = value
        with alarm(CASE_SECONDS):
            try:
                assert isinstance(import_onnx(bytes(raw)), ImportResult)
            except ImportFailure as err:
                assert str(err)

    case()
