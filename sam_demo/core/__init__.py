"""The inference core: loading and saving checkpoints, the predictor, prompts, images and masks."""
