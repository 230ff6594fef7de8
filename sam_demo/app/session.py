"""One user's prompting session: the image, the lesions finished so far, and the current lesion's prompts and masks.

Pure Python (no Gradio), so the app's behaviour can be tested without a browser. Every prompt change returns a
new `Session`; the undo history keeps each earlier state as a `Step`: its prompts and how its masks were decoded
(the low-resolution mask prompt, the candidate count, the candidate on display), never the full-resolution masks.
Undo runs the decoder again on those same inputs (milliseconds), which gives back exactly the masks that were shown,
so a session's memory does not grow with the number of clicks (see `memory_budget`).

Several lesions: `next_lesion` keeps the shown mask as a finished lesion and starts a new prompt set on the same
image (same embedding). Finished lesions live in one label image (`lesion_map`: 0 background, k = lesion k), one
byte per pixel however many there are. Where a lesion overlaps earlier ones, the earlier lesion keeps the pixels:
a finished lesion stays exactly as the user accepted it. `next_lesion` is a step like any prompt change, so undo
reopens the last finished lesion with its prompts and masks.

Large images: the page shows a display copy (`display`, longest side at most `DISPLAY_SIDE`) and the candidate
masks are decoded at its size, since drawing, encoding and upsampling at 12 MP took seconds per click. Prompts
stay in the image's own pixels (`to_image_pixel` maps a click on the copy back), and the full-size mask of the
one shown candidate is made when a download or a finished lesion needs it (the app's `full_mask`). An image no
larger than the copy would be is its own display copy: then masks are at full size, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from ..core.predictor import Prediction
from ..core.prompt_kinds import wants_multimask
from ..core.prompts import LOW_RES_SIZE, PromptError
from ..drawing.viz import REGION_COLOURS

POSITIVE, NEGATIVE, BOX = "Tumour point (+)", "Background point (−)", "Box (click two corners)"
PROMPT_MODES = (POSITIVE, NEGATIVE, BOX)
AUTO, ALWAYS_THREE, ALWAYS_ONE = "Auto (3 for a single click)", "Always 3", "Always 1"
CANDIDATE_MODES = (AUTO, ALWAYS_THREE, ALWAYS_ONE)
MAX_UNDO = 50
# Lesions per image, the current one included: each needs an overlay colour that stays distinguishable (the
# current lesion's and `REGION_COLOURS`); BUSI images have one or two.
MAX_LESIONS = 1 + len(REGION_COLOURS)
# Whether a new click gives SAM the shown mask's low-res logits as a mask prompt. The default follows the
# interactive evaluation (README, "Mask feedback"); the page has a switch.
MASK_FEEDBACK = False
# Longest side of the image the page shows. SAM itself sees the image at 1024 px (and masks at 256), so a finer
# copy shows no finer mask; smaller copies made clicks land less precisely.
DISPLAY_SIDE = 1024

# The memory one session may hold. Per image pixel: the RGB image (3 bytes, the same array as in the embedding
# cache), a ground-truth mask (1 byte) and the finished lesions' label image (1 byte). Per display pixel: up to
# three candidate masks (1 byte each), and the RGB display copy (3 bytes) unless it is the image itself.
# Besides: the current and every remembered mask prompt (256 x 256 float32, 256 KB each) and the prompts
# themselves (a few KB).
BUDGET_BYTES_PER_PIXEL = 3 + 1 + 1
BUDGET_BYTES_PER_DISPLAY_PIXEL = 3
BUDGET_BYTES_PER_DISPLAY_COPY_PIXEL = 3
BUDGET_FIXED_BYTES = (MAX_UNDO + 1) * LOW_RES_SIZE * LOW_RES_SIZE * 4 + 1_000_000

Point = tuple[float, float]
Box = tuple[float, float, float, float]
# Masks for a session's prompts, from (session, mask prompt, three candidates or one): the app's decoder.
Decode = Callable[["Session", np.ndarray | None, bool], Prediction]


def memory_budget(height: int, width: int) -> int:
    """The most bytes a session on a `height` x `width` image holds, whatever the number of clicks."""
    shown = display_size(height, width)
    display_pixels = shown[0] * shown[1]
    copy_pixels = 0 if shown == (height, width) else display_pixels
    return (
        BUDGET_BYTES_PER_PIXEL * height * width
        + BUDGET_BYTES_PER_DISPLAY_PIXEL * display_pixels
        + BUDGET_BYTES_PER_DISPLAY_COPY_PIXEL * copy_pixels
        + BUDGET_FIXED_BYTES
    )


def display_size(height: int, width: int, side: int = DISPLAY_SIDE) -> tuple[int, int]:
    """(height, width) of the copy of a `height` x `width` image that the page shows (longest side at most `side`)."""
    scale = side / max(height, width)
    if scale >= 1:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def display_copy(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The image the page shows: `image` itself if its longest side is at most `side`, else a smaller copy."""
    height, width = display_size(*image.shape[:2], side)
    if (height, width) == image.shape[:2]:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR, reducing_gap=2.0))


@dataclass(frozen=True)
class Step:
    """An earlier state, as undo needs it: the prompts and the inputs its masks were decoded from."""

    points: tuple[Point, ...]
    labels: tuple[int, ...]
    box: Box | None
    corner: Point | None
    multimask: bool | None  # three candidates or one; None when no mask was shown
    mask_prompt: np.ndarray | None = field(repr=False)
    shown: int
    lesion_count: int  # finished lesions; undo drops any finished since


@dataclass(frozen=True)
class Session:
    image: np.ndarray | None = None  # HxWx3 uint8 RGB
    image_key: str | None = None  # the image's embedding-cache key, so clicks need not hash it again
    display: np.ndarray | None = field(default=None, repr=False)  # what the page shows: `image` or a smaller copy
    source: str | None = None  # the uploaded file, to recognise the same upload reported twice
    name: str = "image"  # stem of the uploaded file, for download names
    points: tuple[Point, ...] = ()
    labels: tuple[int, ...] = ()
    box: Box | None = None
    corner: Point | None = None  # first corner of a box being drawn
    prediction: Prediction | None = None  # masks at the display copy's size
    mask_prompt: np.ndarray | None = field(default=None, repr=False)  # (256, 256) logits `prediction` came from
    shown: int = 0  # index of the candidate mask on display
    ground_truth: np.ndarray | None = None  # HxW bool, optional
    lesion_map: np.ndarray | None = field(default=None, repr=False)  # HxW uint8 finished lesions 1..n, or None
    lesion_count: int = 0
    history: tuple[Step, ...] = field(default=(), repr=False)

    @property
    def has_prompt(self) -> bool:
        return bool(self.points) or self.box is not None

    @property
    def shown_mask(self) -> np.ndarray | None:
        """The shown candidate at the display copy's size."""
        return None if self.prediction is None else self.prediction.masks[self.shown]

    @property
    def shown_image(self) -> np.ndarray | None:
        """The image the page shows: the display copy, or the image itself."""
        return self.image if self.display is None else self.display

    @property
    def displays_full_size(self) -> bool:
        return self.display is None or self.display is self.image

    def display_scale(self) -> tuple[float, float]:
        """(x, y) display pixels per image pixel."""
        if self.displays_full_size:
            return 1.0, 1.0
        return self.display.shape[1] / self.image.shape[1], self.display.shape[0] / self.image.shape[0]

    def to_image_pixel(self, x: float, y: float) -> tuple[float, float]:
        """The image pixel under the centre of display pixel (x, y)."""
        sx, sy = self.display_scale()
        if (sx, sy) == (1.0, 1.0):
            return x, y
        height, width = self.image.shape[:2]
        return float(min(width - 1, int((x + 0.5) / sx))), float(min(height - 1, int((y + 0.5) / sy)))

    def to_display(self, coords: np.ndarray) -> np.ndarray:
        """(..., 2) image-pixel (x, y) coordinates as display-copy pixel coordinates (pixel centres kept)."""
        scale = np.array(self.display_scale())
        coords = np.asarray(coords, float)
        return coords if (scale == 1).all() else (coords + 0.5) * scale - 0.5

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

    def full_size(self, mask: np.ndarray | None) -> np.ndarray | None:
        """The shown mask at the image's size: `mask` if given (the app makes it for large images), else the
        shown mask itself when the display copy is the image; None while no mask is shown."""
        if self.shown_mask is None:
            return None
        if mask is None and self.displays_full_size:
            return self.shown_mask
        if mask is None or mask.shape != self.image.shape[:2]:
            raise ValueError("a large image's shown mask must be given at the image's size")
        return mask

    def label_image(self, full_mask: np.ndarray | None = None) -> np.ndarray | None:
        """HxW uint8: 0 background, 1..n the finished lesions, then the current one if it has a mask (earlier
        lesions keep overlapping pixels); None while nothing is segmented. `full_mask`: see `full_size`."""
        return combined_labels(self.lesion_map, self.full_size(full_mask), self.lesion_count + 1)


def combined_labels(regions: np.ndarray | None, current: np.ndarray | None, label: int) -> np.ndarray | None:
    """The finished lesions' label image with the current mask added as `label` where it is still background (earlier
    lesions keep overlapping pixels); None when there is neither."""
    if current is None and regions is None:
        return None
    labels = np.zeros(current.shape, np.uint8) if regions is None else regions.copy()
    if current is not None:
        labels[current & (labels == 0)] = label
    return labels


def shown_frame(session: Session) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(finished lesions' label image, current mask, ground truth) in the frame the page shows: the image itself,
    or for a large image its display copy (nearest-neighbour, so labels stay labels). Cheap where the full-size
    arrays would take hundreds of milliseconds per click (12 MP); for counting, not for downloads."""
    if session.displays_full_size:
        return session.lesion_map, session.shown_mask, session.ground_truth
    size = session.display.shape[:2]
    regions = None if session.lesion_map is None else nearest(session.lesion_map, size)
    truth = None if session.ground_truth is None else nearest(session.ground_truth.astype(np.uint8), size) > 0
    return regions, session.shown_mask, truth


def nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A mask or label image at (height, width), nearest neighbour (labels stay labels)."""
    if array.shape == size:
        return array
    return np.asarray(Image.fromarray(array).resize(size[::-1], Image.NEAREST))


def new_image(image: np.ndarray, name: str, image_key: str | None = None, source: str | None = None) -> Session:
    return Session(image=image, name=name, image_key=image_key, display=display_copy(image), source=source)


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


def with_prediction(session: Session, prediction: Prediction, mask_prompt: np.ndarray | None) -> Session:
    """Attach the masks decoded for the session's prompts with `mask_prompt`; the best one is shown."""
    # A copy: the caller's logits are usually a view of the previous prediction, which must not stay alive.
    kept = None if mask_prompt is None else np.array(mask_prompt, np.float32)
    return replace(session, prediction=prediction, mask_prompt=kept, shown=prediction.best_index)


def show_candidate(session: Session, index: int) -> Session:
    return replace(session, shown=index)


def with_ground_truth(session: Session, mask: np.ndarray | None) -> Session:
    return replace(session, ground_truth=mask)


def undo(session: Session, decode: Decode) -> Session:
    """The state before the last prompt change, its masks decoded again from the inputs they first came from."""
    if not session.history:
        return session
    step = session.history[-1]
    restored = replace(
        session,
        lesion_map=_lesions_up_to(session, step.lesion_count),
        lesion_count=step.lesion_count,
        points=step.points,
        labels=step.labels,
        box=step.box,
        corner=step.corner,
        prediction=None,
        mask_prompt=None,
        shown=0,
        history=session.history[:-1],
    )
    if step.multimask is None:
        return restored
    prediction = decode(restored, step.mask_prompt, step.multimask)
    return replace(restored, prediction=prediction, mask_prompt=step.mask_prompt, shown=step.shown)


# What starting a new lesion, or clearing the current one, resets.
_NO_CURRENT_LESION = dict(points=(), labels=(), box=None, corner=None, prediction=None, mask_prompt=None, shown=0)


def next_lesion(session: Session, full_mask: np.ndarray | None = None) -> Session:
    """Keep the shown mask as a finished lesion and start a new prompt set; raises PromptError if there is none.
    `full_mask`: see `Session.full_size`."""
    full_mask = session.full_size(full_mask)
    if full_mask is None:
        raise PromptError("Segment this lesion first (click on it): Next lesion keeps the mask on display.")
    if session.lesion_count + 1 >= MAX_LESIONS:
        raise PromptError(
            f"At most {MAX_LESIONS} lesions per image, so that each keeps its own colour: this is the last."
        )
    lesion_map = np.zeros(session.image.shape[:2], np.uint8) if session.lesion_map is None else session.lesion_map
    lesion_map = np.where((lesion_map == 0) & full_mask, np.uint8(session.lesion_count + 1), lesion_map)
    return _push(session, **_NO_CURRENT_LESION, lesion_map=lesion_map, lesion_count=session.lesion_count + 1)


def clear_current(session: Session) -> Session:
    """Forget the current lesion's prompts and masks (undoable); finished lesions stay."""
    if not session.has_prompt and session.corner is None and session.prediction is None:
        return session
    return _push(session, **_NO_CURRENT_LESION)


def clear(session: Session) -> Session:
    """Forget every lesion, prompt and mask, keep the image and ground truth."""
    return Session(
        image=session.image,
        image_key=session.image_key,
        display=session.display,
        source=session.source,
        name=session.name,
        ground_truth=session.ground_truth,
    )


def _lesions_up_to(session: Session, count: int) -> np.ndarray | None:
    """The session's finished lesions without those numbered above `count` (the same array if none goes)."""
    if count == 0:
        return None
    if count == session.lesion_count:
        return session.lesion_map
    return np.where(session.lesion_map > count, np.uint8(0), session.lesion_map)


def _push(session: Session, **changes) -> Session:
    """Apply a prompt change, remembering the state before it for undo."""
    prediction = session.prediction
    step = Step(
        points=session.points,
        labels=session.labels,
        box=session.box,
        corner=session.corner,
        multimask=None if prediction is None else len(prediction.masks) > 1,
        mask_prompt=session.mask_prompt,
        shown=session.shown,
        lesion_count=session.lesion_count,
    )
    return replace(session, history=(session.history + (step,))[-MAX_UNDO:], **changes)
