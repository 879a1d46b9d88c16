import os
import tempfile

# Keep tool caches out of $HOME and shared /tmp paths: onnxruntime telemetry, torch.compile caches.
_CACHE = tempfile.mkdtemp(prefix="layerlab_test_cache_")
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(_CACHE, "inductor"))
os.environ.setdefault("XDG_CACHE_HOME", _CACHE)
os.environ.setdefault("LAYERLAB_DATA_DIR", os.path.join(_CACHE, "data"))
