"""The Gradio app: upload an ultrasound image, click or box the tumour, see and download the mask.

`build_demo(predictor, model_name)` builds the Blocks; `app.py` only parses flags, loads the model and launches.
Handlers are small functions over a `Session` (see `session.py`): every browser tab has its own session in a
`gr.State` (forgotten after `SESSION_IDLE_S` without use), while all tabs share the predictor, and with it the
model, the compiled decoder and the bounded embedding cache. Programs use the stateless `/segment` endpoint
(`api.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from ..core.image_io import ImageError
from ..core.masks import dice, iou, load_mask
from ..core.predictor import Prediction, SamPredictor
from ..core.prompts import PromptError
from ..drawing.viz import mask_to_png_array, overlay
from . import session as sessions
from .api import add_segment_endpoint
from .downloads import Downloads
from .queue_limits import limit_waiting_events_per_session
from .session import Session
from .uploads import MAX_UPLOAD_BYTES, UploadedImage, read_upload
from .user_errors import refusal, warn

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"  # the repository's examples/
THUMBNAIL_SIDE = 256
DISCLAIMER = "**Research demo, not for clinical use.** It does not diagnose anything and must not inform care."
# One encoder at a time: it already uses every CPU core, and each run holds the large model's activations
# (several GB for ViT-L); a second concurrent run would only halve both runs' speed and double the memory.
ENCODER_CONCURRENCY = 1
# Decoder calls take tens of milliseconds and little memory; a few may run side by side.
PROMPT_CONCURRENCY = 4
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
    """The handlers behind the page; each takes and returns a `Session`."""

    def __init__(self, predictor: SamPredictor, downloads: Downloads | None = None):
        self.predictor = predictor
        self.downloads = downloads or Downloads()

    # --- events -------------------------------------------------------------------------------------------
    def upload(self, path: str | None, progress=gr.Progress()):
        if path is None:
            return self.render(Session())
        image = read_upload(path)
        progress(0.0, desc="Computing the image embedding (once per image)…")
        encoded = self.predictor.encode(image)
        return self.render(sessions.new_image(encoded.image, Path(path).stem, encoded.key))

    def click(self, session: Session, mode: str, candidate_mode: str, mask_feedback: bool, event: gr.SelectData):
        x, y = event.index
        if session.image is None:
            warn(  # a new tab, or one whose session expired
                "Upload an image (or pick an example) before clicking. An image is forgotten after "
                f"{SESSION_IDLE_S // 60} minutes without a click."
            )
            return self.render(session)
        try:
            session = self.prompt(session, float(x), float(y), mode, candidate_mode, mask_feedback)
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
        return self.render(self.predict(session, candidate_mode, session.mask_prompt if mask_feedback else None))

    def choose_candidate(self, session: Session, event: gr.SelectData):
        if session.prediction is not None and 0 <= event.index < len(session.prediction.masks):
            session = sessions.show_candidate(session, event.index)
        return self.render(session)

    def undo(self, session: Session):
        return self.render(sessions.undo(session, self.decode))

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
        """Masks for the session's prompts (a few milliseconds: the image's embedding is cached)."""
        # A cache hit unless many other images came since; the key saves hashing the image on every click.
        encoded = self.predictor.encode(session.image, key=session.image_key)
        return self.predictor.decode(
            encoded,
            points=list(session.points) or None,
            labels=list(session.labels) or None,
            box=session.box,
            mask_input=mask_prompt,
            multimask_output=multimask,
        )

    # --- output --------------------------------------------------------------------------------------------
    def render(self, session: Session):
        """Values for: state, canvas, candidates gallery, summary, mask download, overlay download."""
        if session.image is None:
            return session, None, None, "Upload an image or pick an example, then click on the tumour.", None, None
        canvas = overlay(
            session.image,
            session.shown_mask,
            points=np.array(session.points).reshape(-1, 2),
            labels=np.array(session.labels, dtype=int),
            box=session.box,
            corner=session.corner,
        )
        if session.prediction is None:
            hint = "Click the other corner of the box." if session.corner else "Click on the tumour (or draw a box)."
            return session, canvas, None, hint, None, None
        mask_file, overlay_file = self.write_downloads(session, canvas)
        return session, canvas, self.candidates(session), self.summary(session), mask_file, overlay_file

    def candidates(self, session: Session) -> list[tuple[np.ndarray, str]]:
        thumbnail = _thumbnail(session.image)
        items = []
        for index, (mask, score) in enumerate(zip(session.prediction.masks, session.prediction.iou_scores)):
            small_mask = np.asarray(Image.fromarray(mask).resize(thumbnail.shape[1::-1], Image.NEAREST))
            label = f"Mask {index + 1} · IoU {readable_iou(score):.2f}" + (" (shown)" if index == session.shown else "")
            items.append((overlay(thumbnail, small_mask), label))
        return items

    def summary(self, session: Session) -> str:
        mask = session.shown_mask
        score = readable_iou(session.prediction.iou_scores[session.shown])
        area = int(mask.sum())
        lines = [
            f"**Predicted IoU: {score:.2f}** (the model's own estimate of this mask's quality)",
            f"Mask area: {area:,} px, {100 * area / mask.size:.1f} % of the image",
        ]
        if session.ground_truth is not None:
            lines.append(
                f"Against your ground truth: Dice {dice(mask, session.ground_truth):.3f}, "
                f"IoU {iou(mask, session.ground_truth):.3f}"
            )
        return "\n\n".join(lines)

    def write_downloads(self, session: Session, canvas: np.ndarray) -> tuple[str, str]:
        # Gradio copies what it serves into its own cache, which `delete_cache` sweeps.
        mask_name, overlay_name = f"{session.name}_mask.png", f"{session.name}_overlay.png"
        paths = self.downloads.write({mask_name: mask_to_png_array(session.shown_mask), overlay_name: canvas})
        return paths[mask_name], paths[overlay_name]


def readable_iou(score: float) -> float:
    """A predicted IoU as people read it: the model's estimate can stray outside [0, 1] (1.15 has no meaning)."""
    return float(np.clip(score, 0.0, 1.0))


def _thumbnail(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = min(1.0, THUMBNAIL_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


def build_demo(predictor: SamPredictor, model_name: str) -> gr.Blocks:
    """The app's page. Pass it through `configure_queue`, then serve it with `launch` (both below)."""
    app = SegmentationApp(predictor)
    with gr.Blocks(title="SAM breast-ultrasound segmentation", delete_cache=CACHE_SWEEP) as demo:
        gr.Markdown(
            f"# Prompted breast-tumour segmentation in ultrasound (SAM)\n\n{DISCLAIMER}\n\n{model_banner(model_name)}"
        )
        session = gr.State(Session(), time_to_live=SESSION_IDLE_S)
        with gr.Row():
            with gr.Column(scale=1):
                upload = UploadedImage(
                    label="Ultrasound image (PNG, JPEG, BMP, TIFF)",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard"],
                    height=260,
                    buttons=[],
                )
                mode = gr.Radio(list(sessions.PROMPT_MODES), value=sessions.POSITIVE, label="A click on the image adds")
                with gr.Row():
                    undo = gr.Button("Undo last prompt", size="sm")
                    clear = gr.Button("Clear prompts", size="sm")
                candidate_mode = gr.Radio(list(sessions.CANDIDATE_MODES), value=sessions.AUTO, label="Candidate masks")
                mask_feedback = gr.Checkbox(
                    value=sessions.MASK_FEEDBACK,
                    label="Refine the shown mask (feed it back to SAM with each new click)",
                    info="Off: each click re-segments from all clicks so far. See the README for which works better.",
                )
                ground_truth = gr.File(
                    label="Optional: ground-truth mask, to score the shown mask",
                    file_types=["image"],
                    type="filepath",
                    height=120,
                )
            with gr.Column(scale=2):
                # The fullscreen button is hidden: in this Gradio version clicks in fullscreen view land on
                # wrong coordinates.
                canvas = gr.Image(
                    label="Click on the tumour",
                    interactive=False,
                    height=520,
                    format="png",
                    buttons=[],
                    elem_id="canvas",
                )
                summary = gr.Markdown(
                    "Upload an image or pick an example, then click on the tumour.", elem_id="summary"
                )
                candidates = gr.Gallery(
                    label="Candidate masks (click one to show it)",
                    columns=3,
                    height=230,
                    object_fit="contain",
                    fit_columns=False,
                    format="png",
                    allow_preview=False,
                    elem_id="candidates",
                )
                with gr.Row():
                    mask_download = gr.DownloadButton("Download mask (PNG)", size="sm", elem_id="mask-download")
                    overlay_download = gr.DownloadButton("Download overlay (PNG)", size="sm")
        gr.Examples(
            example_images(), inputs=[upload], label="Synthetic phantoms (not patient data)", cache_examples=False
        )

        outputs = [session, canvas, candidates, summary, mask_download, overlay_download]
        upload.change(
            app.upload,
            [upload],
            outputs,
            concurrency_limit=ENCODER_CONCURRENCY,
            concurrency_id="encoder",
            api_name="load_image",
        )
        canvas.select(
            app.click, [session, mode, candidate_mode, mask_feedback], outputs, concurrency_limit=PROMPT_CONCURRENCY
        )
        candidates.select(app.choose_candidate, [session], outputs)
        candidate_mode.change(app.change_candidates, [session, candidate_mode, mask_feedback], outputs)
        undo.click(app.undo, [session], outputs, api_name="undo")
        clear.click(app.clear, [session], outputs, api_name="clear")
        ground_truth.change(app.ground_truth, [session, ground_truth], outputs)
        add_segment_endpoint(predictor, ENCODER_CONCURRENCY)
    return demo


def configure_queue(demo: gr.Blocks) -> gr.Blocks:
    """Bound the queue, and each session's share of it, so that a burst of users waits in line instead of
    exhausting memory, and one client cannot crowd out the others."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=PROMPT_CONCURRENCY)
    limit_waiting_events_per_session(demo, MAX_WAITING_PER_SESSION)
    return demo


def launch(demo: gr.Blocks, **options: Any) -> tuple:
    """`demo.launch(**options)` with the app's upload size limit and number of sessions kept."""
    return demo.launch(max_file_size=MAX_UPLOAD_BYTES, state_session_capacity=MAX_SESSIONS, **options)
