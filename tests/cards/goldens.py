"""Golden-file checks for the cards tests. HONGYAN_UPDATE_GOLDEN=1 rewrites the files
(look at the PNGs before committing them)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("HONGYAN_UPDATE_GOLDEN") == "1"


def check_bytes(path: Path, data: bytes) -> None:
    if UPDATE or not path.exists():
        path.write_bytes(data)
        if not UPDATE:
            pytest.fail(f"golden file {path.name} was missing and has been written; review it")
        return
    assert data == path.read_bytes(), f"{path.name} differs (HONGYAN_UPDATE_GOLDEN=1 to accept)"


def check_png(path: Path, data: bytes) -> None:
    from cards.fonts import cjk_font_path

    assert (cjk_font_path() or "").endswith("wqy-zenhei.ttc"), (
        "golden previews are drawn with the Debian package fonts-wqy-zenhei: apt-get install it"
    )
    if UPDATE or not path.exists():
        check_bytes(path, data)
        return
    got = Image.open(io.BytesIO(data)).convert("RGB")
    want = Image.open(path).convert("RGB")
    assert got.size == want.size, f"{path.name}: {got.size} != {want.size}"
    diff = ImageChops.difference(got, want)
    # Anti-aliasing may differ across FreeType builds: tolerate faint noise, not shifted layout.
    assert max(ImageStat.Stat(diff).mean) < 1.5, f"{path.name} differs visibly"
    strong = sum(diff.convert("L").point(lambda v: 255 if v > 96 else 0).histogram()[255:])
    assert strong < got.size[0] * got.size[1] * 0.005, f"{path.name}: {strong} pixels differ strongly"
