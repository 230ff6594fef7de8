"""Loading user images: every mode and source gives the same HxWx3 uint8 RGB; bad files give clear errors."""

import io

import numpy as np
import pytest
from helpers import png_declaring_size
from PIL import Image

from sam_demo.core.image_io import ImageError, load_image
from sam_demo.core.masks import dice, iou, load_mask, mask_box


def png_bytes(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def test_sources_agree(tmp_path):
    gray = np.arange(40 * 60, dtype=np.uint32).reshape(40, 60) % 256
    gray = gray.astype(np.uint8)
    path = tmp_path / "scan.png"
    Image.fromarray(gray).save(path)
    expected = np.repeat(gray[..., None], 3, axis=2)
    for source in (gray, Image.fromarray(gray), path, str(path), path.read_bytes()):
        loaded = load_image(source)
        assert loaded.dtype == np.uint8 and loaded.shape == (40, 60, 3)
        np.testing.assert_array_equal(loaded, expected)


def test_sixteen_bit_is_stretched_not_clipped():
    values = np.array([[0, 1000], [3000, 4095]], dtype=np.uint16)  # a 12-bit scanner export
    loaded = load_image(Image.fromarray(values))
    assert loaded[..., 0].tolist() == [[0, 62], [187, 255]]


def test_palette_rgba_and_bilevel_modes():
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[:, 6:] = (200, 100, 50)
    assert np.array_equal(load_image(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)), rgb)
    rgba = np.dstack([rgb, np.full((10, 12), 255, np.uint8)])
    rgba[0, 6, 3] = 0  # a transparent pixel becomes background (black)
    loaded = load_image(Image.fromarray(rgba, "RGBA"))
    assert loaded[0, 6].tolist() == [0, 0, 0] and loaded[1, 6].tolist() == [200, 100, 50]
    bilevel = Image.fromarray(rgb[..., 0] > 0).convert("1")
    assert set(np.unique(load_image(bilevel))) == {0, 255}


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (10, 10, 10))
    image.paste((250, 250, 250), (0, 0, 10, 20))  # bright left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    loaded = load_image(buffer.getvalue())
    assert loaded.shape == (40, 20, 3)
    assert loaded[:10].mean() > 200 and loaded[-10:].mean() < 60  # left edge is now the top


@pytest.mark.parametrize(
    "source, message",
    [
        (b"", "empty"),
        (b"this is a text file, not a picture", "not an image"),
        (png_bytes(Image.new("L", (50, 50)))[:60], "damaged or truncated"),
        (png_declaring_size(20000, 20000), "too large"),
        (png_declaring_size(9000, 9000), "too large: 9000x9000"),
        (np.broadcast_to(np.zeros(1, np.uint8), (20000, 20000)), "too large: 20000x20000"),
        (np.zeros((0, 10), np.uint8), "empty"),
        (np.zeros((1, 1025), np.uint8), "1025x1 pixels, too thin"),
        (np.zeros((3000, 2), np.uint8), "2x3000 pixels, too thin"),
        (png_bytes(Image.new("L", (5000, 3))), "5000x3 pixels, too thin"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.array([["a"]]), "unsupported pixel type"),
    ],
    ids=[
        "empty",
        "text",
        "truncated",
        "bomb-file",
        "big-file",
        "bomb-array",
        "zero-size",
        "1x1025",
        "3000x2",
        "thin-file",
        "two-channel",
        "nan",
        "strings",
    ],
)
def test_bad_images_are_explained(source, message):
    with pytest.raises(ImageError, match=message):
        load_image(source)


@pytest.mark.parametrize("shape", [(1, 1), (1, 1024), (1024, 1), (3, 3072), (3072, 3)])
def test_thin_images_up_to_the_aspect_limit_are_read(shape):
    assert load_image(np.zeros(shape, np.uint8)).shape == (*shape, 3)


def test_error_names_the_file(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 not an image")
    with pytest.raises(ImageError, match="report.pdf"):
        load_image(path)
    with pytest.raises(ImageError, match="missing.png: no such file"):
        load_image(tmp_path / "missing.png")


@pytest.mark.parametrize("mode", ["1", "L01", "L", "RGB", "RGBA"])
def test_masks_read_alike_in_every_mode(mode):
    mask = np.zeros((30, 40), bool)
    mask[5:20, 10:30] = True
    if mode == "1":
        image = Image.fromarray(mask).convert("1")
    elif mode == "L01":
        image = Image.fromarray(mask.astype(np.uint8))
    else:
        image = Image.fromarray(mask.astype(np.uint8) * 255).convert(mode)
    loaded = load_mask(png_bytes(image))
    assert np.array_equal(loaded, mask)
    assert mask_box(loaded) == (10, 5, 30, 20)


def test_overlap_scores():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[:, :4] = True
    b[:, 2:6] = True
    assert dice(a, b) == pytest.approx(0.5)
    assert iou(a, b) == pytest.approx(20 / 60)
    assert dice(a, a) == iou(a, a) == 1.0
    assert mask_box(np.zeros((5, 5), bool)) is None
