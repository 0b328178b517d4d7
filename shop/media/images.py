"""Image content checks and renditions with Pillow.

An upload is judged by its bytes, never by its name or the type the client claims: Pillow must identify
it as JPEG, PNG or WebP, its header must declare at most ``MEDIA_MAX_PIXELS`` pixels (a few kilobytes
of PNG can declare a bitmap of gigabytes: a decompression bomb), and ``verify()`` must accept it. The
full decode happens later, in a worker (``render``), which applies the camera's orientation, drops every
piece of metadata (EXIF with its GPS position, XMP, comments) by copying only the pixels, and writes the
renditions: each width in ``WIDTHS`` as WebP and as JPEG (the fallback), plus a stripped master.

Pillow is imported inside the functions that use it: every process imports this module at start (for
``WIDTHS`` and the checks), few of them ever open an image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shop.media.errors import BrokenImage, EmptyUpload, NotAnImage, TooManyPixels

if TYPE_CHECKING:
    from PIL import Image

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
WIDTHS = (240, 480, 960)
DEFAULT_WIDTH = 480
MASTER_WIDTH = 2048
RENDITION_TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}
# What a broken or hostile file makes Pillow raise besides its own errors.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, IndexError, EOFError, MemoryError)


@dataclass(frozen=True)
class Inspected:
    format: str  # JPEG, PNG or WEBP
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open ``data`` (header only), refusing what is not an allowed image or has too many pixels."""
    # why: Pillow is loaded by the processes that read an image, not by every worker at start
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit and refuses above twice that; both are bombs here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels(
            f"the image declares more than {max_pixels} pixels",
            errors=[{"field": "file", "message": "too many pixels"}],
        ) from None
    except UnidentifiedImageError:
        raise NotAnImage(
            "the file is not a JPEG, PNG or WebP image",
            errors=[{"field": "file", "message": "not a JPEG, PNG or WebP image"}],
        ) from None
    except _DECODE_ERRORS:
        raise BrokenImage(
            "the image cannot be read", errors=[{"field": "file", "message": "cannot be read"}]
        ) from None
    width, height = im.size
    if width < 1 or height < 1 or width * height > max_pixels:
        im.close()
        raise TooManyPixels(
            f"the image is {width}×{height} pixels; at most {max_pixels} pixels are accepted",
            errors=[{"field": "file", "message": "too many pixels"}],
        )
    return im


def inspect_image(data: bytes, *, max_pixels: int) -> Inspected:
    """Check an upload's content (cheap: no full decode) and return what it is."""
    if not data:
        raise EmptyUpload("the file is empty", errors=[{"field": "file", "message": "empty file"}])
    im = _open(data, max_pixels)
    try:
        found = Inspected(im.format, im.width, im.height)
        try:
            im.verify()
        except _DECODE_ERRORS:
            raise BrokenImage(
                "the image is damaged", errors=[{"field": "file", "message": "damaged image"}]
            ) from None
    finally:
        im.close()
    return found


@dataclass(frozen=True)
class Rendered:
    width: int  # of the master
    height: int
    files: dict[str, tuple[bytes, str]]  # name ("480.webp", "master.jpg") -> (bytes, content type)


def _pixels_only(im: Image.Image) -> Image.Image:
    """A new image with the same pixels and nothing else: no EXIF, XMP, ICC, comments or text chunks."""
    # why: Pillow is loaded by the processes that read an image, not by every worker at start
    from PIL import Image

    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    mode = "RGBA" if has_alpha else "RGB"
    converted = im.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes())


def _flatten(im: Image.Image) -> Image.Image:
    """JPEG has no transparency: lay the image on white."""
    if im.mode != "RGBA":
        return im
    # why: Pillow is loaded by the processes that read an image, not by every worker at start
    from PIL import Image

    background = Image.new("RGB", im.size, (255, 255, 255))
    background.paste(im, mask=im.getchannel("A"))
    return background


def _resized(im: Image.Image, width: int) -> Image.Image:
    if im.width <= width:
        return im
    # why: Pillow is loaded by the processes that read an image, not by every worker at start
    from PIL import Image

    height = max(1, round(im.height * width / im.width))
    return im.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(im: Image.Image, kind: str) -> bytes:
    buf = io.BytesIO()
    if kind == "webp":
        im.save(buf, "WEBP", quality=80, method=4)
    else:
        _flatten(im).save(buf, "JPEG", quality=82, optimize=True, progressive=True)
    return buf.getvalue()


def render(data: bytes, *, max_pixels: int) -> Rendered:
    """Decode an upload, strip its metadata and make the renditions (CPU-bound: run it in a worker)."""
    # why: Pillow is loaded by the processes that read an image, not by every worker at start
    from PIL import Image, ImageOps

    im = _open(data, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.seek(0)  # the first frame of an animated PNG or WebP
            if im.format == "JPEG":
                # Decode at a reduced scale when the photo is far larger than the master needs.
                im.draft("RGB", (MASTER_WIDTH, MASTER_WIDTH * im.height // max(im.width, 1)))
            im.load()
            upright = ImageOps.exif_transpose(im)  # a phone photo's orientation, before EXIF goes
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels("the image has too many pixels") from None
    except _DECODE_ERRORS:
        raise BrokenImage("the image cannot be decoded") from None
    finally:
        im.close()
    master = _pixels_only(_resized(upright, MASTER_WIDTH))
    files: dict[str, tuple[bytes, str]] = {"master.jpg": (_encode(master, "jpg"), "image/jpeg")}
    for width in WIDTHS:
        small = _resized(master, width)
        for ext, content_type in RENDITION_TYPES.items():
            files[f"{width}.{ext}"] = (_encode(small, ext), content_type)
    return Rendered(master.width, master.height, files)


def rendition_size(width: int, height: int, target: int) -> tuple[int, int]:
    """The size of the ``target``-wide rendition of a ``width``×``height`` master (never enlarged)."""
    if width <= target:
        return width, height
    return target, max(1, round(height * target / width))
