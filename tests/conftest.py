import os
import tempfile

# Keep tool caches out of $HOME and shared /tmp paths: onnxruntime telemetry, torch.compile caches.
_CACHE = tempfile.mkdtemp(prefix="layerlab_test_cache_")
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(_CACHE, "inductor"))
os.environ.setdefault("XDG_CACHE_HOME", _CACHE)
os.environ.setdefault("LAYERLAB_DATA_DIR", os.path.join(_CACHE, "data"))


def pytest_addoption(parser):
    # tests/test_codegen_golden.py: rewrite tests/golden/*.py from the current code generator (review the diff).
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite the golden generated-source files in tests/golden/")
