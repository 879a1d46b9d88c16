"""README screenshots from the browser tests: written only when LAYERLAB_SCREENSHOTS is set."""

from __future__ import annotations

import os
from pathlib import Path

SHOTS = Path(__file__).resolve().parents[2] / "assets" / "screenshots"


def shot(page, name: str) -> None:
    if os.environ.get("LAYERLAB_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.mouse.move(640, 5)  # no tooltip from the last hovered button
        page.wait_for_timeout(800)  # let the canvas finish drawing edges
        page.screenshot(path=str(SHOTS / f"{name}.png"))
