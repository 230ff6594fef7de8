"""Uploaded images: the component that hands the file over untouched, and the checks on reading it."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from ..core.image_io import ImageError, load_image
from .user_errors import refusal

# Far above an ultrasound frame (a BUSI PNG is about 0.3 MB; a 12 MP grayscale PNG some 10 MB), far below what
# would let one upload fill a Space's disk. Gradio refuses larger uploads before storing them (`launch`'s
# `max_file_size`); `read_upload` says the same for files that reach the handler some other way.
MAX_UPLOAD_MB = 25
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20


class UploadedImage(gr.Image):
    """`gr.Image` that passes the uploaded file on untouched.

    The stock component opens uploads with PIL before the handler runs, so a corrupt or huge file fails there
    with a generic error; here `image_io.load_image` reads it (16-bit, EXIF, size guard) and explains failures.
    """

    def get_block_name(self) -> str:
        return "image"

    def preprocess(self, payload):
        if payload is not None and payload.path is not None:
            return payload.path
        return super().preprocess(payload)


def read_upload(path: str) -> np.ndarray:
    """The uploaded image as HxWx3 uint8 RGB, or a `gr.Error` that names the file and the problem."""
    file = Path(path)
    if file.is_file() and file.stat().st_size > MAX_UPLOAD_BYTES:
        size_mb = file.stat().st_size / 2**20
        raise refusal(f"{file.name} is {size_mb:.0f} MB; uploads are limited to {MAX_UPLOAD_MB} MB.", "File too large")
    try:
        return load_image(file, name=file.name)
    except ImageError as error:
        raise refusal(str(error), "Cannot use this image") from error
