"""The Gradio app: upload an ultrasound image, click or box each tumour, see and download the masks.

`build_demo(predictor, model_name)` builds the Blocks; `app.py` only parses flags, loads the model and launches.
Handlers are small functions over a `Session` (see `session.py`): every browser tab has its own session in a
`gr.State` (forgotten after `SESSION_IDLE_S` without use), while all tabs share the predictor, and with it the
model, the compiled decoder and the bounded embedding cache. Programs use the stateless `/segment` endpoint
(`api.py`).

A click does only what the page shows: masks at the display copy's size (see `session.py`), the summary counted
on the copy. The canvas is two images: the one shown (a JPEG, with the finished lesions), which changes only with
the image or the lesions, and over it a layer of the current lesion's mask and prompts (a small PNG). A click on
the page goes by the click route (`click_route.py`), outside Gradio's queue, and gets the new layer alone; what the
route refuses goes through Gradio's select event, as do all other events. Every event answers in two steps:
`render` (the session and the canvas, which the user waits for), then `details` (candidates, summary, download
buttons), which the page asks for once the new canvas is painted (`CANVAS_SHOWN_JS`). The exact full-size download
files are written only when the user asks for them (`prepare_downloads`).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr
import numpy as np

from ..core.embedding_cache import image_key
from ..core.image_io import ImageError
from ..core.masks import dice, iou, load_mask, readable_iou
from ..core.predictor import EncodedImage, Prediction, SamPredictor
from ..core.prompts import PromptError
from ..drawing.viz import Layer, mask_to_png_array, overlay, overlay_layer
from . import session as sessions
from .api import add_segment_endpoint
from .click_route import CLICK_PATH, SESSION_CHANGED, click_route
from .downloads import Downloads, png_bytes
from .queue_limits import ENCODER_QUEUE, limit_waiting_events_per_session
from .session import Session
from .uploads import MAX_UPLOAD_BYTES, UploadedImage, read_upload
from .user_errors import refusal, warn

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"  # the repository's examples/
THUMBNAIL_SIDE = 256
MAX_THUMBNAILS = 64  # images whose thumbnail is kept (as many as sessions: 64 x 256 x 256 x 3 bytes at most)
DISCLAIMER = "**Research demo, not for clinical use.** It does not diagnose anything and must not inform care."
NO_IMAGE = "Upload an image or pick an example, then click on the tumour."
ENCODING = "Computing the image embedding (once per image)…"
# One encoder at a time: it already uses every CPU core, and each run holds the large model's activations
# (several GB for ViT-L); a second concurrent run would only halve both runs' speed and double the memory.
ENCODER_CONCURRENCY = 1
# Decoder calls take tens of milliseconds and little memory; a few may run side by side.
PROMPT_CONCURRENCY = 4
# The full-size downloads, when asked for: one at a time, since on a 12 MP image each holds a few hundred MB for
# about a second.
DOWNLOADS_CONCURRENCY = 1
# What every event that changes the masks answers with (`SegmentationApp.render`), then what the page asks for once
# it has painted the new canvas (`SegmentationApp.details`).
OUTPUTS = ("state", "canvas")
DETAILS = ("candidates", "summary", "mask download", "union download", "overlay download")
QUEUE_SIZE = 64
# Events one session may have waiting: a tab fires each of its events at most once at a time; a program that
# submits more waits for its earlier calls (see queue_limits.py).
MAX_WAITING_PER_SESSION = 4
# A session untouched this long is forgotten (Gradio's own rule keeps a closed tab's session for an hour), and
# at most MAX_SESSIONS are kept, the least recently used dropped first: with `session.memory_budget` each, this
# bounds the memory all sessions take together (README, "Memory").
SESSION_IDLE_S = 30 * 60
MAX_SESSIONS = 64
# Gradio's cache (uploads, every image sent to a page, download copies): swept every 5 minutes of files older than
# a session may stay idle, so a download button still works as long as its session lives.
CACHE_SWEEP = (5 * 60, SESSION_IDLE_S)
# Layout rules Gradio's parameters cannot express. Part of the page itself (see `build_demo`), so that every way of
# serving it (app.py, `gradio app.py`, a Space, the tests) looks the same.
PAGE_CSS = """
/* The image to click: a box fitted to the image (no bands on a phone), never taller than most of the screen; the
   layer of masks and prompts (`overlay_layer`) placed over it in percentages of it, so it follows any size. */
#canvas .html-container { padding: 0; }
#canvas .sam-canvas { position: relative; display: inline-block; max-width: 100%; vertical-align: top; }
#canvas img.base { display: block; width: auto; height: auto; max-width: 100%; max-height: min(72vh, 760px); }
#canvas img.layer { position: absolute; pointer-events: none; }
#canvas .sam-canvas-frame { position: relative; text-align: center; line-height: 0; overflow: hidden;
  border: 1px solid var(--block-border-color); border-radius: var(--block-radius); }
#canvas .sam-canvas-label { position: absolute; top: 0; left: 0; z-index: 1; padding: 2px 8px; line-height: 1.5;
  font-size: var(--block-label-text-size); color: var(--block-label-text-color);
  background: var(--block-label-background-fill); border-right: 1px solid var(--block-border-color);
  border-bottom: 1px solid var(--block-border-color); border-bottom-right-radius: var(--block-radius); }
#canvas .sam-canvas-empty { padding: 4rem 1rem; line-height: 1.5; color: var(--body-text-color-subdued); }
/* The examples in one row, so that on a phone the canvas follows the upload closely. */
#examples .gallery { flex-wrap: nowrap; }
#examples .gallery-item { flex: 1 1 0; min-width: 0; }
#examples .gallery-item .container, #examples .gallery-item img { width: 100%; max-height: 72px; object-fit: contain; }
.hint p { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
@media (max-width: 640px) { #header h1 { font-size: 1.4rem; } }
"""
# The canvas (`gr.HTML`): the image shown (with the finished lesions) and over it the layer of the current lesion's
# mask and prompts, from `SegmentationApp.canvas_value`. `version` changes with every event, so that an event's
# canvas replaces a layer the click route put there (`CANVAS_JS`) even when the two events' values are the same.
CANVAS_HTML = """<div class="sam-canvas-frame" data-version="${value ? value.version : ''}">
<span class="sam-canvas-label">Click on the tumour</span>${value
  ? `<div class="sam-canvas"><img class="base" src="${value.base}" width="${value.width}" height="${value.height}"
      alt="The image to click on">${value.layer
      ? `<img class="layer" src="${value.layer}" style="${value.layer_style}" alt="">` : ''}</div>`
  : '<div class="sam-canvas-empty">Upload an image or pick an example.</div>'}</div>"""
# Runs in the canvas: a click on the image posts its pixel to the click route (`click_route.py`) and puts the layer
# it answers with over the image. Clicks go one at a time, in order. Anything the route refuses (or a page served
# without it) goes through Gradio's own select event instead, which handles every case and shows any message.
# Where a Gradio event (Undo, a new image...) crossed the click, the page shows neither guess but the session as the
# server now has it (the canvas's submit event): the event redrew the canvas while the click was on its way, or
# the route refused to overwrite the event's session.
CANVAS_JS = f"""
const route = (window.gradio_config?.root ?? '').replace(/\\/$/, '') + '{CLICK_PATH}';
const version = () => element.querySelector('.sam-canvas-frame')?.dataset.version;
let clicks = Promise.resolve();
element.addEventListener('click', (event) => {{
  const image = event.target.closest('img.base');
  if (!image || !image.naturalWidth) return;
  const box = image.getBoundingClientRect();
  const pixel = (offset, size, natural) => Math.min(natural - 1, Math.max(0, Math.floor(offset * natural / size)));
  const x = pixel(event.clientX - box.left, box.width, image.naturalWidth);
  const y = pixel(event.clientY - box.top, box.height, image.naturalHeight);
  clicks = clicks.then(() => segment(x, y)).catch(() => trigger('select', {{ index: [x, y], value: null }}));
}});
async function segment(x, y) {{
  const mode = document.querySelector('#mode input:checked')?.value;
  const candidateMode = document.querySelector('#candidate-mode input:checked')?.value;
  const feedback = document.querySelector('#mask-feedback input[type=checkbox]');
  const session = window.__gradio_session_hash__;
  if (mode && candidateMode && feedback && session) {{
    const settings = {{ mode, candidate_mode: candidateMode, mask_feedback: feedback.checked }};
    const body = {{ session_hash: session, x, y, ...settings }};
    const sent = version();
    const response = await fetch(route, {{
      method: 'POST', headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify(body),
    }}).catch(() => null);
    if (response?.ok && version() === sent) return show(await response.blob(), response.headers.get('X-Layer-Style'));
    const refusal = response?.status === 409 ? (await response.json().catch(() => ({{}}))).detail : null;
    if (response?.ok || refusal === '{SESSION_CHANGED}') return trigger('submit');
  }}
  trigger('select', {{ index: [x, y], value: null }});
}}
async function show(png, style) {{
  const canvas = element.querySelector('.sam-canvas');
  let layer = canvas.querySelector('img.layer');
  if (!layer) {{
    layer = Object.assign(document.createElement('img'), {{ className: 'layer', alt: '' }});
    canvas.append(layer);
  }}
  const old = layer.src;
  layer.setAttribute('style', style);
  layer.src = URL.createObjectURL(png);
  await layer.decode().catch(() => {{}});
  if (old.startsWith('blob:')) URL.revokeObjectURL(old);
}}
"""
# Runs in the page (`gr.HTML(js_on_load=...)`): when the canvas shows new images (or none), wait until they are
# decoded and painted, then fire this element's click event, which answers with `SegmentationApp.details`. A canvas
# replaced meanwhile asks only once, for the newest. A hidden tab paints nothing, so it asks at once.
CANVAS_SHOWN_JS = """
const images = () => [...document.querySelectorAll('#canvas img')];
const sources = () => images().map((image) => image.src).join(' ');
let shown = sources();
const ask = (key) => {
  if (key !== shown) return;
  if (document.hidden) trigger('click');
  else requestAnimationFrame(() => setTimeout(() => { if (key === shown) trigger('click'); }, 0));
};
new MutationObserver(() => {
  const key = sources();
  if (key === shown) return;
  shown = key;
  Promise.allSettled(images().map((image) => image.decode())).then(() => ask(key));
}).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
"""


def is_base_checkpoint(model_name: str) -> bool:
    return model_name.startswith("facebook/sam-vit-")


def model_banner(model_name: str) -> str:
    banner = f"Model: `{model_name}`"
    if is_base_checkpoint(model_name):
        banner += (
            " — Meta's original SAM weights, **not fine-tuned on breast ultrasound**; masks may follow any"
            " structure, not the tumour."
        )
    return banner


def example_images() -> list[str]:
    return sorted(str(path) for path in EXAMPLES_DIR.glob("*.png") if not path.stem.endswith("_mask"))


class SegmentationApp:
    """The handlers behind the page; each takes and returns a `Session`.

    Every event answers with `render`: what it changes on screen, all at the size shown. The full-size download
    files are written only on request (`prepare_downloads`).
    """

    def __init__(self, predictor: SamPredictor, downloads: Downloads | None = None):
        self.predictor = predictor
        self.downloads = downloads or Downloads()
        self._thumbnails: OrderedDict[str, np.ndarray] = OrderedDict()  # image key -> display thumbnail
        self._thumbnails_lock = threading.Lock()
        self._versions = itertools.count()  # of the canvas's value (`CANVAS_HTML`)

    # --- events -------------------------------------------------------------------------------------------
    def upload(self, path: str | None, session: Session, progress=gr.Progress()):
        if path is None:
            return self.render(Session())
        if path == session.source and session.image is not None:
            # Gradio reports a tab's new image twice; the second must not reset the clicks made since.
            return (gr.skip(),) * len(OUTPUTS)
        image = read_upload(path)
        # The encoder may be finishing another image (an example encoded in the background): say so.
        waiting = self.predictor.encoder_busy
        progress(0.0, desc="The encoder is finishing another image; yours is next…" if waiting else ENCODING)
        encoded = self.predictor.encode(image)
        return self.render(sessions.new_image(encoded.image, Path(path).stem, encoded.key, source=path))

    def click(
        self,
        session: Session,
        mode: str,
        candidate_mode: str,
        mask_feedback: bool,
        event: gr.SelectData,
    ):
        x, y = event.index  # in the display copy's pixels
        if session.image is None:
            warn(  # a new tab, or one whose session expired
                "Upload an image (or pick an example) before clicking. An image is forgotten after "
                f"{SESSION_IDLE_S // 60} minutes without a click."
            )
            return self.render(session)
        if session.image_key not in self.predictor.cache:
            # Many images came since this one (the click route leaves such clicks to this event): say why it waits.
            gr.Info("Your image had left the memory of encoded images: encoding it again, then your click.")
        try:
            x, y = session.to_image_pixel(float(x), float(y))
            session = self.prompt(session, x, y, mode, candidate_mode, mask_feedback)
        except (PromptError, ImageError) as error:
            warn(str(error))
        return self.render(session)

    def prompt(
        self, session: Session, x: float, y: float, mode: str, candidate_mode: str, mask_feedback: bool
    ) -> Session:
        """The session after a click at image pixel (x, y), with its new masks; raises PromptError."""
        session = sessions.click(session, x, y, mode)
        if session.has_prompt and session.corner is None:
            session = self.predict(session, candidate_mode, session.refinement_logits() if mask_feedback else None)
        return session

    def change_candidates(self, session: Session, candidate_mode: str, mask_feedback: bool):
        if session.prediction is None or not session.has_prompt:
            return self.render(session)
        # Recompute the current prompts with the mask prompt they were first given.
        session = self.predict(session, candidate_mode, session.mask_prompt if mask_feedback else None)
        return self.render(session)

    def choose_candidate(self, session: Session, event: gr.SelectData):
        if session.prediction is not None and 0 <= event.index < len(session.prediction.masks):
            session = sessions.show_candidate(session, event.index)
        return self.render(session)

    def redraw(self, session: Session) -> dict | None:
        return self.canvas_value(session)

    def undo(self, session: Session):
        return self.render(sessions.undo(session, self.decode))

    def next_lesion(self, session: Session):
        try:
            session = sessions.next_lesion(session, self.full_mask(session))
        except PromptError as error:
            warn(str(error))
        return self.render(session)

    def clear_lesion(self, session: Session):
        return self.render(sessions.clear_current(session))

    def clear(self, session: Session):
        return self.render(sessions.clear(session))

    def ground_truth(self, session: Session, path: str | None):
        if path is None:
            return self.render(sessions.with_ground_truth(session, None))
        if session.image is None:
            warn("Upload the image first, then its ground-truth mask.")
            return self.render(session)
        try:
            mask = load_mask(path, name=Path(path).name)
        except ImageError as error:
            raise refusal(str(error), "Cannot use this mask") from error
        if mask.shape != session.image.shape[:2]:
            warn(
                f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                f"{session.image.shape[1]}x{session.image.shape[0]}: not used."
            )
            return self.render(session)
        return self.render(sessions.with_ground_truth(session, mask))

    # --- model ---------------------------------------------------------------------------------------------
    def predict(self, session: Session, candidate_mode: str, mask_prompt: np.ndarray | None) -> Session:
        prediction = self.decode(session, mask_prompt, session.multimask(candidate_mode))
        return sessions.with_prediction(session, prediction, mask_prompt)

    def decode(self, session: Session, mask_prompt: np.ndarray | None, multimask: bool) -> Prediction:
        """Masks for the session's prompts at the display copy's size (milliseconds: the embedding is cached)."""
        return self.predictor.decode(
            self.encoded(session),
            points=list(session.points) or None,
            labels=list(session.labels) or None,
            box=session.box,
            mask_input=mask_prompt,
            multimask_output=multimask,
            mask_size=None if session.displays_full_size else session.display.shape[:2],
        )

    def encoded(self, session: Session) -> EncodedImage:
        # A cache hit unless many other images came since; the key saves hashing the image on every click.
        return self.predictor.encode(session.image, key=session.image_key)

    def full_mask(self, session: Session) -> np.ndarray | None:
        """The shown mask at the image's own size: the decoder's masks are the same logits upsampled (exactly
        what `SamPredictor.decode` returns at full size), for the one candidate shown only."""
        if session.shown_mask is None or session.displays_full_size:
            return session.shown_mask
        logits = session.prediction.low_res_logits[session.shown : session.shown + 1]
        return self.predictor.full_size_masks(self.encoded(session), logits)[0]

    # --- output --------------------------------------------------------------------------------------------
    def render(self, session: Session):
        """Values for `OUTPUTS`: the session and the canvas, at the size shown (for a large image, its display
        copy). The user waits for these; the rest comes from `details`."""
        return session, self.canvas_value(session)

    def canvas_value(self, session: Session) -> dict | None:
        """The canvas's value (`CANVAS_HTML`): the image shown with the finished lesions, as a JPEG, and the layer
        of the current lesion's mask and prompts, as a PNG placed over it (None before an image)."""
        if session.image is None:
            return None
        display = session.shown_image
        regions = None if session.lesion_map is None else sessions.nearest(session.lesion_map, display.shape[:2])
        base = display if regions is None else overlay(display, None, regions=regions)
        value = {"base": _url(self.downloads.write({"canvas.jpg": base})["canvas.jpg"])}
        value.update(width=display.shape[1], height=display.shape[0], layer=None, layer_style="")
        value["version"] = next(self._versions)
        layer = self.layer(session)
        if layer is not None:
            value["layer"] = _url(self.downloads.write({"layer.png": layer.image()})["layer.png"])
            value["layer_style"] = layer_style(layer, display.shape[:2])
        return value

    def layer(self, session: Session) -> Layer | None:
        """The current lesion's mask and prompts, drawn for the display copy, to lay over it."""
        points, box, corner = self.shown_prompts(session)
        labels = np.array(session.labels, dtype=int)
        return overlay_layer(session.shown_image.shape[:2], session.shown_mask, points, labels, box, corner=corner)

    def layer_png(self, session: Session) -> tuple[bytes, str]:
        """The layer as PNG bytes and its place (`layer_style`), for the click route (a blank pixel if empty)."""
        layer = self.layer(session) or Layer(np.zeros((1, 1), np.uint8), np.zeros((1, 4), np.uint8), 0, 0)
        return png_bytes(layer.image()), layer_style(layer, session.shown_image.shape[:2])

    def shown_prompts(self, session: Session) -> tuple[np.ndarray, tuple | None, tuple | None]:
        """The points (Nx2), box and box corner in the display copy's pixels (prompts are kept in the image's)."""

        def shown(coords):
            if coords is None or session.displays_full_size:
                return coords
            return tuple(session.to_display(np.reshape(coords, (-1, 2))).reshape(-1))

        points = np.array(session.points, float).reshape(-1, 2)
        if not session.displays_full_size and len(points):
            points = session.to_display(points)
        return points, shown(session.box), shown(session.corner)

    def details(self, session: Session):
        """Values for `DETAILS`: the candidates gallery, the summary, and the three download buttons emptied (their
        files were of earlier masks)."""
        empty = [gr.update(value=None, interactive=False)] * 3
        if session.image is None:
            return None, NO_IMAGE, *empty
        thumbnails = [] if session.prediction is None else self.candidates(session)
        names = [f"candidate_{index}.jpg" for index in range(1, len(thumbnails) + 1)]
        paths = self.downloads.write(dict(zip(names, (image for image, _ in thumbnails))))
        candidates = [(paths[name], label) for name, (_, label) in zip(names, thumbnails)]
        return candidates or None, self.summary_text(session), *empty

    def summary_text(self, session: Session) -> str:
        """What the summary says of the session, counted in the frame the page shows."""
        regions, current, truth = sessions.shown_frame(session)
        labels = sessions.combined_labels(regions, current, session.lesion_count + 1)
        return self.hint(session) if labels is None else self.summary(session, labels, current, truth)

    def prepare_downloads(self, session: Session):
        """Values for the label-mask, union and overlay download buttons, now holding their files."""
        paths = self.download_files(session)
        if paths is None:
            warn("Nothing to download yet: click on a tumour first.")
            return [gr.update(value=None, interactive=False)] * 3
        return [gr.update(value=path, interactive=True) for path in paths]

    def download_files(self, session: Session) -> list[str] | None:
        """The label image, the union and the overlay as PNG files at the image's own size (None without a mask).

        Written only when asked: at 12 MP they take about a second (the overlay alone is a 36 MB RGB image)."""
        if session.image is None:
            return None
        full_mask = self.full_mask(session)
        labels = session.label_image(full_mask)
        if labels is None:
            return None
        overlay_image = self.canvas(session, full_mask, full_size=True)
        names = [f"{session.name}_{kind}.png" for kind in ("labels", "union", "overlay")]
        paths = self.downloads.write(dict(zip(names, (labels, mask_to_png_array(labels), overlay_image))))
        return [paths[name] for name in names]

    def canvas(self, session: Session, full_mask: np.ndarray | None = None, full_size: bool = False) -> np.ndarray:
        """The image with the finished lesions, and the current one's mask and prompts, drawn on it: the display
        copy as the page shows it, or with `full_size` the image itself (then `full_mask` is the shown mask)."""
        if full_size or session.displays_full_size:
            image, mask, regions = session.image, session.full_size(full_mask), session.lesion_map
            points, box, corner = np.array(session.points, float).reshape(-1, 2), session.box, session.corner
        else:
            image, mask = session.display, session.shown_mask
            regions = None if session.lesion_map is None else sessions.nearest(session.lesion_map, image.shape[:2])
            points, box, corner = self.shown_prompts(session)
        labels = np.array(session.labels, dtype=int)
        return overlay(image, mask, points=points, labels=labels, box=box, corner=corner, regions=regions)

    def hint(self, session: Session) -> str:
        if session.corner is not None:
            return "Click the other corner of the box."
        if session.lesion_count:
            return f"Click on lesion {session.lesion_count + 1} (or draw a box)."
        return "Click on the tumour (or draw a box)."

    def candidates(self, session: Session) -> list[tuple[np.ndarray, str]]:
        thumbnail = self.thumbnail(session)
        items = []
        for index, (mask, score) in enumerate(zip(session.prediction.masks, session.prediction.iou_scores)):
            small_mask = sessions.nearest(mask, thumbnail.shape[:2])
            # Short enough for a phone's three narrow columns; the gallery's label explains it.
            label = f"{index + 1} · {readable_iou(score):.2f}" + (" ✓" if index == session.shown else "")
            items.append((overlay(thumbnail, small_mask), label))
        return items

    def thumbnail(self, session: Session) -> np.ndarray:
        """The image at thumbnail size, made once per image (resizing even the display copy takes milliseconds)."""
        key = session.image_key or image_key(session.image)
        with self._thumbnails_lock:
            if key in self._thumbnails:
                self._thumbnails.move_to_end(key)
                return self._thumbnails[key]
        thumbnail = _thumbnail(session.shown_image)
        with self._thumbnails_lock:
            self._thumbnails[key] = thumbnail
            while len(self._thumbnails) > MAX_THUMBNAILS:
                self._thumbnails.popitem(last=False)
        return thumbnail

    def summary(
        self, session: Session, labels: np.ndarray, current: np.ndarray | None, truth: np.ndarray | None
    ) -> str:
        """The current lesion's predicted IoU, each lesion's area in the label image, and the union's scores against
        the ground truth, all counted in the frame the page shows (`sessions.shown_frame`): for a large image, on
        its display copy, with areas scaled to image pixels and said to be approximate."""
        number = session.lesion_count + 1
        if session.prediction is None:
            lines, lesions = [self.hint(session)], number - 1
        else:
            score = readable_iou(session.prediction.iou_scores[session.shown])
            lines = [f"**Predicted IoU: {score:.2f}** (the model's own estimate of lesion {number}'s mask quality)"]
            lesions = number
        pixel_area = session.image.shape[0] * session.image.shape[1] / labels.size  # image pixels per pixel shown
        about = "" if pixel_area == 1 else "about "
        for lesion in range(1, lesions + 1):
            name = f"Lesion {lesion}" + (" (current)" if lesion == number else "")
            area = np.count_nonzero(labels == lesion)  # bincount would first widen 1 byte per pixel to 8
            share = 100 * area / labels.size
            lines.append(f"{name}: {about}{round(area * pixel_area):,} px, {share:.1f} % of the image")
        overlap = 0 if current is None else np.count_nonzero(current & (labels != number))
        if overlap:
            lines.append(
                f"{about}{round(overlap * pixel_area):,} px of lesion {number} overlap earlier lesions, which keep "
                "them in the mask download."
            )
        if truth is not None:
            union = labels > 0
            lines.append(
                f"Against your ground truth ({'all lesions together' if lesions > 1 else 'this mask'}): "
                f"Dice {dice(union, truth):.3f}, IoU {iou(union, truth):.3f}"
            )
        if about:
            lines.append("Counted on the 1024-px copy shown; the downloads are exact.")
        return "\n\n".join(lines)


def _thumbnail(image: np.ndarray) -> np.ndarray:
    return sessions.display_copy(image, THUMBNAIL_SIDE)


def layer_style(layer: Layer, size: tuple[int, int]) -> str:
    """Where `layer` goes over an image of `size` (height, width) shown at any size: CSS in percentages of it."""
    height, width = size
    rows, cols = layer.indices.shape
    place = (layer.left / width, layer.top / height, cols / width, rows / height)
    return "left:{:.4%};top:{:.4%};width:{:.4%};height:{:.4%}".format(*place)


def _url(path: str) -> str:
    """The address, relative to the page, at which Gradio serves a file of its cache."""
    return "gradio_api/file=" + quote(path)


def build_demo(predictor: SamPredictor, model_name: str) -> gr.Blocks:
    """The app's page. Pass it through `configure_queue`, then serve it with `launch` (both below)."""
    app = SegmentationApp(predictor)
    with gr.Blocks(title="SAM breast-ultrasound segmentation", delete_cache=CACHE_SWEEP) as demo:
        gr.Markdown(
            f"# Prompted breast-tumour segmentation in ultrasound (SAM)\n\n{DISCLAIMER}\n\n{model_banner(model_name)}",
            elem_id="header",
        )
        session = gr.State(Session(), time_to_live=SESSION_IDLE_S)
        # Three columns side by side on a wide screen. Below their minimum widths they stack in this order, so on
        # a phone the image to click comes right after the upload, and the controls after it.
        with gr.Row():
            with gr.Column(scale=2, min_width=220):
                upload = UploadedImage(
                    label="Ultrasound image (PNG, JPEG, BMP, TIFF)",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard"],
                    height=160,
                    buttons=[],
                    elem_id="upload",
                )
                gr.Examples(
                    example_images(),
                    inputs=[upload],
                    label="Synthetic phantoms (not patient data)",
                    cache_examples=False,
                    elem_id="examples",
                )
            with gr.Column(scale=5, min_width=320):
                # No fixed height: the box takes the image's shape (PAGE_CSS caps it).
                canvas = gr.HTML(
                    None,
                    html_template=CANVAS_HTML,
                    js_on_load=CANVAS_JS,
                    elem_id="canvas",
                )
            with gr.Column(scale=3, min_width=300):
                controls = _controls()
        outputs = [session, canvas]  # OUTPUTS
        details = [controls.candidates, controls.summary, *controls.downloads]  # DETAILS
        # No progress animation over the canvas for a click or a button that only decodes (a tenth of a second): in
        # 4 headless Chromium tabs on 2 cores, repainting it cost the browsers more CPU than the server's click.
        quick = dict(show_progress="hidden")
        upload.change(
            app.upload,
            [upload, session],
            outputs,
            concurrency_limit=ENCODER_CONCURRENCY,
            concurrency_id=ENCODER_QUEUE,
            api_name="load_image",
        )
        prompt_inputs = [session, controls.mode, controls.candidate_mode, controls.mask_feedback]
        # Clicks the click route (`click_route.py`) does not take, or all of them on a page served without it.
        canvas.select(app.click, prompt_inputs, outputs, concurrency_limit=PROMPT_CONCURRENCY, **quick)
        # The canvas as the session now is, when a click crossed another event (`CANVAS_JS`); the session is only
        # read, so a click the route writes meanwhile is not overwritten.
        canvas.submit(app.redraw, [session], [canvas], api_visibility="private", **quick)
        controls.candidates.select(app.choose_candidate, [session], outputs, **quick)
        # The page asks for the details when the canvas changes. These two may change the details alone (the list of
        # candidates, the scores against a ground truth) and keep the canvas, so they ask themselves.
        controls.candidate_mode.change(
            app.change_candidates, [session, controls.candidate_mode, controls.mask_feedback], outputs, **quick
        ).then(app.details, [session], details, api_name="candidate_mode_details", api_visibility="private", **quick)
        controls.undo.click(app.undo, [session], outputs, api_name="undo", **quick)
        controls.next_lesion.click(app.next_lesion, [session], outputs, api_name="next_lesion", **quick)
        controls.clear_lesion.click(app.clear_lesion, [session], outputs, api_name="clear_lesion", **quick)
        controls.clear.click(app.clear, [session], outputs, api_name="clear", **quick)
        controls.prepare_downloads.click(
            app.prepare_downloads,
            [session],
            controls.downloads,
            concurrency_limit=DOWNLOADS_CONCURRENCY,
            concurrency_id="downloads",
            api_name="prepare_downloads",
        )
        controls.ground_truth.change(app.ground_truth, [session, controls.ground_truth], outputs, **quick).then(
            app.details, [session], details, api_name="ground_truth_details", api_visibility="private", **quick
        )
        add_segment_endpoint(predictor, app.downloads, ENCODER_CONCURRENCY)
        # A style element in the page rather than `launch(css=...)`, which only the code that launches would pass;
        # its script asks for the details once each new canvas is on screen.
        canvas_shown = gr.HTML(f"<style>{PAGE_CSS}</style>", padding=False, js_on_load=CANVAS_SHOWN_JS)
        canvas_shown.click(app.details, [session], details, api_name="details", **quick)
    demo.sam_routes = [click_route(app, session, PROMPT_CONCURRENCY)]  # served by `launch`
    return demo


@dataclass
class _Controls:
    mode: gr.Radio
    undo: gr.Button
    next_lesion: gr.Button
    clear_lesion: gr.Button
    clear: gr.Button
    summary: gr.Markdown
    candidates: gr.Gallery
    prepare_downloads: gr.Button
    mask_download: gr.DownloadButton
    union_download: gr.DownloadButton
    overlay_download: gr.DownloadButton
    candidate_mode: gr.Radio
    mask_feedback: gr.Checkbox
    ground_truth: gr.File

    @property
    def downloads(self) -> list[gr.components.Component]:
        """The outputs of `SegmentationApp.prepare_downloads`, in its order."""
        return [self.mask_download, self.union_download, self.overlay_download]


def _controls() -> _Controls:
    """The prompt mode, the buttons, the results and the settings, in the order a user needs them."""
    mode = gr.Radio(
        list(sessions.PROMPT_MODES), value=sessions.POSITIVE, label="A click on the image adds", elem_id="mode"
    )
    with gr.Row():
        undo = gr.Button("Undo", size="sm", min_width=100)
        next_lesion = gr.Button("Next lesion", size="sm", min_width=100)
    with gr.Row():
        clear_lesion = gr.Button("Clear this lesion", size="sm", min_width=100)
        clear = gr.Button("Clear all", size="sm", min_width=100)
    summary = gr.Markdown(NO_IMAGE, elem_id="summary")
    candidates = gr.Gallery(
        label="Candidates: no. · predicted IoU (click to show)",
        columns=3,
        height=160,
        object_fit="contain",
        fit_columns=False,
        format="png",
        allow_preview=False,
        elem_id="candidates",
    )
    prepare_downloads = gr.Button("Prepare downloads (full size)", size="sm", elem_id="prepare-downloads")
    with gr.Row():
        download = dict(size="sm", min_width=90, interactive=False)
        mask_download = gr.DownloadButton("Mask (PNG)", elem_id="mask-download", **download)
        union_download = gr.DownloadButton("Union (PNG)", elem_id="union-download", **download)
        overlay_download = gr.DownloadButton("Overlay (PNG)", elem_id="overlay-download", **download)
    gr.Markdown(
        "**Next lesion** keeps the mask and starts another lesion, in its own colour; **Undo** steps back through "
        "it too. **Clear this lesion** forgets only the current one, **Clear all** every lesion. **Prepare "
        "downloads** writes the masks as they are now, at the image's own size: the mask is a label image, 0 "
        "background, then 1, 2, … for the lesions in order (where two overlap, the earlier keeps the pixels); the "
        "union is 0/255.",
        elem_classes="hint",
    )
    candidate_mode = gr.Radio(
        list(sessions.CANDIDATE_MODES), value=sessions.AUTO, label="Candidate masks", elem_id="candidate-mode"
    )
    mask_feedback = gr.Checkbox(
        value=sessions.MASK_FEEDBACK,
        label="Refine the shown mask (feed it back to SAM with each new click)",
        info="Off: each click re-segments from all clicks so far. See the README for which works better.",
        elem_id="mask-feedback",
    )
    ground_truth = gr.File(
        label="Optional: ground-truth mask, to score all lesions together",
        file_types=["image"],
        type="filepath",
        height=120,
    )
    return _Controls(
        mode=mode,
        undo=undo,
        next_lesion=next_lesion,
        clear_lesion=clear_lesion,
        clear=clear,
        summary=summary,
        candidates=candidates,
        prepare_downloads=prepare_downloads,
        mask_download=mask_download,
        union_download=union_download,
        overlay_download=overlay_download,
        candidate_mode=candidate_mode,
        mask_feedback=mask_feedback,
        ground_truth=ground_truth,
    )


def configure_queue(demo: gr.Blocks) -> gr.Blocks:
    """Bound the queue, and each session's share of it, so that a burst of users waits in line instead of
    exhausting memory, and one client cannot crowd out the others."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=PROMPT_CONCURRENCY)
    limit_waiting_events_per_session(demo, MAX_WAITING_PER_SESSION)
    return demo


def launch(demo: gr.Blocks, **options: Any) -> tuple:
    """`demo.launch(**options)` with the app's upload size limit, number of sessions kept and click route."""
    # The app's own routes go first: Gradio's, added after them, include catch-alls.
    app_kwargs = {"routes": list(getattr(demo, "sam_routes", []))}
    return demo.launch(
        max_file_size=MAX_UPLOAD_BYTES, state_session_capacity=MAX_SESSIONS, app_kwargs=app_kwargs, **options
    )
