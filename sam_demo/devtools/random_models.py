"""Randomly initialised SAMs with real dimensions, for tests and benchmarks: their masks mean nothing."""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from transformers import (
    SamConfig,
    SamImageProcessor,
    SamMaskDecoderConfig,
    SamProcessor,
    SamPromptEncoderConfig,
    SamVisionConfig,
    TFSamModel,
)

# Vision-encoder sizes of Meta's released checkpoints; the prompt encoder and mask decoder are the same for all.
ARCHITECTURES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, global_attn_indexes=[2, 5, 8, 11]),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, global_attn_indexes=[5, 11, 17, 23]),
    "huge": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, global_attn_indexes=[7, 15, 23, 31]),
}


def tiny_sam(seed: int = 0) -> tuple[TFSamModel, SamProcessor]:
    """A randomly initialised SAM with a tiny configuration (about 0.2 M parameters).

    For tests and benchmarks only: its masks mean nothing. It has the real classes, input size (1024) and
    embedding grid (64x64), so everything around the model behaves as with a real checkpoint.
    """
    decoder_width = 32
    config = SamConfig(
        vision_config=SamVisionConfig(
            hidden_size=32,
            output_channels=decoder_width,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_dim=64,
            window_size=8,
            global_attn_indexes=[1],
            # The positional encoding is shared with the prompt encoder: half of its width each for sin and cos.
            num_pos_feats=decoder_width // 2,
        ),
        prompt_encoder_config=SamPromptEncoderConfig(hidden_size=decoder_width, mask_input_channels=8),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=decoder_width, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32
        ),
    )
    model, processor = _random_model(config, seed)
    # transformers' TF port draws the random Fourier features of the positional encoding with a standard
    # deviation of half the vision width (16 here); Meta's SAM uses 1. With 16, nearby pixels get unrelated
    # encodings and a tiny model cannot learn where a box is within a few training steps.
    embedding = model.shared_image_embedding.positional_embedding
    embedding.assign(tf.random.stateless_normal(embedding.shape, seed=(seed, 1)))
    return model, processor


def sam_architecture(size: str, seed: int = 0) -> tuple[TFSamModel, SamProcessor]:
    """A randomly initialised SAM with the real `base`, `large` or `huge` dimensions (nothing is downloaded).

    For benchmarks: speed and memory are those of the released checkpoint, the masks are meaningless.
    """
    if size == "tiny":
        return tiny_sam(seed)
    if size not in ARCHITECTURES:
        raise ValueError(f"Unknown SAM size {size!r}: choose one of tiny, {', '.join(ARCHITECTURES)}.")
    return _random_model(SamConfig(vision_config=SamVisionConfig(**ARCHITECTURES[size])), seed)


def _random_model(config: SamConfig, seed: int) -> tuple[TFSamModel, SamProcessor]:
    tf_keras.utils.set_random_seed(seed)
    model = TFSamModel(config)
    model.build_in_name_scope()
    return model, SamProcessor(SamImageProcessor())
