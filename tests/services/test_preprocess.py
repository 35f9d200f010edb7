from __future__ import annotations

import io

import numpy as np
import pytest
from image_kinds import (
    SVG,
    TEXT,
    decompression_bomb,
    encode,
    png_header_only,
    truncated,
    valid_images,
)
from PIL import Image

from services.images import TooManyPixels, UndecodableImage, check_image
from services.model.classifiers import get_classifier
from services.model.preprocess import decode, to_rgb

PREPROCESSING = get_classifier("efficientnet-lite0", None).preprocessing
LIMIT = 50_000_000


@pytest.mark.parametrize("kind", list(valid_images(encode(Image.new("RGB", (8, 8)), "JPEG"))))
def test_every_kind_decodes_to_one_normalised_tensor(kind: str, sample_images) -> None:
    data = valid_images(sample_images["cat"])[kind]
    check_image(data, LIMIT)
    tensor = decode(data, PREPROCESSING, LIMIT)
    assert tensor.shape == (3, 224, 224)
    assert tensor.dtype == np.float32
    # (x - 127) / 128 maps 0..255 into [-0.99, 1.0]
    assert tensor.min() >= -127 / 128 and tensor.max() <= 1.0
    assert tensor.std() > 0.1, "the picture must survive, not turn into a flat colour"


def test_sixteen_bit_values_are_scaled_not_clipped() -> None:
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    rgb = to_rgb(Image.fromarray(ramp))
    assert np.asarray(rgb)[..., 0].ravel().tolist() == list(range(256))


def test_transparency_becomes_white() -> None:
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(to_rgb(clear)).min() == 255


def test_exif_orientation_is_applied() -> None:
    wide = Image.new("RGB", (40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the picture is really tall
    rotated = Image.open(io.BytesIO(encode(wide, "JPEG", exif=exif.tobytes())))
    assert to_rgb(rotated).size == (20, 40)


def test_short_side_is_resized_then_centre_cropped() -> None:
    # A wide image: left third red, middle green, right third blue; the crop keeps the middle.
    stripes = np.zeros((300, 900, 3), dtype=np.uint8)
    stripes[:, :300, 0] = 255
    stripes[:, 300:600, 1] = 255
    stripes[:, 600:, 2] = 255
    tensor = decode(encode(Image.fromarray(stripes), "PNG"), PREPROCESSING, LIMIT)
    green = tensor[1] * 128 + 127
    assert green.mean() == pytest.approx(255, abs=1)


@pytest.mark.parametrize(
    "data",
    [b"", TEXT, SVG, b"\x89PNG\r\n\x1a\n garbage"],
    ids=["empty", "text", "svg", "png-signature-only"],
)
def test_what_is_not_an_image_is_refused_by_the_cheap_check(data: bytes) -> None:
    with pytest.raises(UndecodableImage):
        check_image(data, LIMIT)


@pytest.mark.parametrize("name", ["cat", "coffee", "rocket", "astronaut", "hubble"])
def test_truncated_jpeg_is_refused_when_decoded(sample_images, name: str) -> None:
    data = truncated(sample_images[name])
    with pytest.raises(UndecodableImage, match="truncated"):
        decode(data, PREPROCESSING, LIMIT)


def test_pixel_count_is_checked_from_the_header_before_decoding() -> None:
    with pytest.raises(TooManyPixels, match="9000x6000 = 54000000 pixels"):
        check_image(png_header_only(9_000, 6_000), LIMIT)
    with pytest.raises(TooManyPixels, match="10000000000 pixels"):
        check_image(png_header_only(100_000, 100_000), LIMIT)
    bomb = decompression_bomb()
    assert len(bomb) < 100_000
    with pytest.raises(TooManyPixels):
        check_image(bomb, LIMIT)
    with pytest.raises(TooManyPixels):
        decode(bomb, PREPROCESSING, LIMIT)
