"""The page's fast path for a click: a plain HTTP route beside Gradio's queue, answering with the new layer alone.

Through Gradio's queue a click costs about 66 ms on 2 cores before the app does anything (the join request, the
event stream, the page's update, then fetching and decoding a whole new canvas image; `python -m sam_demo.bench
browser` measures it as the Gradio floor). Here the page posts the click, `SegmentationApp.prompt` runs on the
tab's own session (read from Gradio's per-tab state and written back to it, so every later event sees it), and the
answer is the PNG of what is drawn over the image (`overlay_layer`): a few KB.

Whatever this route does not handle gets an error status, and the page sends the same click through Gradio's own
event instead (`ui.CANVAS_JS`), which handles it and shows any message: no image yet or an expired session, an
image whose embedding is not cached (encoding belongs in the encoder's queue), a click to warn about, a second
click of the same tab while one runs, or a malformed request. One refusal is not resent: a click whose session an
event of the page replaced while it was decoded (`SESSION_CHANGED`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import gradio as gr
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from ..core.image_io import ImageError
from ..core.prompts import PromptError
from .session import CANDIDATE_MODES, PROMPT_MODES

if TYPE_CHECKING:
    from .ui import SegmentationApp

CLICK_PATH = "/sam-demo/click"
MAX_BODY_BYTES = 4096  # a click is about 150 bytes of JSON
# The refusal of a click decoded on a session that a Gradio event replaced meanwhile: writing it would undo that
# event. The page does not resend such a click; it asks for the canvas as the session now is (`ui.CANVAS_JS`).
SESSION_CHANGED = "session changed"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Click:
    """A click as the page posts it: display-copy pixel (x, y) and the page's prompt settings."""

    session_hash: str
    x: int
    y: int
    mode: str
    candidate_mode: str
    mask_feedback: bool

    @classmethod
    def parse(cls, body: bytes) -> Click:
        """Raises ValueError for anything but the page's own request."""
        fields = json.loads(body)
        click = cls(**{name: fields[name] for name in cls.__dataclass_fields__})
        if not (
            isinstance(click.session_hash, str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in (click.x, click.y))
            and click.mode in PROMPT_MODES
            and click.candidate_mode in CANDIDATE_MODES
            and isinstance(click.mask_feedback, bool)
        ):
            raise ValueError("unexpected click fields")
        return click


def click_route(app: SegmentationApp, state: gr.State, concurrency: int) -> APIRoute:
    """The route for `app`, whose tabs keep their `Session` in `state`; at most `concurrency` clicks decode at
    once, and one per tab."""
    running: set[str] = set()  # tabs with a click in progress
    running_lock = threading.Lock()
    limiter: anyio.CapacityLimiter | None = None  # made in the server's event loop, on the first click

    def answer(tabs, click: Click) -> Response:
        with running_lock:
            if click.session_hash in running or click.session_hash not in tabs:
                return _refused(409, "busy or unknown session")
            running.add(click.session_hash)
        try:
            tab = tabs[click.session_hash]
            session = before = tab[state._id]
            if session.image is None or session.image_key not in app.predictor.cache:
                return _refused(409, "no encoded image")
            height, width = session.shown_image.shape[:2]
            if not (0 <= click.x < width and 0 <= click.y < height):
                return _refused(422, "outside the image")
            x, y = session.to_image_pixel(float(click.x), float(click.y))
            started = time.perf_counter()
            try:
                session = app.prompt(session, x, y, click.mode, click.candidate_mode, click.mask_feedback)
            except (PromptError, ImageError):
                return _refused(422, "a message for the user")  # Gradio's event says it on the page
            with running_lock:
                # An event of the page (Undo, a new image...) came meanwhile. (Gradio writes the state without
                # this lock: a write between these two lines, microseconds apart, would still be lost.)
                if tab[state._id] is not before:
                    return _refused(409, SESSION_CHANGED)
                tab[state._id] = session
            prompted = time.perf_counter()
            png, style = app.layer_png(session)
            # Where the time went, for the browser's resource timing (`bench browser` prints it).
            timing = (
                f"prompt;dur={(prompted - started) * 1000:.1f}, layer;dur={(time.perf_counter() - prompted) * 1000:.1f}"
            )
            headers = {"X-Layer-Style": style, "Server-Timing": timing, "Cache-Control": "no-store"}
            return Response(png, media_type="image/png", headers=headers)
        finally:
            with running_lock:
                running.discard(click.session_hash)

    async def endpoint(request: Request) -> Response:
        nonlocal limiter
        body = await _body(request)
        if body is None:
            return _refused(413, "request too large")
        try:
            click = Click.parse(body)
        except (ValueError, KeyError, TypeError):
            return _refused(400, "malformed click")
        if limiter is None:
            limiter = anyio.CapacityLimiter(concurrency)
        return await anyio.to_thread.run_sync(answer, request.app.state_holder, click, limiter=limiter)

    return APIRoute(CLICK_PATH, endpoint, methods=["POST"], include_in_schema=False)


async def _body(request: Request) -> bytes | None:
    """The request's body, or None past `MAX_BODY_BYTES` (read no further than that)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return body


def _refused(status: int, reason: str) -> Response:
    logger.debug("click route: %s (%d); the page falls back to Gradio's event", reason, status)
    return JSONResponse({"detail": reason}, status_code=status)
