"""Decode uploaded bytes into the float32 NCHW tensor a classifier expects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps

from services.images import UndecodableImage, open_image


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its input: resize the short side, centre-crop, normalise per channel."""

    resize: int
    crop: int
    resample: Image.Resampling
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode to 8-bit RGB: transparency over white, 16-bit scaled down, CMYK converted."""
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # Pillow's convert("L") clips 16-bit values at 255 instead of scaling them.
        sixteen_bits = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        image = Image.fromarray((sixteen_bits >> 8).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    # Every conversion copies the pixels: skip the one that would change nothing.
    return image if image.mode == "RGB" else image.convert("RGB")


def decode(data: bytes, preprocessing: Preprocessing, max_pixels: int) -> np.ndarray:
    """Bytes to a (3, crop, crop) float32 array; raise UndecodableImage or TooManyPixels."""
    image = open_image(data, max_pixels)
    # JPEG can decode straight at 1/2, 1/4 or 1/8 scale: far less work for big photos.
    image.draft("RGB", (preprocessing.resize, preprocessing.resize))
    try:
        image.seek(0)
        # Decode here, inside the try: truncated or corrupt data surfaces only now.
        image.load()
        return to_tensor(to_rgb(image), preprocessing)
    except Exception as error:
        raise UndecodableImage(f"image data is corrupt or truncated ({error})") from None


def to_tensor(rgb: Image.Image, preprocessing: Preprocessing) -> np.ndarray:
    """Resize the short side, centre-crop, normalise: (3, crop, crop) float32."""
    width, height = rgb.size
    # The centre square that ends up in the crop, in source pixels: cropping and resizing in
    # one pass costs half as much as resizing the whole picture first, for the same result.
    side = min(width, height) * preprocessing.crop / preprocessing.resize
    left, top = (width - side) / 2, (height - side) / 2
    cropped = rgb.resize(
        (preprocessing.crop, preprocessing.crop),
        preprocessing.resample,
        box=(left, top, left + side, top + side),
        reducing_gap=3.0,
    )
    tensor = np.asarray(cropped).transpose(2, 0, 1).astype(np.float32)
    tensor -= np.asarray(preprocessing.mean, dtype=np.float32)[:, None, None]
    tensor *= 1 / np.asarray(preprocessing.std, dtype=np.float32)[:, None, None]
    return tensor
