"""ui.gc_tuning: the objects alive after the app's imports leave the collector's walk, once per process."""

import gc

from ui.common import gc_tuning


def test_freeze_imports_freezes_once():
    gc_tuning._frozen = False
    gc.unfreeze()
    try:
        gc_tuning.freeze_imports()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the test run's modules: pytest, builder, streamlit…
        keep = [[] for _ in range(100)]  # tracked objects made after the freeze stay collectable
        gc_tuning.freeze_imports()
        assert gc.get_freeze_count() == frozen
        assert keep
    finally:
        gc.unfreeze()
