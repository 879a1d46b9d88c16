"""ui.common.gc_tuning: the objects alive after the app's imports leave the collector's walk, once per process."""

import gc

from ui.common import gc_tuning


def test_freeze_imports_freezes_once():
    gc_tuning._frozen = False
    gc.unfreeze()
    try:
        gc_tuning.freeze_imports()
        assert gc.get_freeze_count() > 10_000  # the test run's modules: pytest, builder, streamlit…
        gc.unfreeze()  # (frozen objects can still die, so the count is compared from zero, not from the first)
        gc_tuning.freeze_imports()
        assert gc.get_freeze_count() == 0  # the second call froze nothing: later objects stay collectable
    finally:
        gc.unfreeze()
