"""Real image files for the upload tests, made with Pillow (nothing binary is kept in the repository)."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F


def png(width: int = 640, height: int = 480) -> bytes:
    im = Image.new("RGBA", (width, height), (30, 120, 60, 255))
    for x in range(0, width, 8):  # some detail, and a transparent stripe
        im.putpixel((x, height // 2), (255, 255, 255, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def jpeg_with_gps(width: int = 640, height: int = 480) -> bytes:
    """A phone-like photo: camera make, GPS position (Dongli District), turned 90° by its EXIF orientation."""
    im = Image.new("RGB", (width, height), (180, 30, 30))
    exif = Image.Exif()
    exif[MAKE] = "GanguTestCam"
    exif[ORIENTATION] = 6  # stored sideways: show rotated 90° clockwise
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (39.0, 5.0, 24.0)
    gps[3] = "E"
    gps[4] = (117.0, 18.0, 36.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def decompression_bomb() -> bytes:
    """A few kilobytes of PNG that decode to 64 million pixels."""
    buf = io.BytesIO()
    Image.new("1", (8000, 8000), 0).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def text_renamed() -> bytes:
    return b"This is not a photo.\nIt is a text file someone renamed to apples.jpg.\n" * 20


def exif_of(data: bytes):
    with Image.open(io.BytesIO(data)) as im:
        return dict(im.getexif()), dict(im.getexif().get_ifd(GPS_IFD)), im.info.get("exif")


def photo_of(drawing_png: bytes) -> bytes:
    """A drawing stored the way a phone stores a portrait shot: pixels sideways, EXIF orientation 6
    (show turned 90° clockwise), camera make and GPS position."""
    with Image.open(io.BytesIO(drawing_png)) as im:
        sideways = im.convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[MAKE] = "GanguTestCam"
    exif[ORIENTATION] = 6
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (34.0, 44.0, 10.0), "E", (105.0, 19.0, 48.0)
    buf = io.BytesIO()
    sideways.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()
