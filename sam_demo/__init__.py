"""Prompted breast-tumour segmentation in ultrasound images with Segment Anything (TensorFlow).

The public API is importable from here: `load_sam`, `save_sam`, `ModelLoadError`, `SamPredictor`, `Prediction`,
`EncodedImage`, `load_image`, `overlay`. The subpackages are the inference core (`core`), drawing (`drawing`), the
app (`app`), datasets (`data`), fine-tuning (`training`), evaluation (`evaluation`), publishing (`publishing`) and
development tools (`devtools`); ARCHITECTURE.md says how they fit together.
"""

import os

# transformers' TensorFlow models refuse Keras 3: they must run on tf-keras (legacy Keras 2).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) buries the messages users need.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Where each public name lives. Imported on first use, so that `import sam_demo.publishing.hub` (which uploads a
# folder) or `sam_demo.drawing` does not pay for TensorFlow.
_PUBLIC = {
    "load_sam": "core.model",
    "save_sam": "core.model",
    "ModelLoadError": "core.model",
    "SamPredictor": "core.predictor",
    "Prediction": "core.predictor",
    "EncodedImage": "core.predictor",
    "load_image": "core.image_io",
    "overlay": "drawing.viz",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'sam_demo' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
