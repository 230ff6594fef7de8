"""The three frames (original pixels, 1024 model input, 256 low-res masks) and the moves between them."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sam_demo.core.prompts import LOW_RES_SIZE
from sam_demo.core.transforms import (
    low_res_target,
    preprocess_image,
    resized_size,
    to_model_frame,
    upscale_logits,
)


@pytest.mark.parametrize(
    "original, resized",
    [((480, 600), (819, 1024)), ((600, 440), (1024, 751)), ((37, 1000), (38, 1024)), ((5, 5), (1024, 1024))],
)
def test_resized_size_rounds_as_the_image_processor(tiny_model, original, resized):
    _, processor = tiny_model
    assert resized_size(original) == resized
    image = np.zeros((*original, 3), np.uint8)
    pixels, processed = preprocess_image(processor, image)
    assert processed == resized and pixels.shape == (1, 3, 1024, 1024) and pixels.dtype == np.float32


def test_prompt_coordinates_scale_into_the_model_frame():
    corners = np.array([[0, 0], [600, 480], [300, 240]], np.float32)  # (x, y) of a 480 x 600 image
    np.testing.assert_allclose(to_model_frame(corners, (480, 600), (819, 1024)), [[0, 0], [1024, 819], [512, 409.5]])


def test_low_res_target_covers_the_image_not_the_padding():
    mask = np.zeros((300, 600), bool)
    mask[100:200, 300:450] = True
    target, valid = low_res_target(mask)
    assert target.shape == valid.shape == (256, 256)
    assert valid[:128].all() and not valid[128:].any()  # 300x600 -> 128x256, padded below
    rows, cols = np.nonzero(target)
    assert 42 <= rows.min() <= 43 and 84 <= rows.max() <= 85 and 127 <= cols.min() <= 128 and 191 <= cols.max() <= 192


def test_low_res_target_of_an_empty_mask_is_empty_over_the_image():
    target, valid = low_res_target(np.zeros((100, 50), bool))
    assert target.shape == (LOW_RES_SIZE, LOW_RES_SIZE) and not target.any()
    assert valid[:, :128].all() and not valid[:, 128:].any()  # 100x50 -> 256x128, padded on the right


@pytest.mark.parametrize(
    "original, resized", [((480, 600), (819, 1024)), ((600, 440), (1024, 751)), ((37, 1000), (38, 1024))]
)
def test_upscaling_equals_the_processors_post_processing(tiny_model, original, resized):
    _, processor = tiny_model
    low_res = tf.random.stateless_normal((3, 256, 256), seed=(1, 2))
    ours = upscale_logits(low_res, tf.constant(original), tf.constant(resized)).numpy()
    reference = processor.image_processor.post_process_masks(
        low_res[None, None], [original], [resized], binarize=False, return_tensors="tf"
    )[0][0].numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-5)


@pytest.mark.parametrize("original", [(1, 40), (3, 40), (40, 1), (40, 3), (1, 1), (3, 3), (1, 3), (3, 1)])
def test_preprocessing_reads_thin_images_as_channels_last(tiny_model, original):
    # A 3-pixel-high image is (3, W, 3): guessed, its rows would be taken for the colour channels.
    _, processor = tiny_model
    colour = np.array([200, 100, 0], np.uint8)
    pixels, (height, width) = preprocess_image(processor, np.broadcast_to(colour, (*original, 3)).copy())
    assert (height, width) == resized_size(original)
    mean, std = np.array(processor.image_processor.image_mean), np.array(processor.image_processor.image_std)
    expected = (colour / 255.0 - mean) / std
    np.testing.assert_allclose(pixels[0, :, :height, :width].mean(axis=(1, 2)), expected, atol=1e-4)
    assert not pixels[0, :, height:, :].any() and not pixels[0, :, :, width:].any()


def test_preprocessing_pads_below_and_right_with_zeros(tiny_model):
    _, processor = tiny_model
    image = np.asarray(Image.new("RGB", (600, 480), (200, 120, 40)))
    pixels, (height, width) = preprocess_image(processor, image)
    assert (height, width) == (819, 1024)
    assert not pixels[0, :, height:, :].any()  # the padding
    assert pixels[0, :, :height, :].std(axis=(1, 2)).max() < 1e-3  # a flat image stays flat, normalised
