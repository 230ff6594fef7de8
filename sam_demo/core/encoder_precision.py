"""Which precision, and which compiler, the vision encoder runs with on the CPU at hand.

Measured on 2 cores with AVX-512 BF16 (issue 11): bfloat16 through oneDNN *without* XLA took 2.08 s (ViT-B) and
5.8 s (ViT-L) per image against 2.9 s and 8.1 s in float32 under XLA; bfloat16 *under* XLA was slower (5.1 s,
ViT-B). Without native bfloat16 instructions (AVX2, AVX-512 without BF16) float32 under XLA is the fast path.
The precision is a property of how the model is built (`load_sam(..., mixed_precision="bfloat16")` keeps the
weights float32 and casts the encoder's activations), so it is chosen before loading.
"""

from __future__ import annotations

from pathlib import Path

PRECISIONS = ("auto", "float32", "bfloat16")
# Either gives the CPU bfloat16 dot products (AVX512_BF16 on Cooper Lake, Zen 4 and later; AMX on Sapphire Rapids).
NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of the first CPU in `cpuinfo` (empty where there is no such file)."""
    try:
        with open(cpuinfo) as lines:
            for line in lines:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN kernels: by default only on CPUs with AVX512_VNNI, BF16 or AMX;
    `TF_ENABLE_ONEDNN_OPTS` overrides. Without them, bfloat16 falls back to TF's slow generic kernels."""
    from tensorflow.python.util import _pywrap_util_port  # the only place TF reports the decision it took

    return bool(_pywrap_util_port.IsMklEnabled())


def resolve_encoder_precision(requested: str, flags: frozenset[str] | None = None, onednn: bool | None = None) -> str:
    """ "float32" or "bfloat16" for `requested` ("auto", "float32" or "bfloat16").

    "auto" is bfloat16 only where the CPU has native bfloat16 instructions and TensorFlow's oneDNN kernels are
    on; everywhere else float32. `flags` and `onednn` default to this machine's.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"encoder precision must be one of {', '.join(PRECISIONS)}, not {requested!r}.")
    if requested != "auto":
        return requested
    flags = cpu_flags() if flags is None else flags
    onednn = onednn_enabled() if onednn is None else onednn
    return "bfloat16" if flags & NATIVE_BFLOAT16_FLAGS and onednn else "float32"


def uses_xla(compute_dtype: str) -> bool:
    """XLA for every encoder dtype but bfloat16, which oneDNN runs faster uncompiled (see the module docstring)."""
    return compute_dtype != "bfloat16"


def encoder_path(compute_dtype: str) -> str:
    """How the encoder runs, for logs and benchmarks: "float32 XLA", "bfloat16 oneDNN" or "bfloat16 Eigen"."""
    if uses_xla(compute_dtype):
        return f"{compute_dtype} XLA"
    # TensorFlow's oneDNN kernels take bfloat16 only with AVX-512 (it logs so and falls back to Eigen's).
    return f"{compute_dtype} {'oneDNN' if onednn_enabled() and 'avx512f' in cpu_flags() else 'Eigen'}"
