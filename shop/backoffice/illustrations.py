"""Simple, honest pictures of the demo products, drawn by code (no photographs, nothing copied).

Each is a flat drawing on a plain background with "Illustration" in a corner, so nobody mistakes it for
a photo of the goods. ``flask seed`` draws one per demo product and hands it to the same upload pipeline
as an admin's photo (content check, metadata stripped, renditions made by a worker).
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont

W, H = 960, 720
RED, DARK_RED, GREEN, LEAF, BROWN = (196, 38, 38), (130, 20, 24), (60, 130, 60), (88, 160, 70), (120, 80, 45)
KRAFT, CREAM = (205, 170, 120), (246, 238, 222)


def _apple(d: ImageDraw.ImageDraw, x: int, y: int, r: int, color=RED, streak=None) -> None:
    d.ellipse((x - r, y - r, x + r, y + r), fill=color)
    if streak:
        for i in range(-2, 3):
            d.arc(
                (x - r + 8, y - r + 8, x + r - 8, y + r - 8), 250 + i * 8, 290 + i * 8, fill=streak, width=4
            )
    d.ellipse((x - r // 2, y - r // 2, x - r // 5, y - r // 5), fill=(255, 255, 255, 90))
    d.line((x, y - r, x + 6, y - r - r // 3), fill=BROWN, width=max(4, r // 10))
    d.ellipse((x + 8, y - r - r // 3, x + 8 + r // 2, y - r - r // 8), fill=LEAF)


def _box(d: ImageDraw.ImageDraw, top: int, color=KRAFT, label_color=RED) -> None:
    d.rectangle((200, top, 760, 640), fill=color, outline=BROWN, width=6)
    d.rectangle((200, top, 760, top + 40), fill=tuple(max(0, c - 25) for c in color))
    d.rectangle((420, top + 90, 540, top + 150), fill=label_color)


def apples_box(d):
    _box(d, 380)
    for i, x in enumerate((290, 400, 510, 620, 345, 565)):
        _apple(d, x + (20 if i > 3 else 0), 330 if i < 4 else 250, 70)


def gift_box(d):
    d.rectangle((220, 300, 740, 640), fill=(178, 30, 40), outline=DARK_RED, width=6)
    d.rectangle((455, 300, 505, 640), fill=(240, 200, 90))
    d.rectangle((220, 445, 740, 495), fill=(240, 200, 90))
    d.ellipse((395, 230, 480, 300), outline=(240, 200, 90), width=18)
    d.ellipse((480, 230, 565, 300), outline=(240, 200, 90), width=18)
    for x in (300, 660):
        _apple(d, x, 220, 60)


def fuji_crate(d):
    d.rectangle((180, 420, 780, 640), fill=(170, 120, 70), outline=BROWN, width=6)
    for y in (470, 530, 590):
        d.line((180, y, 780, y), fill=BROWN, width=4)
    for i, x in enumerate(range(250, 760, 110)):
        _apple(d, x, 360 - (i % 2) * 50, 62, color=(214, 70, 60), streak=(240, 190, 80))


def _chili(d, x, y, length, angle, color=RED, width=26):
    points = []
    for i in range(21):
        t = i / 20
        bend = math.sin(t * math.pi) * 30
        px = x + math.cos(angle) * length * t - math.sin(angle) * bend
        py = y + math.sin(angle) * length * t + math.cos(angle) * bend
        points.append((px, py, width * (1 - t * 0.85)))
    for (x1, y1, w1), (x2, y2, _w2) in itertools.pairwise(points):
        d.line((x1, y1, x2, y2), fill=color, width=max(3, int(w1)))
    d.line((x, y, x - math.cos(angle) * 30, y - math.sin(angle) * 30), fill=GREEN, width=10)


def line_chili(d):
    for i in range(7):
        _chili(d, 240 + i * 12, 200 + i * 45, 520, math.radians(8 + i * 3), color=RED if i % 2 else DARK_RED)


def _bag(d, color=KRAFT, window=True, fill=RED):
    d.polygon([(300, 200), (660, 200), (700, 640), (260, 640)], fill=color, outline=BROWN)
    d.rectangle((300, 200, 660, 240), fill=tuple(max(0, c - 30) for c in color))
    if window:
        d.ellipse((360, 330, 600, 560), fill=(250, 245, 235))
        for i in range(160):
            px = 380 + (i * 37) % 200
            py = 350 + (i * 53) % 190
            if (px - 480) ** 2 / 120**2 + (py - 445) ** 2 / 115**2 < 1:
                d.ellipse((px - 7, py - 7, px + 7, py + 7), fill=fill)


def chili_flakes(d):
    _bag(d)


def chili_oil(d):
    d.rounded_rectangle(
        (330, 250, 630, 640), radius=40, fill=(235, 235, 230), outline=(150, 150, 150), width=5
    )
    d.rounded_rectangle((345, 330, 615, 625), radius=30, fill=(150, 25, 20))
    for i in range(40):
        px, py = 370 + (i * 41) % 220, 360 + (i * 67) % 240
        d.ellipse((px - 6, py - 6, px + 6, py + 6), fill=(220, 70, 40))
    d.rectangle((350, 190, 610, 250), fill=RED, outline=DARK_RED, width=4)


def pepper(d):
    for cx, cy in ((380, 380), (560, 330), (480, 500)):
        for i in range(22):
            ang = i * 2.4
            rr = 14 + (i % 5) * 16
            x, y = cx + math.cos(ang) * rr, cy + math.sin(ang) * rr
            d.ellipse((x - 17, y - 17, x + 17, y + 17), fill=RED if i % 3 else DARK_RED)
            d.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(60, 20, 20))
    d.ellipse((600, 450, 760, 520), fill=LEAF)
    d.ellipse((200, 250, 340, 310), fill=LEAF)


def pepper_powder(d):
    _bag(d, color=(230, 210, 170), fill=(150, 70, 40))


def _shoe(d, x, y, upper, sole=(215, 190, 140), scale=1.0):
    s = scale
    d.ellipse((x, y + 120 * s, x + 420 * s, y + 190 * s), fill=sole, outline=BROWN, width=4)
    d.chord((x + 20 * s, y, x + 400 * s, y + 260 * s), 180, 360, fill=upper, outline=BROWN, width=4)
    for i in range(0, int(380 * s), 18):
        d.line((x + 20 * s + i, y + 140 * s, x + 40 * s + i, y + 170 * s), fill=BROWN, width=2)


def hemp_shoes(d):
    _shoe(d, 120, 260, upper=(225, 205, 160))
    _shoe(d, 430, 360, upper=(225, 205, 160))


def leather_shoes(d):
    _shoe(d, 120, 260, upper=(120, 70, 40))
    _shoe(d, 430, 360, upper=(120, 70, 40))


def vegetables(d):
    d.rectangle((160, 430, 800, 650), fill=(90, 140, 200), outline=(40, 80, 130), width=6)
    for x in (270, 430, 590):
        d.ellipse((x - 90, 250, x + 90, 440), fill=(120, 180, 90), outline=GREEN, width=5)
        d.line((x, 270, x, 430), fill=(200, 230, 170), width=6)
    for x in (700, 740):
        d.polygon([(x - 20, 300), (x + 20, 300), (x, 440)], fill=(235, 120, 30))
        d.line((x, 300, x, 260), fill=GREEN, width=8)


def basket(d):
    d.ellipse((220, 300, 740, 640), fill=KRAFT, outline=BROWN, width=6)


DRAWINGS: dict[str, tuple[tuple[int, int, int], Callable]] = {
    "huaniu-apples": ((250, 236, 220), apples_box),
    "huaniu-gift-box": ((252, 240, 230), gift_box),
    "fuji-apples": ((246, 240, 222), fuji_crate),
    "line-chili": ((250, 238, 222), line_chili),
    "chili-flakes": ((248, 236, 226), chili_flakes),
    "chili-oil": ((244, 236, 226), chili_oil),
    "dahongpao-pepper": ((246, 238, 228), pepper),
    "pepper-powder": ((244, 240, 230), pepper_powder),
    "hemp-shoes": ((236, 240, 232), hemp_shoes),
    "hemp-shoes-leather": ((238, 236, 232), leather_shoes),
    "highland-vegetables": ((232, 242, 232), vegetables),
}


def draw(slug: str) -> bytes:
    """A PNG illustration of the demo product ``slug`` (a plain basket for any other)."""
    background, painter = DRAWINGS.get(slug, (CREAM, basket))
    im = Image.new("RGB", (W, H), background)
    d = ImageDraw.Draw(im, "RGBA")
    painter(d)
    font = ImageFont.load_default(size=26)
    d.text((W - 24, H - 20), "Illustration", fill=(120, 110, 100), font=font, anchor="rs")
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()
