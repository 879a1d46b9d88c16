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


# The real data sets (MNIST, CIFAR-10, ...) are never fetched from the internet in tests: a server on 127.0.0.1
# serves small files in their original formats, and LAYERLAB_DATA_SOURCES points the loader at it for the whole
# session (a test of its own may serve other files). Subprocesses inherit the variables.
import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _local_real_data():
    from realdata_fixtures import serve_all

    servers = serve_all(os.path.join(_CACHE, "sources.json"))
    os.environ["LAYERLAB_DATA_SOURCES"] = os.path.join(_CACHE, "sources.json")
    os.environ["LAYERLAB_DATASETS_DIR"] = os.path.join(_CACHE, "datasets")
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _empty_datasets_dir(tmp_path_factory, monkeypatch):
    """Each test starts with nothing downloaded, so a template's default data set (lenet5: digits until MNIST
    is cached) doesn't depend on which tests ran before."""
    monkeypatch.setenv("LAYERLAB_DATASETS_DIR", str(tmp_path_factory.mktemp("datasets")))
