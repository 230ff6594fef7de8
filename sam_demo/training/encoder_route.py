"""Where each training image's embedding comes from: the one decision about the vision encoder in training."""

from __future__ import annotations

from enum import Enum


class EncoderRoute(Enum):
    """How the vision encoder takes part in training."""

    # The frozen encoder embeds each image once, before training; every epoch trains the decoder on those.
    CACHED = "cached"
    # The frozen encoder runs again in every step, as the original notebook did: the same loss, far slower.
    FROZEN_IN_STEP = "frozen_in_step"
    # The encoder is trained: it runs, with gradients, in every step, and every embedding changes each epoch.
    TRAINED = "trained"

    @property
    def encoder_in_step(self) -> bool:
        """Training batches carry pixel values (and the step runs the encoder), not stored embeddings."""
        return self is not EncoderRoute.CACHED

    @property
    def trains_encoder(self) -> bool:
        return self is EncoderRoute.TRAINED


def encoder_route(*, embedding_cache: bool, train_vision_encoder: bool) -> EncoderRoute:
    """The route that train.py's `--no-embedding-cache` and `--train-vision-encoder` choose."""
    if train_vision_encoder:
        return EncoderRoute.TRAINED
    return EncoderRoute.CACHED if embedding_cache else EncoderRoute.FROZEN_IN_STEP
