"""`/segment`, the endpoint for programs: an image and its prompts in, the mask and predicted IoU scores out.

Stateless: every call names its image and all its prompts (no session, no undo, no mask prompt), so a script can
send many images. It runs in the encoder's queue and uses the predictor's embedding cache, so a second call on
the same image only decodes. The hidden components below exist to give the endpoint its typed parameters, which
`gradio_client` and the page's "Use via API" panel describe.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..core.predictor import SamPredictor
from ..core.prompts import PromptError
from ..drawing.viz import mask_to_png_array
from .downloads import Downloads
from .queue_limits import ENCODER_QUEUE
from .uploads import UploadedImage, read_upload
from .user_errors import refusal


class SegmentEndpoint:
    def __init__(self, predictor: SamPredictor, downloads: Downloads):
        self.predictor = predictor
        self.downloads = downloads  # written once, served as is (see downloads.py)

    def segment(
        self,
        image: str | None,
        points: list[list[float]] | None = None,
        labels: list[int] | None = None,
        box: list[float] | None = None,
        multimask: bool = True,
    ) -> tuple[str, list[float]]:
        """Segment `image` from (x, y) `points` in image pixels with `labels` (1 tumour, 0 background) and/or a
        `box` (x0, y0, x1, y1). Returns the mask with the highest predicted IoU (PNG at the image's size, 255
        inside) and the predicted IoU of every candidate (three with `multimask`, else one), as the model gives
        them (they can fall slightly outside [0, 1]). Research demo, not for clinical use."""
        if image is None:
            raise refusal("Give an image to segment.", "No image")
        pixels = read_upload(image)
        encoded = self.predictor.encode(pixels)
        try:
            prediction = self.predictor.decode(
                encoded, points or None, labels or None, box or None, multimask_output=bool(multimask)
            )
        except PromptError as error:
            raise refusal(f"Cannot use these prompts: {error}", "Bad prompt") from error
        name = f"{Path(image).stem}_mask.png"
        mask_file = self.downloads.write({name: mask_to_png_array(prediction.best)})[name]
        return mask_file, [float(score) for score in prediction.iou_scores]


def add_segment_endpoint(predictor: SamPredictor, downloads: Downloads, concurrency_limit: int) -> None:
    """Inside a `gr.Blocks`: the hidden inputs and outputs of `/segment`, in the encoder's queue."""
    endpoint = SegmentEndpoint(predictor, downloads)
    with gr.Group(visible=False):
        image = UploadedImage(label="image", type="filepath", image_mode=None)
        points = gr.JSON(label="points")
        labels = gr.JSON(label="labels")
        box = gr.JSON(label="box")
        multimask = gr.Checkbox(value=True, label="multimask")
        mask = gr.Image(label="mask", type="numpy", format="png")
        scores = gr.JSON(label="iou_scores")
        trigger = gr.Button()
    trigger.click(
        endpoint.segment,
        [image, points, labels, box, multimask],
        [mask, scores],
        api_name="segment",
        concurrency_limit=concurrency_limit,
        concurrency_id=ENCODER_QUEUE,
    )
