"""The tf.data pipeline and SamTrainer on phantoms with a tiny SAM: it learns; the embedding cache changes nothing."""

import numpy as np
import pytest
import tensorflow as tf

from sam_demo.core.model import load_sam, save_sam
from sam_demo.core.predictor import EncodedImage, SamPredictor
from sam_demo.data.examples import embed_examples, unembedded_examples
from sam_demo.devtools.random_models import tiny_sam
from sam_demo.evaluation.single_prompt import mean_scores
from sam_demo.training.encoder_route import EncoderRoute, encoder_route
from sam_demo.training.pipeline import TrainingPipeline
from sam_demo.training.trainer import SamTrainer


@pytest.fixture(scope="module")
def phantom_examples(load_phantoms):
    return load_phantoms(10, "images-labels", seed=5)


def first_batch(dataset: tf.data.Dataset) -> dict:
    return next(iter(dataset))


def pixel_pipeline(examples: list, processor, route: EncoderRoute) -> TrainingPipeline:
    """A pipeline of pixel values (the routes whose encoder runs in every step), all examples in one batch."""
    unembedded = unembedded_examples(list(examples), 1024)
    return TrainingPipeline(unembedded, batch_size=len(unembedded), seed=0, route=route, processor=processor)


def test_pipeline_batches_shapes_and_prompts(phantom_examples):
    model, processor = tiny_sam(seed=1)
    examples = embed_examples(SamPredictor(model, processor), list(phantom_examples[:5]))
    pipeline = TrainingPipeline(examples, batch_size=2, seed=3, point_share=0.5)
    batches = list(pipeline.epoch(1))
    # Every batch has the static shape; the last one is filled up with a copy that does not count.
    assert [len(b["index"]) for b in batches] == [2, 2, 2] and pipeline.steps_per_epoch == 3
    weights = np.concatenate([b["weight"].numpy() for b in batches])
    assert weights.tolist() == [1, 1, 1, 1, 1, 0]
    assert sorted(np.concatenate([b["index"].numpy() for b in batches])[:5].tolist()) == [0, 1, 2, 3, 4]
    for batch in batches:
        assert batch["inputs"].shape[1:] == (32, 64, 64) and batch["target"].shape[1:] == (256, 256)
        count = batch["point_count"].numpy()
        assert len(set(count)) == 1 and 0 <= count[0] <= 3  # one prompt kind per batch
        for row, index in enumerate(batch["index"].numpy()):
            example = examples[index]
            np.testing.assert_array_equal(batch["inputs"][row], example.image.embedding[0])
            if count[0] == 0:  # a box around the tumour, within 20 px per side, in the 1024 frame
                scale = 1024 / max(example.mask.shape)
                rows, cols = np.nonzero(example.mask)
                tight = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]) * scale
                assert np.abs(batch["boxes"][row].numpy() - tight).max() <= 20 * scale + 1
            else:  # the points lie on the tumour
                points = batch["points"][row, : count[0]].numpy() / (1024 / max(example.mask.shape))
                assert all(example.mask[round(y), round(x)] for x, y in points)


def test_pipeline_is_reproducible_per_epoch_and_draws_new_prompts_each_epoch(phantom_examples):
    model, processor = tiny_sam(seed=1)
    examples = embed_examples(SamPredictor(model, processor), list(phantom_examples[:6]))

    def epoch_of(pipeline, number):
        return [(b["index"].numpy().tolist(), b["boxes"].numpy().round(3).tolist()) for b in pipeline.epoch(number)]

    pipeline = TrainingPipeline(examples, batch_size=3, seed=0, point_share=0.0)
    again = TrainingPipeline(examples, batch_size=3, seed=0, point_share=0.0)
    assert epoch_of(pipeline, 2) == epoch_of(again, 2)  # a resumed run sees the same epoch
    dataset = pipeline.epoch(3)
    assert list(map(str, dataset)) == list(map(str, dataset))  # and so does a second pass over one
    one, two = epoch_of(pipeline, 1), epoch_of(pipeline, 2)
    boxes = lambda epoch: {i: box for indices, batch in epoch for i, box in zip(indices, batch)}  # noqa: E731
    assert all(boxes(one)[i] != boxes(two)[i] for i in range(6))  # not frozen by a cache, as in the notebook
    # The run's one dataset of several epochs gives each epoch's batches in turn, so a resumed run sees the same.
    together = [(b["index"].numpy().tolist(), b["boxes"].numpy().round(3).tolist()) for b in pipeline.epochs(1, 3)]
    assert together == one + two


def test_pixel_pipeline_preprocesses_each_image_once(phantom_examples, monkeypatch):
    import sam_demo.training.pipeline

    _, processor = tiny_sam(seed=1)
    examples = unembedded_examples(list(phantom_examples[:3]), 1024)
    assert not any(isinstance(e.image, EncodedImage) for e in examples)  # nothing embedded: it would go stale
    calls = []
    real = sam_demo.training.pipeline.preprocess_image
    monkeypatch.setattr(sam_demo.training.pipeline, "preprocess_image", lambda *args: calls.append(1) or real(*args))
    pipeline = TrainingPipeline(examples, batch_size=2, seed=0, route=EncoderRoute.FROZEN_IN_STEP, processor=processor)
    calls.clear()  # the signature's probe
    for epoch in (1, 2, 3):
        batches = list(pipeline.epoch(epoch))
        assert batches[0]["inputs"].shape[1:] == (3, 1024, 1024)
    assert len(calls) == 3


def test_cached_and_uncached_embeddings_give_the_same_loss(phantom_examples):
    model, processor = tiny_sam(seed=1)
    predictor = SamPredictor(model, processor)
    cached = TrainingPipeline(embed_examples(predictor, list(phantom_examples[:3])), batch_size=3, seed=0)
    pixels = pixel_pipeline(phantom_examples[:3], processor, EncoderRoute.FROZEN_IN_STEP)
    a, b = first_batch(cached.epoch(1)), first_batch(pixels.epoch(1))
    np.testing.assert_array_equal(a["boxes"], b["boxes"])
    loss_cached = SamTrainer(model, route=EncoderRoute.CACHED).losses(a)["loss"]
    loss_in_step = SamTrainer(model, route=EncoderRoute.FROZEN_IN_STEP).losses(b)["loss"]
    assert float(loss_cached) == pytest.approx(float(loss_in_step), rel=1e-4)


def test_padded_prompts_give_the_prompt_encoders_own_tokens():
    model, _ = tiny_sam(seed=4)
    trainer = SamTrainer(model)
    points = tf.constant([[[100.0, 200.0], [300.0, 400.0], [0.0, 0.0]]] * 2)
    labels = tf.constant([[1, 0, -1]] * 2)
    boxes = tf.constant([[50.0, 60.0, 500.0, 700.0]] * 2)
    ours = trainer.sam.sparse_embeddings(points, labels, boxes, tf.constant(False), tf.constant(2))
    theirs, _ = model.prompt_encoder(2, points[:, None, :2], labels[:, None, :2], None, None)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)
    ours = trainer.sam.sparse_embeddings(points, labels, boxes, tf.constant(True), tf.constant(0))
    theirs, _ = model.prompt_encoder(2, None, None, boxes[:, None], None)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)


def test_training_lowers_the_loss_and_raises_validation_dice(phantom_examples):
    model, processor = tiny_sam(seed=2)
    predictor = SamPredictor(model, processor)
    examples = embed_examples(predictor, list(phantom_examples))
    train, validation = examples[:7], examples[7:]
    encoder_before = [w.numpy().copy() for w in model.vision_encoder.weights[:3]]
    # A tiny model with a random encoder needs a high learning rate and many small epochs.
    trainer = SamTrainer(model, learning_rate=1e-2)
    # The validation Dice this reaches on 3 phantoms depends on the data order: 0.04-0.35 over seeds 0-3 (0.19-0.23
    # before the order was drawn by `stateless_shuffle`), while the loss fell by 0.5-0.9 for every seed.
    pipeline = TrainingPipeline(train, batch_size=4, seed=1, point_share=0.2)
    before = mean_scores(predictor, validation)
    batches = trainer.distribute(pipeline.epochs(0, 60))  # as train.py iterates it: one dataset for every epoch
    losses = [trainer.train_epoch(batches, steps=pipeline.steps_per_epoch) for _ in range(60)]
    after = mean_scores(predictor, validation)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2, losses
    assert after["dice"] > before["dice"] + 0.15, (before, after)
    for old, new in zip(encoder_before, model.vision_encoder.weights[:3]):
        np.testing.assert_array_equal(old, new.numpy())  # frozen


def test_single_point_batches_train_the_best_candidate(phantom_examples):
    from sam_demo.training.losses import dice_per_example

    model, processor = tiny_sam(seed=3)
    examples = embed_examples(SamPredictor(model, processor), list(phantom_examples[:2]))
    trainer = SamTrainer(model, learning_rate=1e-3)
    pipeline = TrainingPipeline(examples, batch_size=2, seed=0, point_share=1.0)
    batch = next(b for epoch in range(50) for b in pipeline.epoch(epoch) if b["point_count"][0] == 1)
    terms = trainer.losses(batch)
    masks, _ = trainer.sam.all_masks(
        batch["inputs"],
        trainer.sam.sparse_embeddings(batch["points"][:, :1], batch["labels"][:, :1], batch["boxes"], False),
        trainer.sam.no_mask_dense_embeddings(2),
    )
    targets, valid = batch["target"], batch["valid"]
    per_candidate = np.stack([dice_per_example(masks[:, k], targets, valid).numpy() for k in (1, 2, 3)], axis=1)
    assert float(terms["dice"]) == pytest.approx(per_candidate.min(axis=1).mean(), rel=1e-5)


def test_training_the_vision_encoder_changes_it(phantom_examples):
    model, processor = tiny_sam(seed=5)
    examples = unembedded_examples(list(phantom_examples[:2]), 1024)
    trainer = SamTrainer(model, learning_rate=1e-3, route=EncoderRoute.TRAINED)
    before = model.vision_encoder.weights[0].numpy().copy()
    prompt_before = model.prompt_encoder.weights[0].numpy().copy()
    pipeline = TrainingPipeline(examples, batch_size=2, seed=0, route=EncoderRoute.TRAINED, processor=processor)
    trainer.train_epoch(pipeline.epoch(1))
    assert np.abs(model.vision_encoder.weights[0].numpy() - before).max() > 0
    np.testing.assert_array_equal(model.prompt_encoder.weights[0].numpy(), prompt_before)


# float16 trains the decoder on the half-precision encoder's embeddings. Training the encoder itself in float16
# overflowed on this tiny random model (its patch-embedding bias gradient, a sum over 4096 positions, is inf at
# every step, so loss scaling skips them all): bfloat16, with float32's range, is the one tested for that.
@pytest.mark.parametrize("precision, train_vision_encoder", [("float16", False), ("bfloat16", True)])
def test_mixed_precision_runs_the_encoder_in_half_precision(
    precision, train_vision_encoder, tiny_checkpoint, phantom_examples, tmp_path
):
    full = SamPredictor(*load_sam(tiny_checkpoint))
    model, processor = load_sam(tiny_checkpoint, mixed_precision=precision)
    assert model.vision_encoder.compute_dtype == precision
    assert model.mask_decoder.compute_dtype == model.prompt_encoder.compute_dtype == "float32"
    assert all(w.dtype == tf.float32 for w in model.weights)  # the weights stay float32
    half = SamPredictor(model, processor)
    image = phantom_examples[0].image
    reference, approximate = full.encode(image).embedding, half.encode(image).embedding
    assert approximate.dtype == tf.float32
    relative = float(tf.norm(approximate - reference) / tf.norm(reference))
    assert relative < (0.01 if precision == "float16" else 0.05), relative

    route = EncoderRoute.TRAINED if train_vision_encoder else EncoderRoute.CACHED
    trainer = SamTrainer(model, learning_rate=1e-3, route=route)
    assert trainer.loss_scaling == (precision == "float16")
    if train_vision_encoder:
        examples = unembedded_examples(list(phantom_examples[:2]), 1024)
        pipeline = TrainingPipeline(examples, batch_size=1, seed=0, route=route, processor=processor)
    else:
        pipeline = TrainingPipeline(embed_examples(half, list(phantom_examples[:2])), batch_size=1, seed=0)
    decoder_before = model.mask_decoder.weights[0].numpy().copy()
    encoder_before = model.vision_encoder.weights[0].numpy().copy()
    losses = [trainer.train_epoch(pipeline.epoch(epoch)) for epoch in range(2)]
    assert np.isfinite(losses).all()
    assert np.abs(model.mask_decoder.weights[0].numpy() - decoder_before).max() > 0
    assert (np.abs(model.vision_encoder.weights[0].numpy() - encoder_before).max() > 0) == train_vision_encoder
    save_sam(model, processor, tmp_path)
    reloaded, _ = load_sam(tmp_path)
    np.testing.assert_array_equal(reloaded.mask_decoder.weights[0].numpy(), model.mask_decoder.weights[0].numpy())


@pytest.mark.parametrize(
    "embedding_cache, train_vision_encoder, route",
    [
        (True, False, EncoderRoute.CACHED),
        (False, False, EncoderRoute.FROZEN_IN_STEP),
        (True, True, EncoderRoute.TRAINED),
    ],
)
def test_the_flags_choose_one_encoder_route(embedding_cache, train_vision_encoder, route):
    chosen = encoder_route(embedding_cache=embedding_cache, train_vision_encoder=train_vision_encoder)
    assert chosen is route
    assert (
        chosen.encoder_in_step == (route is not EncoderRoute.CACHED) and chosen.trains_encoder == train_vision_encoder
    )
    assert encoder_route(embedding_cache=False, train_vision_encoder=True) is EncoderRoute.TRAINED


def test_a_route_that_feeds_pixels_needs_the_processor(phantom_examples):
    examples = unembedded_examples(list(phantom_examples[:1]), 1024)
    with pytest.raises(ValueError, match="frozen_in_step route feeds pixel values: it needs the model's processor"):
        TrainingPipeline(examples, batch_size=1, seed=0, route=EncoderRoute.FROZEN_IN_STEP)


@pytest.mark.parametrize("route", [EncoderRoute.FROZEN_IN_STEP, EncoderRoute.TRAINED])
def test_only_a_trained_encoder_is_recorded_on_the_tape(route, phantom_examples, monkeypatch):
    """A frozen encoder on the tape keeps every activation of its forward pass (ViT-B ran out of 24 GB so)."""
    watched: list[set[str]] = []

    class RecordingTape(tf.GradientTape):
        def __exit__(self, *exc):
            watched.append({variable.name for variable in self.watched_variables()})
            return super().__exit__(*exc)

    model, processor = tiny_sam(seed=2)
    pipeline = TrainingPipeline(
        unembedded_examples(list(phantom_examples[:2]), 1024), batch_size=2, seed=0, route=route, processor=processor
    )
    monkeypatch.setattr(tf, "GradientTape", RecordingTape)  # read when the step is traced, below
    SamTrainer(model, learning_rate=1e-3, route=route).train_epoch(pipeline.epoch(1))
    encoder = {variable.name for variable in model.vision_encoder.variables}
    assert watched and watched[0] & {variable.name for variable in model.mask_decoder.variables}
    assert bool(watched[0] & encoder) == (route is EncoderRoute.TRAINED)


def test_interactive_rounds_train_in_one_trace_and_lower_the_loss(phantom_examples, monkeypatch):
    """K rounds per step: corrective clicks from the error region, the previous logits as mask prompt for the
    examples the pipeline marked; one trace serves every round and every prompt kind."""
    import sam_demo.training.trainer as trainer_module

    model, processor = tiny_sam(seed=2)
    examples = embed_examples(SamPredictor(model, processor), list(phantom_examples[:6]))
    clicks = []
    real = trainer_module.next_clicks

    def recording(*args, **kwargs):
        points, labels = real(*args, **kwargs)
        clicks.append(labels)
        return points, labels

    monkeypatch.setattr(trainer_module, "next_clicks", recording)
    trainer = SamTrainer(model, learning_rate=1e-2, interactive_rounds=3)
    pipeline = TrainingPipeline(examples, batch_size=3, seed=0, point_share=0.5, interactive_rounds=3)
    batch = first_batch(pipeline.epoch(0))
    assert batch["points"].shape[1:] == (5, 2) and batch["mask_prompt"].shape[1:] == (2,)
    traces = []
    step = trainer._distributed_step
    trainer._step = tf.function(lambda b: traces.append(1) or step(b), autograph=False)
    losses = [trainer.train_epoch(pipeline.epoch(epoch)) for epoch in range(30)]
    assert len(traces) == 1  # boxes and 1-3 points, three rounds each: one graph
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2, losses
    labels = np.concatenate(clicks)
    assert {0, 1} <= set(labels.tolist())  # positive and negative corrective clicks were both simulated


def test_a_corrective_click_lands_in_the_missed_region_in_the_model_frame():
    model, _ = tiny_sam(seed=2)
    trainer = SamTrainer(model, interactive_rounds=2)
    target = np.zeros((2, 256, 256), np.float32)
    target[:, 100:120, 40:60] = 1  # rows 100-119, columns 40-59
    previous = np.full((2, 256, 256), -5.0, np.float32)  # nothing predicted: the lesion is missed
    previous[1, 100:120, 40:60] = 5.0
    previous[1, 0:50, 200:256] = 5.0  # the second example found it, but also a false blob
    batch = {"target": target, "valid": np.ones_like(target), "click_seed": tf.constant([7, 8], tf.int64)}
    points = tf.zeros((2, 4, 2))
    labels = tf.constant([[1, -1, -1, -1]] * 2)
    points, labels = trainer._with_corrective_click(points, labels, tf.constant(1), previous, batch, 0)
    assert labels.numpy()[:, 1].tolist() == [1, 0] and labels.numpy()[:, 2:].tolist() == [[-1, -1]] * 2
    cells = points.numpy()[:, 1] / 4 - 0.5  # model frame: 1024 / 256 = 4 pixels per low-res cell
    assert 40 <= cells[0, 0] < 60 and 100 <= cells[0, 1] < 120  # inside the missed lesion (x, y)
    assert 200 <= cells[1, 0] < 256 and 0 <= cells[1, 1] < 50  # inside the false blob


def test_weight_decay_spares_norms_biases_and_tokens():
    """AdamW's decay shrinks the matrices only: with zero gradients the Adam part is 0, so what moves is decay."""
    model, _ = tiny_sam(seed=2)
    trainer = SamTrainer(model, learning_rate=0.1, weight_decay=0.5)
    before = {variable.name: variable.numpy().copy() for variable in trainer.variables}
    trainer.optimizer.apply_gradients((tf.zeros_like(variable), variable) for variable in trainer.variables)
    moved = {v.name for v in trainer.variables if np.abs(v.numpy() - before[v.name]).max() > 0}
    kernels = {v.name for v in trainer.variables if v.name.endswith("kernel:0")}
    assert moved == kernels
    assert any("layer_norm" in name for name in before) and any("token" in name for name in before)


def test_every_output_of_the_iou_head_is_trained_and_bce_is_on_by_default(phantom_examples):
    from sam_demo.training.losses import mask_iou

    model, processor = tiny_sam(seed=3)
    examples = embed_examples(SamPredictor(model, processor), list(phantom_examples[:2]))
    trainer = SamTrainer(model)
    assert trainer.bce_weight == 1.0  # Dice alone let a tiny decoder settle on empty masks
    batch = first_batch(TrainingPipeline(examples, batch_size=2, seed=0, point_share=0.0).epoch(0))
    terms = trainer.losses(batch)
    assert "bce" in terms
    sparse = trainer.sam.sparse_embeddings(batch["points"], batch["labels"], batch["boxes"], True, 0)
    masks, predicted = trainer.sam.all_masks(batch["inputs"], sparse, trainer.sam.no_mask_dense_embeddings(2))
    real = np.stack([mask_iou(masks[:, k], batch["target"], batch["valid"]).numpy() for k in range(4)], axis=1)
    assert float(terms["iou_head"]) == pytest.approx(np.mean((predicted.numpy() - real) ** 2), rel=1e-4)


def test_gradient_checkpointing_recomputes_every_block_for_the_same_gradients(phantom_examples, monkeypatch):
    from transformers.models.sam.modeling_tf_sam import TFSamVisionLayer

    model, processor = tiny_sam(seed=6)
    pipeline = pixel_pipeline(phantom_examples[:2], processor, EncoderRoute.TRAINED)
    batch = first_batch(pipeline.epoch(1))
    calls: list[str] = []
    real = TFSamVisionLayer.call

    @tf.autograph.experimental.do_not_convert
    def recording(self, *args, **kwargs):
        calls.append(self.name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TFSamVisionLayer, "call", recording)
    gradients, block_calls = {}, {}
    for checkpointing in (False, True):
        calls.clear()
        trainer = SamTrainer(model, route=EncoderRoute.TRAINED, gradient_checkpointing=checkpointing)
        with tf.GradientTape() as tape:
            loss = trainer.losses(batch)["loss"]
        gradients[checkpointing] = tape.gradient(loss, trainer.variables)
        block_calls[checkpointing] = sorted(calls)
    blocks = sorted(block.name for block in model.vision_encoder.layers)
    assert block_calls[False] == blocks and block_calls[True] == sorted(blocks * 2)  # each block run again, backward
    encoder = {variable.name for variable in model.vision_encoder.trainable_variables}
    for variable, plain, recomputed in zip(trainer.variables, gradients[False], gradients[True]):
        # float32 sums in another order: measured within 1e-6 of each gradient's norm (single elements differ more)
        assert float(tf.norm(recomputed - plain)) <= 1e-5 * float(tf.norm(plain)), variable.name
    moved = [float(tf.reduce_max(tf.abs(g))) for v, g in zip(trainer.variables, gradients[True]) if v.name in encoder]
    assert len(moved) == len(encoder) and max(moved) > 0


def test_the_memory_check_names_the_flags_that_would_make_a_run_fit():
    from sam_demo.training.memory import MemoryEstimate, shortfall

    plain, checkpointed = MemoryEstimate(4000, 11000), MemoryEstimate(4000, 3000)
    assert shortfall(2, False, available_mb=30000, plain=plain, checkpointed=checkpointed) is None
    assert shortfall(2, True, available_mb=10000, plain=plain, checkpointed=checkpointed) is None
    message = shortfall(2, False, available_mb=16000, plain=plain, checkpointed=checkpointed)
    assert "--batch-size 2 needs about 25.4 GB" in message and "15.6 GB of memory are available" in message
    assert message.endswith("add --gradient-checkpointing (about 9.8 GB).") and "\n" not in message
    message = shortfall(4, False, available_mb=12000, plain=plain, checkpointed=checkpointed)
    assert message.endswith("add --gradient-checkpointing and use --batch-size 2.")
    message = shortfall(4, True, available_mb=12000, plain=plain, checkpointed=checkpointed)
    assert "with --batch-size 4 and --gradient-checkpointing needs about 15.6 GB" in message
    assert message.endswith("use --batch-size 2.")
    message = shortfall(1, True, available_mb=6000, plain=plain, checkpointed=checkpointed)
    assert "does not fit even with --gradient-checkpointing and --batch-size 1" in message


def test_the_memory_estimate_follows_the_measured_vit_b_and_grows_with_the_encoder():
    from transformers import SamVisionConfig

    from sam_demo.devtools.random_models import ARCHITECTURES
    from sam_demo.training.memory import encoder_training_estimate

    base, large = (SamVisionConfig(**ARCHITECTURES[name]) for name in ("base", "large"))
    # Peak RSS measured twice with `python -m sam_demo.bench train-encoder --arch base` (README): the estimate may
    # be a little above either measurement, never below.
    for checkpointing, batch_size, measured_mb in [
        (False, 1, (14472, 15648)),
        (True, 1, (6964, 7243)),
        (True, 2, (10025, 10505)),
    ]:
        estimate = encoder_training_estimate(base, checkpointing).total_mb(batch_size)
        assert max(measured_mb) <= estimate <= 1.1 * min(measured_mb), (checkpointing, batch_size, estimate)
    for checkpointing in (False, True):
        small, big = (encoder_training_estimate(vision, checkpointing) for vision in (base, large))
        assert big.per_image_mb > small.per_image_mb and big.fixed_mb > 2 * small.fixed_mb
    assert (
        encoder_training_estimate(large, False).per_image_mb > 5 * encoder_training_estimate(large, True).per_image_mb
    )


def test_the_memory_check_reads_the_checkpoint_config(tiny_checkpoint, monkeypatch):
    import sam_demo.training.memory as memory

    monkeypatch.setattr(memory, "available_memory_mb", lambda: 64_000.0)
    memory.check_encoder_training_memory(str(tiny_checkpoint), 2, False)  # the tiny model fits
    monkeypatch.setattr(memory, "available_memory_mb", lambda: 500.0)
    with pytest.raises(memory.InsufficientMemoryError, match="--gradient-checkpointing and --batch-size 1"):
        memory.check_encoder_training_memory(str(tiny_checkpoint), 2, False)
