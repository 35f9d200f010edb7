"""Every kind of image the stack must classify, and every kind of bad input it must refuse."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def valid_images(photo_jpeg: bytes) -> dict[str, bytes]:
    """The same photo in each mode and format the issue lists."""
    photo = Image.open(io.BytesIO(photo_jpeg)).convert("RGB")
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    gray16 = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    return {
        "jpeg": photo_jpeg,
        "png-alpha": encode(rgba, "PNG"),
        "grayscale-jpeg": encode(photo.convert("L"), "JPEG"),
        "cmyk-jpeg": encode(photo.convert("CMYK"), "JPEG"),
        "png-16bit": encode(Image.fromarray(gray16), "PNG"),
        "gif": encode(photo.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "webp": encode(photo, "WEBP"),
    }


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with one row of data: a bomb's first bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    first_row = zlib.compress(b"\x00" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", first_row)
        + _png_chunk(b"IEND", b"")
    )


def decompression_bomb() -> bytes:
    """64 megapixels of black: about 10 KB of PNG, 64 MB once decoded."""
    return encode(Image.new("1", (8000, 8000)), "PNG", optimize=True)


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10" fill="red"/></svg>'
)
TEXT = b"this is not an image, just words\n" * 20


def truncated(jpeg: bytes) -> bytes:
    return jpeg[: len(jpeg) // 2]
