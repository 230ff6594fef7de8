"""Reading user images into the one form the model sees: an HxWx3 uint8 RGB array.

Ultrasound images arrive as 8-bit grayscale, 16-bit grayscale (`I;16` exports), palette PNGs, RGB or RGBA
screenshots, from files, bytes, PIL images or numpy arrays. Everything goes through `load_image`, so the app,
training and evaluation see identical pixels for the same file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Far above any ultrasound frame (a few megapixels at most), far below what exhausts memory. PIL's own
# decompression-bomb guard only warns up to twice its limit; this one refuses before any pixel is decoded.
MAX_PIXELS = 50_000_000

# SAM scales the longest side to 1024 pixels; a thinner image would be less than one pixel across in the model input.
MAX_ASPECT_RATIO = 1024

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray


class ImageError(ValueError):
    """An image that cannot be used; the message names the image and the problem."""


def load_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """Return `source` as a contiguous HxWx3 uint8 RGB array, EXIF orientation applied.

    Accepts a path, encoded bytes, a PIL image (modes `1`, `L`, `P`, `I;16`, `I`, `F`, `RGB`, `RGBA`, ...) or a
    numpy array (HxW, HxWx1, HxWx3, HxWx4; uint8, uint16, bool, float in [0, 1]). Values beyond the 8-bit
    range (16-bit exports, other floats) are stretched from their minimum to their maximum, the usual display
    window. RGBA is composited onto black, the background of an ultrasound frame.
    """
    label = name or _describe(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, label, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, label, max_pixels)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError(f"{label} is empty (0 bytes).")
        return _open_and_convert(io.BytesIO(source), label, max_pixels)
    path = Path(source)
    if not path.is_file():
        raise ImageError(f"{label}: no such file.")
    if path.stat().st_size == 0:
        raise ImageError(f"{label} is empty (0 bytes).")
    return _open_and_convert(path, label, max_pixels)


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, Image.Image) and getattr(source, "filename", ""):
        return str(source.filename)
    return "the image"


def _open_and_convert(file: Path | io.BytesIO, label: str, max_pixels: int) -> np.ndarray:
    try:
        # PIL also warns of images over 89 MP, which the size check refuses. Hiding that warning here would take
        # `warnings.catch_warnings`, which is not thread-safe (the app loads images in several threads).
        with Image.open(file) as image:
            _check_size(image.width, image.height, label, max_pixels)
            image.load()
            return _from_pil(image, label, max_pixels)
    except UnidentifiedImageError as error:
        raise ImageError(f"{label} is not an image file PIL can read (PNG, JPEG, BMP, TIFF, ...).") from error
    except Image.DecompressionBombError as error:
        raise ImageError(f"{label} is too large to decode safely ({error}); downscale it first.") from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"{label} is damaged or truncated and cannot be decoded ({error}).") from error


def _check_size(width: int, height: int, label: str, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise ImageError(f"{label} is empty ({width}x{height} pixels).")
    if width * height > max_pixels:
        raise ImageError(
            f"{label} is too large: {width}x{height} pixels ({width * height / 1e6:.0f} MP), more than the "
            f"{max_pixels / 1e6:.0f} MP this tool accepts; downscale it first."
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageError(
            f"{label} is {width}x{height} pixels, too thin for SAM: it scales the longest side to 1024 pixels, "
            f"which would leave less than one pixel for the other. Use images at most {MAX_ASPECT_RATIO} times "
            "longer than wide."
        )


def _from_pil(image: Image.Image, label: str, max_pixels: int) -> np.ndarray:
    _check_size(image.width, image.height, label, max_pixels)
    image = ImageOps.exif_transpose(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _from_array(np.asarray(image.convert("RGBA")), label, max_pixels)
    if image.mode in ("RGB", "L", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        return _from_array(np.asarray(image.convert("RGB")), label, max_pixels)
    # High-depth modes (I;16, I;16B, I, F): PIL's convert would clip them to 8 bits, so scale them here.
    return _from_array(np.asarray(image), label, max_pixels)


def _from_array(array: np.ndarray, label: str, max_pixels: int) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageError(f"{label} has shape {array.shape}; expected HxW, HxWx3 or HxWx4.")
    _check_size(array.shape[1], array.shape[0], label, max_pixels)
    if array.ndim == 3 and array.shape[-1] == 4:
        alpha = _to_uint8(array[..., 3], label).astype(np.float32) / 255.0
        array = (_to_uint8(array[..., :3], label) * alpha[..., None] + 0.5).astype(np.uint8)
    array = _to_uint8(array, label)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray, label: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ImageError(f"{label} has unsupported pixel type {array.dtype}.")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageError(f"{label} contains NaN or infinite values.")
    low, high = values.min(), values.max()
    if np.issubdtype(array.dtype, np.floating) and low >= 0.0 and high <= 1.0:
        return (values * 255.0 + 0.5).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) and low >= 0 and high <= 255:
        return values.astype(np.uint8)
    if high == low:
        return np.zeros(array.shape, np.uint8)
    return ((values - low) * (255.0 / (high - low)) + 0.5).astype(np.uint8)
