"""The app's click-after-click loop, measured: a first prompt, then corrective clicks, as a careful user gives them.

Each protocol starts from one interior click or the tight box (`core.prompt_kinds`), then adds up to
`max_clicks` corrective clicks, each on the most interior pixel of the largest error region of the mask on
display (`core.corrective_clicks`, deterministic), and decodes again with every prompt so far; with or without
the previous prediction's low-res logits as mask prompt (the app's "mask feedback" setting). The image's
embedding is computed once; every interaction is one decoder call.

Reported per protocol: Dice and IoU after each interaction (interaction 1 is the first prompt) with 95 %
bootstrap intervals, and NoC@85 / NoC@90, the interactions needed to reach IoU 0.85 / 0.90 (an image that
never does counts as one more than the interactions allowed; how many never do is reported too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.corrective_clicks import next_click
from ..core.masks import dice, iou
from ..core.predictor import SamPredictor
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
    """The mask on display after one interaction, and how good it is."""

    mask: np.ndarray  # (H, W) bool
    dice: float
    iou: float
    predicted_iou: float


def click_session(
    predictor: SamPredictor, example: TrainingExample, protocol: Protocol, max_clicks: int = DEFAULT_MAX_CLICKS
) -> list[Interaction]:
    """1 + max_clicks interactions on one image. Once the mask is exact there is nothing to correct: the user
    stops, and the remaining interactions keep that mask."""
    prompt = protocol.start.prompt(example.mask)
    points = [] if prompt.points is None else [tuple(point) for point in prompt.points]
    labels = [] if prompt.labels is None else [int(label) for label in prompt.labels]
    mask_input = None
    session: list[Interaction] = []
    while len(session) < 1 + max_clicks:
        prediction = predictor.decode(
            example.image,
            points=np.array(points, np.float32) if points else None,
            labels=np.array(labels, np.int32) if labels else None,
            box=prompt.box,
            mask_input=mask_input,
            multimask_output=wants_multimask(len(points), prompt.box is not None),
        )
        shown = prediction.best_index  # what the app shows: the candidate with the highest predicted IoU
        mask = prediction.masks[shown]
        session.append(
            Interaction(mask, dice(mask, example.mask), iou(mask, example.mask), float(prediction.iou_scores[shown]))
        )
        click = next_click(mask, example.mask)
        if click is None:
            session += [session[-1]] * (1 + max_clicks - len(session))
            break
        points.append((click.x, click.y))
        labels.append(click.label)
        mask_input = prediction.low_res_logits[shown] if protocol.mask_feedback else None
    return session


def evaluate_interactive(
    predictor: SamPredictor, examples: list[TrainingExample], max_clicks: int = DEFAULT_MAX_CLICKS
) -> tuple[dict, list[dict]]:
    """({protocol key: summary}, per-image rows) for every protocol of `PROTOCOLS`.

    A row per image, protocol and interaction: image, class, protocol ("interactive_" + key), click, dice, iou,
    hd95, nsd, predicted_iou.
    """
    summaries, rows = {}, []
    for protocol in PROTOCOLS:
        dice_by_image, iou_by_image = [], []
        for example in examples:
            session = click_session(predictor, example, protocol, max_clicks)
            dice_by_image.append([step.dice for step in session])
            iou_by_image.append([step.iou for step in session])
            rows += [
                per_image_row(example, f"interactive_{protocol.key}", click, step)
                for click, step in enumerate(session, start=1)
            ]
        summaries[protocol.key] = _summary(protocol, max_clicks, np.array(dice_by_image), np.array(iou_by_image))
    return summaries, rows


def per_image_row(example: TrainingExample, protocol: str, click: int, step: Interaction) -> dict:
    """One line of the per-image CSV; the surface distances in pixels of the original image (NSD at 2 px)."""
    hd95, nsd = surface_scores(step.mask, example.mask)
    return {
        "image": example.name,
        "class": example.label or "",
        "protocol": protocol,
        "click": click,
        "dice": step.dice,
        "iou": step.iou,
        "hd95": hd95,
        "nsd": nsd,
        "predicted_iou": step.predicted_iou,
    }


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
