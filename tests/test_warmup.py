"""The Train tab's warm-up leaves torch's lazily imported optimizer machinery loaded, once per process."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys, threading
from training.warmup import start_warmup
assert 'torch._dynamo' not in sys.modules
start_warmup(); start_warmup()
warmers = [t for t in threading.enumerate() if t.name == 'layerlab-torch-warmup']
assert len(warmers) == 1, warmers
warmers[0].join(120)
assert 'torch._dynamo' in sys.modules
print('ok')
"""


def test_warmup_imports_what_the_first_optimizer_needs_once() -> None:
    run = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
