"""Keep Python's full garbage collection out of the clicks.

CPython's collector walks every tracked object of the oldest generation in a full collection, and it starts
one now and then as objects pile up. The app's imported modules (streamlit, networkx, the block catalog: about
280 000 objects) never become garbage, yet each full collection walked them all: 0.1–0.9 s on the 2 shared cores,
landing inside a palette click or a delete at random (a 300-node delete measured 816 ms of which 719 ms were one
full collection). ``gc.freeze()`` moves everything alive at that moment to a permanent generation that
collections skip; what sessions create afterwards (designs, histories) is collected as before.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_imports() -> None:
    """Once per process, after the app's modules are imported (the first run): later calls do nothing."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.freeze()
