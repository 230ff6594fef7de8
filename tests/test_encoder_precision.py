"""The encoder's precision: chosen by CPU for "auto", checked against the loaded model, run without XLA in bfloat16."""

import numpy as np
import pytest
import tensorflow as tf

from sam_demo.core.encoder_precision import cpu_flags, resolve_encoder_precision
from sam_demo.core.masks import iou
from sam_demo.core.model import load_sam
from sam_demo.core.predictor import SamPredictor
from sam_demo.devtools.phantom import make_phantom

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512_vnni"}


@pytest.mark.parametrize(
    "requested, flags, onednn, expected",
    [
        ("auto", AVX2, False, "float32"),  # this project's development machine
        ("auto", AVX512, True, "float32"),  # AVX-512 without BF16: bfloat16 would be emulated
        ("auto", AVX512 | {"avx512_bf16"}, True, "bfloat16"),
        ("auto", AVX512 | {"amx_tile", "amx_bf16"}, True, "bfloat16"),
        ("auto", AVX512 | {"avx512_bf16"}, False, "float32"),  # TF_ENABLE_ONEDNN_OPTS=0: no fast bfloat16 kernels
        ("float32", AVX512 | {"avx512_bf16"}, True, "float32"),
        ("bfloat16", AVX2, False, "bfloat16"),  # asked for: done, even where it is slow
    ],
)
def test_auto_picks_bfloat16_only_with_native_instructions(requested, flags, onednn, expected):
    assert resolve_encoder_precision(requested, flags=flags, onednn=onednn) == expected


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        resolve_encoder_precision("float16")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx2 avx512_bf16\n\nflags\t: other\n"
    )
    assert cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.fixture(scope="module")
def bfloat16_predictor(tiny_checkpoint):
    return SamPredictor(*load_sam(tiny_checkpoint, mixed_precision="bfloat16"), encoder_precision="bfloat16")


def test_bfloat16_runs_without_xla_and_agrees_with_float32(predictor, bfloat16_predictor):
    assert predictor.encoder_path == "float32 XLA"
    assert bfloat16_predictor.encoder_path.startswith("bfloat16 ") and "XLA" not in bfloat16_predictor.encoder_path
    image, mask = make_phantom(3, size=(240, 300))
    reference, half = predictor.encode(image), bfloat16_predictor.encode(image)
    assert half.embedding.dtype == tf.float32
    relative = float(tf.norm(half.embedding - reference.embedding) / tf.norm(reference.embedding))
    assert 0 < relative < 0.05  # rounded, but only just
    rows, cols = np.nonzero(mask)
    box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    a = predictor.decode(reference, box=box, multimask_output=False).masks[0]
    b = bfloat16_predictor.decode(half, box=box, multimask_output=False).masks[0]
    assert iou(a, b) > 0.9


@pytest.mark.parametrize("requested", ["float32", "bfloat16"])
def test_a_precision_the_model_was_not_loaded_for_is_refused(tiny_model, bfloat16_predictor, requested):
    model = bfloat16_predictor.model if requested == "float32" else tiny_model[0]
    with pytest.raises(ValueError, match="load it with load_sam"):
        SamPredictor(model, tiny_model[1], encoder_precision=requested)
