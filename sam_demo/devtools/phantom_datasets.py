"""Phantom datasets on disk, in the layouts `sam_demo.data.layouts` reads: for tests and benchmarks."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.layouts import Layout
from .phantom import KINDS, make_phantom


def write_phantom_dataset(
    folder: Path,
    count: int,
    layout: Layout = "images-labels",
    seed: int = 0,
    size: tuple[int, int] = (256, 320),
) -> Path:
    """Write `count` phantom image/mask pairs (seeds seed, seed+1, ...) in `layout` under `folder`; return it.

    "images-labels": images/phantom_000.png with labels/phantom_000.png. "busi": Dataset_BUSI_with_GT/benign or
    malignant/<kind> (N).png with <kind> (N)_mask.png; the mask of "benign (1)" is split into _mask and _mask_1
    halves, and two "normal" images with all-zero masks are added (their pixels are phantoms too, lesion and
    all: only their empty masks matter). Masks are 0/255 grayscale PNGs; `size` is (height, width).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}.")
    if layout not in ("images-labels", "busi"):
        raise ValueError(f"Unknown layout {layout!r}: choose 'images-labels' or 'busi'.")
    folder = Path(folder)
    files: dict[Path, np.ndarray] = {}
    numbers: dict[str, int] = defaultdict(int)
    for k in range(count):
        kind = KINDS[k % len(KINDS)]
        image, mask = make_phantom(seed + k, size, kind)
        if layout == "images-labels":
            files[folder / "images" / f"phantom_{k:03d}.png"] = image
            files[folder / "labels" / f"phantom_{k:03d}.png"] = mask
            continue
        numbers[kind] += 1
        stem = folder / "Dataset_BUSI_with_GT" / kind / f"{kind} ({numbers[kind]})"
        files[stem.with_name(stem.name + ".png")] = image
        if kind == "benign" and numbers[kind] == 1:  # a lesion annotated in two parts, as BUSI has some
            columns = np.flatnonzero(mask.any(axis=0))
            left = mask.copy()
            left[:, (columns[0] + columns[-1] + 1) // 2 :] = False
            files[stem.with_name(stem.name + "_mask_1.png")] = mask & ~left
            mask = left
        files[stem.with_name(stem.name + "_mask.png")] = mask
    if layout == "busi":
        for n in (1, 2):
            stem = folder / "Dataset_BUSI_with_GT" / "normal" / f"normal ({n})"
            files[stem.with_name(stem.name + ".png")] = make_phantom(seed + count + n, size)[0]
            files[stem.with_name(stem.name + "_mask.png")] = np.zeros(size, bool)
    for path, array in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array.astype(np.uint8) * 255 if array.dtype == bool else array).save(path)
    return folder
