"""Images the domain blocks attach to their cards: a bill summary and a map pin with the
address. Drawn locally with pillow: no map tiles, nothing fetched."""

from __future__ import annotations

import hashlib
import io
import math
import random

from PIL import Image, ImageDraw

from cards.fonts import drawing_lock, fit, font, text_width, wrap

WIDTH, BILL_HEIGHT, MAP_HEIGHT = 720, 480, 400  # 3:2-ish, fits MEDIUM/TALL media
INK, MUTED, LINE, PAPER = (32, 33, 36), (95, 99, 104), (218, 220, 224), (255, 255, 255)
ACCENT = (26, 115, 232)
PIN = (219, 68, 55)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)  # uploaded once and sent many times: small wins
    return buf.getvalue()


def draw_bill(heading: str, rows: list[tuple[str, str]], total_label: str, total: str, footnote: str) -> bytes:
    """A bill summary: heading, line items with right-aligned amounts, total, due-date note."""
    with drawing_lock:
        img = _bill_image(heading, rows, total_label, total, footnote)
    return _png(img)


def _bill_image(heading, rows, total_label, total, footnote) -> Image.Image:
    img = Image.new("RGB", (WIDTH, BILL_HEIGHT), PAPER)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, WIDTH, 88), fill=ACCENT)
    hf, rf, tf, nf = font(34), font(26), font(34), font(22)
    d.text((32, 44), fit(heading, hf, WIDTH - 64), font=hf, fill=PAPER, anchor="lm")
    y = 112
    shown = rows if len(rows) <= 7 else rows[:6] + [("…", "")]
    for label, amount in shown:
        aw = text_width(amount, rf)
        d.text((32, y), fit(label, rf, WIDTH - 96 - aw), font=rf, fill=INK)
        d.text((WIDTH - 32 - aw, y), amount, font=rf, fill=INK)
        y += 40
        d.line((32, y - 6, WIDTH - 32, y - 6), fill=LINE, width=1)
    y = max(y + 8, BILL_HEIGHT - 128)
    d.line((32, y, WIDTH - 32, y), fill=INK, width=2)
    d.text((32, y + 16), total_label, font=tf, fill=INK)
    d.text((WIDTH - 32 - text_width(total, tf), y + 16), total, font=tf, fill=ACCENT)
    d.text((32, BILL_HEIGHT - 44), fit(footnote, nf, WIDTH - 64), font=nf, fill=MUTED)
    return img


def draw_map_pin(latitude: float, longitude: float, name: str, address: str) -> bytes:
    """A stylised street map (seeded by the coordinates, so stable) with a pin and the address."""
    with drawing_lock:
        img = _map_image(latitude, longitude, name, address)
    return _png(img)


def _map_image(latitude: float, longitude: float, name: str, address: str) -> Image.Image:
    img = Image.new("RGB", (WIDTH, MAP_HEIGHT), (236, 240, 233))
    d = ImageDraw.Draw(img)
    seed = int.from_bytes(hashlib.sha256(f"{latitude:.5f},{longitude:.5f}".encode()).digest()[:8], "big")
    rnd = random.Random(seed)
    map_h = MAP_HEIGHT - 110
    # blocks of green and water, then a grid of streets with one diagonal avenue
    for _ in range(5):
        x, y = rnd.randrange(0, WIDTH), rnd.randrange(0, map_h)
        colour = (205, 230, 200) if rnd.random() < 0.7 else (190, 218, 240)
        d.rounded_rectangle((x, y, x + rnd.randrange(60, 160), y + rnd.randrange(40, 100)), 10, fill=colour)
    for x in range(rnd.randrange(20, 90), WIDTH, rnd.randrange(90, 140)):
        d.line((x, 0, x + rnd.randrange(-20, 20), map_h), fill=PAPER, width=rnd.choice((6, 10)))
    for y in range(rnd.randrange(20, 70), map_h, rnd.randrange(70, 110)):
        d.line((0, y, WIDTH, y + rnd.randrange(-15, 15)), fill=PAPER, width=rnd.choice((6, 10)))
    angle = rnd.uniform(0.2, 0.6)
    d.line((0, map_h * 0.9, WIDTH, map_h * 0.9 - WIDTH * math.tan(angle)), fill=(250, 222, 160), width=14)
    # the pin: a drop with a white dot, its tip at the centre of the map
    cx, tip = WIDTH // 2, map_h // 2 + 40
    r = 30
    d.ellipse((cx - 18, tip - 6, cx + 18, tip + 6), fill=(150, 150, 150))  # the pin's shadow
    d.polygon([(cx - r * 0.86, tip - 62 + r * 0.5), (cx, tip), (cx + r * 0.86, tip - 62 + r * 0.5)], fill=PIN)
    d.ellipse((cx - r, tip - 62 - r, cx + r, tip - 62 + r), fill=PIN)
    d.ellipse((cx - 11, tip - 73, cx + 11, tip - 51), fill=PAPER)
    # the address panel
    d.rectangle((0, map_h, WIDTH, MAP_HEIGHT), fill=PAPER)
    d.line((0, map_h, WIDTH, map_h), fill=LINE, width=2)
    nf, af = font(30), font(22)
    d.text((28, map_h + 16), fit(name, nf, WIDTH - 56), font=nf, fill=INK)
    for i, line in enumerate(wrap(address, af, WIDTH - 56, max_lines=2)):
        d.text((28, map_h + 56 + i * 26), line, font=af, fill=MUTED)
    return img
