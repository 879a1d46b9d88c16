"""Pay torch's one-time imports before the first run needs them.

Building the first optimizer in a process imports ``torch._dynamo`` (torch.optim checks whether it is being
compiled): about 1.5 s on a quiet 2-core machine and 9–13 s on a busy one. A user who opens the Train tab and
clicks "Find learning rate" or Start would wait for it; warming it in a background thread when the tab is first
drawn moves that wait into the seconds the user spends reading the form.
"""

from __future__ import annotations

import threading

_STARTED = threading.Event()


def warm_torch() -> None:
    """Build one small optimizer: the imports it triggers stay loaded for the life of the process."""
    import torch

    layer = torch.nn.Linear(2, 2)
    torch.optim.Adam(layer.parameters())


def start_warmup() -> None:
    """Warm torch once per process, in a daemon thread; later calls do nothing."""
    if _STARTED.is_set():
        return
    _STARTED.set()
    threading.Thread(target=warm_torch, name="layerlab-torch-warmup", daemon=True).start()
