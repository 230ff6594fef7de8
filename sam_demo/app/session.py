"""One user's prompting session: the image, the points and box clicked so far, and the masks they gave.

Pure Python (no Gradio), so the app's behaviour can be tested without a browser. Every prompt change returns a
new `Session`; the previous one goes on an undo stack together with the prediction it had, so undoing restores
exactly what was shown before without running the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..core.predictor import Prediction
from ..core.prompt_kinds import wants_multimask
from ..core.prompts import PromptError

POSITIVE, NEGATIVE, BOX = "Tumour point (+)", "Background point (−)", "Box (click two corners)"
PROMPT_MODES = (POSITIVE, NEGATIVE, BOX)
AUTO, ALWAYS_THREE, ALWAYS_ONE = "Auto (3 for a single click)", "Always 3", "Always 1"
CANDIDATE_MODES = (AUTO, ALWAYS_THREE, ALWAYS_ONE)
MAX_UNDO = 50


@dataclass(frozen=True)
class Session:
    image: np.ndarray | None = None  # HxWx3 uint8 RGB
    image_key: str | None = None  # the image's embedding-cache key, so clicks need not hash it again
    name: str = "image"  # stem of the uploaded file, for download names
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    corner: tuple[float, float] | None = None  # first corner of a box being drawn
    prediction: Prediction | None = None
    shown: int = 0  # index of the candidate mask on display
    ground_truth: np.ndarray | None = None  # HxW bool, optional
    undo_stack: tuple[Session, ...] = field(default=(), repr=False)

    @property
    def has_prompt(self) -> bool:
        return bool(self.points) or self.box is not None

    @property
    def shown_mask(self) -> np.ndarray | None:
        return None if self.prediction is None else self.prediction.masks[self.shown]

    def multimask(self, candidate_mode: str) -> bool:
        """Three candidates where the prompt is ambiguous (one click, no box), as SAM's authors advise."""
        if candidate_mode == ALWAYS_THREE:
            return True
        if candidate_mode == ALWAYS_ONE:
            return False
        return wants_multimask(len(self.points), self.box is not None)

    def refinement_logits(self) -> np.ndarray | None:
        """The low-res logits of the mask on display, fed back so that a new click refines it."""
        return None if self.prediction is None else self.prediction.low_res_logits[self.shown]


def new_image(image: np.ndarray, name: str, image_key: str | None = None) -> Session:
    return Session(image=image, name=name, image_key=image_key)


def click(session: Session, x: float, y: float, mode: str) -> Session:
    """The session after a click at image pixel (x, y) in `mode`; raises PromptError for unusable clicks."""
    if session.image is None:
        raise PromptError("Upload an image (or pick an example) before clicking.")
    height, width = session.image.shape[:2]
    if not (0 <= x < width and 0 <= y < height):
        raise PromptError(f"The click ({x:g}, {y:g}) is outside the {width}x{height} image.")
    if mode == BOX:
        if session.corner is None:
            return _push(session, corner=(x, y))
        (x0, y0) = session.corner
        box = (min(x0, x), min(y0, y), max(x0, x) + 1, max(y0, y) + 1)  # both clicked pixels inside
        if abs(x - x0) < 1 or abs(y - y0) < 1:
            raise PromptError("That box has no area: click the corner diagonally opposite the first one.")
        return _push(session, box=box, corner=None)
    if mode not in (POSITIVE, NEGATIVE):
        raise PromptError(f"Unknown prompt mode {mode!r}.")
    label = 1 if mode == POSITIVE else 0
    return _push(session, points=session.points + ((x, y),), labels=session.labels + (label,))


def with_prediction(session: Session, prediction: Prediction) -> Session:
    """Attach the masks computed for the session's prompts; the best one is shown."""
    return replace(session, prediction=prediction, shown=prediction.best_index)


def show_candidate(session: Session, index: int) -> Session:
    return replace(session, shown=index)


def with_ground_truth(session: Session, mask: np.ndarray | None) -> Session:
    return replace(session, ground_truth=mask)


def undo(session: Session) -> Session:
    if not session.undo_stack:
        return session
    previous = session.undo_stack[-1]
    return replace(previous, undo_stack=session.undo_stack[:-1], ground_truth=session.ground_truth)


def clear(session: Session) -> Session:
    """Forget every prompt and mask, keep the image and ground truth."""
    return Session(
        image=session.image, image_key=session.image_key, name=session.name, ground_truth=session.ground_truth
    )


def _push(session: Session, **changes) -> Session:
    """Apply a prompt change, remembering the session before it (without its own history) for undo."""
    history = (session.undo_stack + (replace(session, undo_stack=()),))[-MAX_UNDO:]
    return replace(session, undo_stack=history, **changes)
