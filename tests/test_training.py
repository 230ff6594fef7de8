"""Fine-tuning the mask decoder on phantoms with a tiny SAM: it learns, and the embedding cache changes nothing."""

import numpy as np
import pytest
import tensorflow as tf

from sam_demo.data import find_examples, load_examples, write_phantom_dataset
from sam_demo.evaluation import mean_scores
from sam_demo.model import tiny_sam
from sam_demo.predictor import SamPredictor
from sam_demo.training import (
    DecoderTrainer,
    embed_examples,
    embeddings_without_cache,
    sample_prompts,
    stack_batch,
    train_epoch,
)
from sam_demo.transforms import low_res_target


@pytest.fixture(scope="module")
def phantom_examples(tmp_path_factory):
    root = write_phantom_dataset(tmp_path_factory.mktemp("phantoms"), 10, layout="images-labels", seed=5)
    return load_examples(find_examples(root)).examples


def test_low_res_target_covers_the_image_not_the_padding():
    mask = np.zeros((300, 600), bool)
    mask[100:200, 300:450] = True
    target, valid = low_res_target(mask)
    assert target.shape == valid.shape == (256, 256)
    assert valid[:128].all() and not valid[128:].any()  # 300x600 -> 128x256, padded below
    rows, cols = np.nonzero(target)
    assert 42 <= rows.min() <= 43 and 84 <= rows.max() <= 85 and 127 <= cols.min() <= 128 and 191 <= cols.max() <= 192


def test_cached_and_uncached_embeddings_give_the_same_loss(phantom_examples):
    model, processor = tiny_sam(seed=1)
    predictor = SamPredictor(model, processor)
    examples = embed_examples(predictor, list(phantom_examples[:3]))
    trainer = DecoderTrainer(model, learning_rate=1e-3)
    prompts = sample_prompts(examples, np.random.default_rng(0), point_share=0.0)
    cached, targets, valid = stack_batch(examples)
    uncached = embeddings_without_cache(predictor, examples)
    a = trainer.losses(cached, prompts, targets, valid)
    b = trainer.losses(uncached, prompts, targets, valid)
    assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-4)


def test_training_lowers_the_loss_and_raises_validation_dice(phantom_examples):
    model, processor = tiny_sam(seed=2)
    predictor = SamPredictor(model, processor)
    examples = embed_examples(predictor, list(phantom_examples))
    train, validation = examples[:7], examples[7:]
    encoder_before = [w.numpy().copy() for w in model.vision_encoder.weights[:3]]
    # A tiny model with a random encoder needs a high learning rate and many small epochs (0.3 s each).
    trainer = DecoderTrainer(model, learning_rate=1e-2)
    rng = np.random.default_rng(0)
    before = mean_scores(predictor, validation)
    losses = [train_epoch(trainer, train, rng, batch_size=4, point_share=0.2) for _ in range(60)]
    after = mean_scores(predictor, validation)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2, losses
    assert after["dice"] > before["dice"] + 0.15, (before, after)
    for old, new in zip(encoder_before, model.vision_encoder.weights[:3]):
        np.testing.assert_array_equal(old, new.numpy())  # frozen


def test_single_point_batches_train_the_best_candidate(phantom_examples):
    model, processor = tiny_sam(seed=3)
    examples = embed_examples(SamPredictor(model, processor), list(phantom_examples[:2]))
    trainer = DecoderTrainer(model, learning_rate=1e-3)
    rng = np.random.default_rng(4)
    while True:
        prompts = sample_prompts(examples, rng, point_share=1.0, max_points=1)
        if prompts.ambiguous:
            break
    embeddings, targets, valid = stack_batch(examples)
    terms = trainer.losses(embeddings, prompts, targets, valid)
    masks, _ = trainer.sam.all_masks(
        embeddings,
        trainer.sam.batch_sparse_embeddings(tf.constant(prompts.points), tf.constant(prompts.labels), None),
        trainer.sam.no_mask_dense_embeddings(2),
    )
    from sam_demo.losses import dice_per_example

    per_candidate = np.stack([dice_per_example(masks[:, k], targets, valid).numpy() for k in (1, 2, 3)], axis=1)
    assert float(terms["dice"]) == pytest.approx(per_candidate.min(axis=1).mean(), rel=1e-5)
