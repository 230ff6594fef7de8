"""Fine-tuning: the input pipeline, losses, the trainer, checkpoints, distribution and the run."""
