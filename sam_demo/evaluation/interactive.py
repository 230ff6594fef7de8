"""The app's click-after-click loop, measured: a first prompt, then corrective clicks, as a careful user gives them.

Each protocol starts from one interior click or the tight box (`core.prompt_kinds`), then adds up to
`max_clicks` corrective clicks, each on the most interior pixel of the largest error region of the mask on
display (`core.corrective_clicks`, deterministic), and decodes again with every prompt so far; with or without
the previous prediction's low-res logits as mask prompt (the app's "mask feedback" setting). The image's
embedding is computed once; every interaction is one decoder call, and the first prompt's answer is the
single-prompt evaluation's own (`evaluate.py` passes it in).

Reported per protocol: Dice and IoU after each interaction (interaction 1 is the first prompt) with 95 %
bootstrap intervals, and NoC@85 / NoC@90, the interactions needed to reach IoU 0.85 / 0.90 (an image that
never does counts as one more than the interactions allowed; how many never do is reported too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.corrective_clicks import next_click
from ..core.masks import dice, iou
from ..core.predictor import Prediction, SamPredictor
from ..core.prompt_kinds import INTERIOR_POINT, TIGHT_BOX, PromptKind, wants_multimask
from ..data.examples import TrainingExample
from .click_metrics import bootstrap_ci, noc
from .surface_distance import surface_scores

DEFAULT_MAX_CLICKS = 10


@dataclass(frozen=True)
class Protocol:
    key: str  # its name under "interactive" in metrics.json
    start: PromptKind
    mask_feedback: bool  # the previous low-res logits go back in as a mask prompt
    label: str

    @property
    def name(self) -> str:
        """Its name in the per-image rows' "protocol" column."""
        return f"interactive_{self.key}"


PROTOCOLS = (
    Protocol("point", INTERIOR_POINT, False, "one interior click, then corrective clicks"),
    Protocol(
        "point_mask",
        INTERIOR_POINT,
        True,
        "one interior click, then corrective clicks with the previous mask as prompt",
    ),
    Protocol("box", TIGHT_BOX, False, "tight box, then corrective clicks"),
    Protocol("box_mask", TIGHT_BOX, True, "tight box, then corrective clicks with the previous mask as prompt"),
)


@dataclass(frozen=True)
class Interaction:
    """The mask on display after one interaction, and how good it is (surface distances in original pixels)."""

    mask: np.ndarray  # (H, W) bool
    dice: float
    iou: float
    predicted_iou: float
    hd95: float
    nsd: float


@dataclass(frozen=True)
class Answer:
    """The decoder's answer to one prompt set, and what the app shows of it (the candidate with the highest
    predicted IoU), scored against the ground truth."""

    prediction: Prediction
    shown: Interaction


def answer(prediction: Prediction, target: np.ndarray) -> Answer:
    mask = prediction.best
    hd95, nsd = surface_scores(mask, target)
    predicted_iou = float(prediction.iou_scores[prediction.best_index])
    return Answer(prediction, Interaction(mask, dice(mask, target), iou(mask, target), predicted_iou, hd95, nsd))


def click_session(
    predictor: SamPredictor,
    example: TrainingExample,
    protocol: Protocol,
    max_clicks: int = DEFAULT_MAX_CLICKS,
    first: Answer | None = None,
) -> list[Interaction]:
    """1 + max_clicks interactions on one image. Once the mask is exact there is nothing to correct: the user
    stops, and the remaining interactions keep that mask. `first`: the answer to the protocol's first prompt,
    when the caller already has it."""
    prompt = protocol.start.prompt(example.mask)
    points = [] if prompt.points is None else [tuple(point) for point in prompt.points]
    labels = [] if prompt.labels is None else [int(label) for label in prompt.labels]
    mask_input = None
    session: list[Interaction] = []
    while len(session) < 1 + max_clicks:
        if first is None or session:
            prediction = predictor.decode(
                example.image,
                points=np.array(points, np.float32) if points else None,
                labels=np.array(labels, np.int32) if labels else None,
                box=prompt.box,
                mask_input=mask_input,
                multimask_output=wants_multimask(len(points), prompt.box is not None),
            )
            step = answer(prediction, example.mask)
        else:
            step = first
        session.append(step.shown)
        click = next_click(step.shown.mask, example.mask)
        if click is None:
            session += [session[-1]] * (1 + max_clicks - len(session))
            break
        points.append((click.x, click.y))
        labels.append(click.label)
        mask_input = step.prediction.low_res_logits[step.prediction.best_index] if protocol.mask_feedback else None
    return session


def per_image_row(example: TrainingExample, protocol: str, click: int, step: Interaction) -> dict:
    """One line of the per-image CSV (see `evaluate.CSV_COLUMNS`)."""
    return {
        "image": example.name,
        "class": example.label or "",
        "protocol": protocol,
        "click": click,
        "dice": step.dice,
        "iou": step.iou,
        "hd95": step.hd95,
        "nsd": step.nsd,
        "predicted_iou": step.predicted_iou,
    }


def session_rows(example: TrainingExample, protocol: Protocol, session: list[Interaction]) -> list[dict]:
    return [per_image_row(example, protocol.name, click, step) for click, step in enumerate(session, start=1)]


def summarise_interactive(rows: list[dict], max_clicks: int) -> dict:
    """{protocol key: summary} from the per-image rows of every protocol (each image's rows in click order)."""
    summaries = {}
    for protocol in PROTOCOLS:
        mine = [row for row in rows if row["protocol"] == protocol.name]
        dice_by_image = np.array([row["dice"] for row in mine]).reshape(-1, 1 + max_clicks)
        iou_by_image = np.array([row["iou"] for row in mine]).reshape(-1, 1 + max_clicks)
        summaries[protocol.key] = _summary(protocol, max_clicks, dice_by_image, iou_by_image)
    return summaries


def _summary(protocol: Protocol, max_clicks: int, dice_by_image: np.ndarray, iou_by_image: np.ndarray) -> dict:
    noc85, noc90 = noc(iou_by_image.tolist(), 0.85), noc(iou_by_image.tolist(), 0.90)
    return {
        "label": protocol.label,
        "start": protocol.start.key,
        "mask_feedback": protocol.mask_feedback,
        "max_clicks": max_clicks,
        "n": len(dice_by_image),
        "dice_by_click": dice_by_image.mean(axis=0).tolist(),
        "dice_ci95_by_click": [list(bootstrap_ci(column)) for column in dice_by_image.T],
        "iou_by_click": iou_by_image.mean(axis=0).tolist(),
        "iou_ci95_by_click": [list(bootstrap_ci(column)) for column in iou_by_image.T],
        "noc85": noc85["mean"],
        "noc90": noc90["mean"],
        "never85": noc85["never"],
        "never90": noc90["never"],
    }
