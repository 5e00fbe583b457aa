"""The frame a card draws its media in, and checking a crop box against it.

Sizes in dp, as the renderers draw them (cards/png.py, cards/templates/card.css; RBM / GSMA media
heights SHORT 112, MEDIUM 168, TALL 264): a standalone vertical card is 320 dp wide, a horizontal
one gives its media 40 % of that, carousel cards are SMALL 180 / MEDIUM 232 dp wide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.problems import FieldError, Problem
from cards import limits as L

HEIGHTS_DP = {"SHORT_HEIGHT": 112, "MEDIUM_HEIGHT": 168, "TALL_HEIGHT": 264}
STANDALONE_DP = 320
HORIZONTAL_SHARE = 0.4
CARD_WIDTHS_DP = {"SMALL_WIDTH": 180, "MEDIUM_WIDTH": 232}
# Narrow handsets (≈ 360 dp screens) draw a standalone card about 272 dp wide at the same media
# height and crop the sides: the middle 85 % of the frame's width stays visible everywhere.
SAFE_WIDTH = 272 / 320
ASPECT_TOLERANCE = 0.02  # a box drawn by hand at the frame's ratio, rounded to whole pixels
MIN_CROP_SIDE = 16


@dataclass(frozen=True)
class Frame:
    height: str
    orientation: str = "VERTICAL"
    card_width: str | None = None  # carousel cards only

    @property
    def aspect(self) -> float:
        """Width / height of the media area."""
        if self.card_width is not None:
            width: float = CARD_WIDTHS_DP[self.card_width]
        elif self.orientation == "HORIZONTAL":
            width = STANDALONE_DP * HORIZONTAL_SHARE
        else:
            width = STANDALONE_DP
        return width / HEIGHTS_DP[self.height]


def parse_frame(raw: Any) -> Frame | None:
    """The `frame` of a crop request (None when absent); 422 naming the bad field."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _bad("/frame", "frame must be an object", "not_object")
    height = raw.get("height")
    if height not in HEIGHTS_DP:
        raise _bad(
            "/frame/height",
            "one of " + ", ".join(HEIGHTS_DP),
            "not_one_of",
            value=str(height),
            allowed=list(HEIGHTS_DP),
        )
    orientation = raw.get("cardOrientation", "VERTICAL")
    if orientation not in L.ORIENTATIONS:
        raise _bad(
            "/frame/cardOrientation",
            "one of " + ", ".join(sorted(L.ORIENTATIONS)),
            "not_one_of",
            value=str(orientation),
            allowed=sorted(L.ORIENTATIONS),
        )
    width = raw.get("cardWidth")
    if width is not None and width not in CARD_WIDTHS_DP:
        raise _bad(
            "/frame/cardWidth",
            "one of " + ", ".join(CARD_WIDTHS_DP),
            "not_one_of",
            value=str(width),
            allowed=list(CARD_WIDTHS_DP),
        )
    if width == "SMALL_WIDTH" and height not in L.SMALL_WIDTH_HEIGHTS:
        raise _bad("/frame/height", f"{height} does not fit SMALL_WIDTH cards", "height_small_width", height=height)
    return Frame(height, orientation, width)


@dataclass(frozen=True)
class Crop:
    box: tuple[int, int, int, int]  # left, top, right, bottom
    focus: tuple[float, float]  # 0..1 of the cropped width and height


def parse_crop(body: Any, image_width: int, image_height: int) -> Crop:
    """A crop request's box (whole pixels of the stored image) and focal point, checked against
    the image and, when `frame` is given, against the frame's aspect ratio."""
    if not isinstance(body, dict):
        raise _bad("", "the body must be a JSON object", "not_object")
    frame = parse_frame(body.get("frame"))
    values = {}
    for key in ("x", "y", "width", "height"):
        v = body.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise _bad(f"/{key}", "a whole number of pixels is required", "not_integer")
        values[key] = v
    x, y, w, h = values["x"], values["y"], values["width"], values["height"]
    if x < 0 or y < 0:
        raise _bad("/x" if x < 0 else "/y", "the box starts outside the image", "crop_outside")
    if w < MIN_CROP_SIDE or h < MIN_CROP_SIDE:
        raise _bad(
            "/width" if w < MIN_CROP_SIDE else "/height",
            f"the box must be at least {MIN_CROP_SIDE} pixels each way",
            "crop_too_small",
            min=MIN_CROP_SIDE,
        )
    if x + w > image_width or y + h > image_height:
        raise _bad(
            "/width" if x + w > image_width else "/height",
            f"the box ends outside the {image_width}×{image_height} image",
            "crop_outside",
            width=image_width,
            height=image_height,
        )
    if frame is not None and abs((w / h) / frame.aspect - 1) > ASPECT_TOLERANCE:
        raise _bad(
            "/height",
            f"the box is {w}×{h}; {frame.height} media needs width/height ≈ {frame.aspect:.3f}",
            "crop_aspect",
            expected=round(frame.aspect, 3),
            actual=round(w / h, 3),
        )
    focus = body.get("focus", {"x": 0.5, "y": 0.5})
    if not isinstance(focus, dict):
        raise _bad("/focus", "focus must be an object", "not_object")
    point = []
    for key in ("x", "y"):
        v = focus.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise _bad(f"/focus/{key}", "a fraction of the box from 0 to 1", "crop_focus_range")
        point.append(float(v))
    return Crop((x, y, x + w, y + h), (point[0], point[1]))


def _bad(path: str, message: str, code: str, **params) -> Problem:
    return Problem(422, "the crop is not valid", [FieldError(path, message, code, params or None)])
