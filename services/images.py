"""What the stack accepts as an image: the checks both the API and the workers apply.

Pillow only (no numpy), so the API image stays small.
"""

from __future__ import annotations

import io

from PIL import Image

# Raster formats a phone, a browser or a scanner produces; anything else is refused, so Pillow
# never hands the bytes to a plug-in nobody meant to expose (EPS, for one, runs Ghostscript).
# The JPEG opener also reads a phone's multi-picture (MPO) files.
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")


class UndecodableImage(ValueError):
    """The bytes are not an image this service reads; the message says why."""


class TooManyPixels(ValueError):
    """A decompression bomb, or simply a bigger picture than the service accepts."""


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open lazily (header only); refuse what is not an allowed image or holds too many pixels."""
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as error:  # Pillow's own, far higher, limit
        raise TooManyPixels(f"{error} (limit here: {max_pixels} pixels)") from None
    except Exception:  # Pillow raises many types for garbage; all mean "not an image".
        raise UndecodableImage(
            f"not a decodable image in a supported format ({', '.join(ALLOWED_FORMATS)})"
        ) from None
    width, height = image.size
    if width < 1 or height < 1:
        raise UndecodableImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise TooManyPixels(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}"
        )
    return image


def check_image(data: bytes, max_pixels: int) -> None:
    """The API's cheap check before queueing: header, size, and the container's own checksums.

    Full decoding happens in the worker, which answers 400 for data corrupt past the header.
    """
    image = open_image(data, max_pixels)
    try:
        image.verify()
    except Exception as error:
        raise UndecodableImage(f"image data is corrupt ({type(error).__name__})") from None
