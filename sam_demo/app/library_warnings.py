"""Library warnings the app's log would repeat for users' requests, with nothing in them for an operator to do."""

from __future__ import annotations

import warnings

from PIL import Image


def ignore_library_warnings() -> None:
    """Keep the served app's log to its own lines (user_errors.py) and to real problems."""
    # gradio 6.17 reads starlette's deprecated status names on every queue join; gradio is pinned (README).
    warnings.filterwarnings("ignore", message=r"'HTTP_\d+_[A-Z_]+' is deprecated", module=r"gradio\.")
    # PIL warns of images over 89 MP; `load_image`, which reads every upload, refuses those with its own message.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
