"""Prompted breast-tumour segmentation in ultrasound images with Segment Anything (TensorFlow)."""

import os

# transformers' TensorFlow models refuse Keras 3: they must run on tf-keras (legacy Keras 2).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) buries the messages users need.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
