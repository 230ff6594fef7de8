"""Tests of the synthetic breast-ultrasound phantoms (sam_demo/devtools/phantom.py) and their command line."""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam_demo.devtools.phantom import EXAMPLE_SIZES, KINDS, main, make_phantom, make_phantoms, render_phantom

ROOT = Path(__file__).resolve().parents[1]

SIZES = [(448, 576), (600, 440), (420, 620), (160, 240), (300, 220)]
SMALL = [(224, 288), (300, 220)]  # quick to draw; the properties do not depend on the size


# ------------------------------------------------------------------------------------------------ helpers


def components(mask: np.ndarray) -> int:
    """Number of 4-connected components of a boolean mask (breadth-first search)."""
    seen = np.zeros_like(mask)
    height, width = mask.shape
    count = 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        count += 1
        seen[start] = True
        queue = deque([start])
        while queue:
            r, c = queue.popleft()
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= rr < height and 0 <= cc < width and mask[rr, cc] and not seen[rr, cc]:
                    seen[rr, cc] = True
                    queue.append((rr, cc))
    return count


def dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def posterior_contrast(seed: int, size: tuple[int, int], kind: str) -> float:
    """Mean gray level in a column below the lesion minus that of the tissue beside it at the same depth."""
    phantom = render_phantom(seed, size, kind)
    image = phantom.image.astype(float)
    top, bottom, left, right = phantom.fov
    rows, cols = np.nonzero(phantom.mask)
    c0, c1 = cols.min(), cols.max() + 1
    width = c1 - c0
    y0 = rows.max() + 6
    y1 = min(bottom - 2, y0 + max(30, width))
    assert y1 - y0 >= 20, "no room below the lesion"
    below = image[y0:y1, c0 + width // 4 : c1 - width // 4]
    gap = max(12, width // 4)
    beside = []
    if c0 - gap - 8 >= left:
        beside.append(image[y0:y1, max(left, c0 - gap - width // 2) : c0 - gap])
    if c1 + gap + 8 <= right:
        beside.append(image[y0:y1, c1 + gap : min(right, c1 + gap + width // 2)])
    assert beside, "no tissue beside the lesion"
    return float(below.mean() - np.concatenate(beside, axis=1).mean())


# ---------------------------------------------------------------------------------------------- the arrays


def test_same_seed_same_arrays_and_different_seeds_differ():
    image, mask = make_phantom(7)
    again_image, again_mask = make_phantom(7)
    assert np.array_equal(image, again_image) and np.array_equal(mask, again_mask)
    other_image, other_mask = make_phantom(8, kind=render_phantom(7).kind)  # only the seed differs
    assert not np.array_equal(image, other_image)
    assert not np.array_equal(mask, other_mask)


def test_kind_none_is_the_seeds_own_kind():
    kinds = set()
    for seed in range(6):
        phantom = render_phantom(seed, (200, 240))
        kinds.add(phantom.kind)
        image, mask = make_phantom(seed, (200, 240), kind=phantom.kind)
        assert np.array_equal(image, phantom.image) and np.array_equal(mask, phantom.mask)
    assert kinds == set(KINDS)


@pytest.mark.parametrize("size", SIZES)
def test_shapes_dtypes_and_mask(size):
    kind = KINDS[SIZES.index(size) % 2]
    phantom = render_phantom(3, size, kind)
    image, mask = phantom.image, phantom.mask
    assert image.shape == size and image.dtype == np.uint8
    assert mask.shape == size and mask.dtype == np.bool_
    assert 0.005 * mask.size < mask.sum() < 0.12 * mask.size
    assert components(mask) == 1
    rows, cols = np.nonzero(mask)
    assert components(~mask[rows.min() - 1 : rows.max() + 2, cols.min() - 1 : cols.max() + 2]) == 1  # no holes
    assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    top, bottom, left, right = phantom.fov
    assert top < rows.min() and rows.max() < bottom - 1 and left < cols.min() and cols.max() < right - 1
    assert rows.min() > top + 0.06 * (bottom - top)  # well below the skin line
    assert (image[:top] == 0).all() and (image[bottom:] == 0).all() and (image[top:bottom, :left] == 0).all()
    assert image[top:bottom, left:right].std() > 20  # speckled, not flat


@pytest.mark.parametrize("seed", range(6))
def test_lesion_darker_than_surrounding_tissue(seed):
    phantom = render_phantom(seed, SMALL[seed % 2])
    top, bottom, left, right = phantom.fov
    fov = np.zeros_like(phantom.mask)
    fov[top:bottom, left:right] = True
    ring = dilate(phantom.mask, 14) & ~dilate(phantom.mask, 4) & fov
    image = phantom.image.astype(float)
    assert image[phantom.mask].mean() + 25 < image[ring].mean()


def test_image_darkens_with_depth():
    for seed in range(4):
        phantom = render_phantom(seed, SMALL[seed % 2])
        top, bottom, left, right = phantom.fov
        depth = bottom - top
        cols = np.nonzero(phantom.mask.any(axis=0))[0]
        beside = np.ones(phantom.image.shape[1], dtype=bool)  # columns away from the lesion's posterior column
        beside[:left] = beside[right:] = False
        beside[max(0, cols.min() - 30) : cols.max() + 30] = False
        tissue = phantom.image[top:bottom][:, beside].astype(float)
        assert tissue[int(0.85 * depth) :].mean() + 10 < tissue[int(0.15 * depth) : int(0.4 * depth)].mean()


@pytest.mark.parametrize("seed", range(6))
def test_benign_posterior_enhancement(seed):
    assert posterior_contrast(seed, SMALL[seed % 2], "benign") > 8


@pytest.mark.parametrize("seed", range(6))
def test_malignant_posterior_shadowing(seed):
    assert posterior_contrast(seed, SMALL[seed % 2], "malignant") < -8


def test_benign_wider_than_tall_on_average():
    ratios = {kind: [] for kind in KINDS}
    for seed in range(6):
        for kind in KINDS:
            rows, cols = np.nonzero(make_phantom(seed, SMALL[0], kind)[1])
            ratios[kind].append((np.ptp(cols) + 1) / (np.ptp(rows) + 1))
    assert min(ratios["benign"]) > 1.1
    assert np.mean(ratios["malignant"]) < np.mean(ratios["benign"])


def test_make_phantoms_alternates_kinds_with_consecutive_seeds():
    phantoms = make_phantoms(2, seed=5, size=(160, 240))
    assert [image.shape for image, _ in phantoms] == [(160, 240)] * 2
    for k, (image, mask) in enumerate(phantoms):
        expected_image, expected_mask = make_phantom(5 + k, (160, 240), KINDS[k % 2])
        assert np.array_equal(image, expected_image) and np.array_equal(mask, expected_mask)


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_phantom(0, kind="cyst")
    with pytest.raises(ValueError):
        make_phantom(0, size=(40, 40))


# ------------------------------------------------------------------------------------------- command line


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "L"
        return np.asarray(image)


def test_command_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "new" / "examples"
    assert main(["--out", str(out), "--count", "2", "--seed", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "phantom_0.png",
        "phantom_0_mask.png",
        "phantom_1.png",
        "phantom_1_mask.png",
    ]
    expected = make_phantoms(2, seed=3)
    for k, (image, mask) in enumerate(expected):
        assert np.array_equal(read_png(out / f"phantom_{k}.png"), image)
        written_mask = read_png(out / f"phantom_{k}_mask.png")
        assert set(np.unique(written_mask)) <= {0, 255}
        assert np.array_equal(written_mask == 255, mask)
    assert "phantom_1_mask.png" in capsys.readouterr().out
    assert expected[0][0].shape != expected[1][0].shape

    # The same files again: nothing to refuse.
    assert main(["--out", str(out), "--count", "1", "--seed", "3"]) == 0
    # Different files in the way: refused, naming them, and nothing is touched.
    before = (out / "phantom_0.png").read_bytes()
    assert main(["--out", str(out), "--count", "1", "--seed", "4"]) != 0
    err = capsys.readouterr().err
    assert "phantom_0.png" in err and "--overwrite" in err
    assert (out / "phantom_0.png").read_bytes() == before
    assert main(["--out", str(out), "--count", "1", "--seed", "4", "--overwrite"]) == 0
    assert np.array_equal(read_png(out / "phantom_0.png"), make_phantom(4, EXAMPLE_SIZES[0], "benign")[0])
    assert np.array_equal(read_png(out / "phantom_1.png"), expected[1][0])  # beyond --count: left alone


def test_command_help_runs_as_module():
    result = subprocess.run(
        [sys.executable, "-m", "sam_demo.phantom", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "--overwrite" in result.stdout and "phantom" in result.stdout


def test_committed_examples_match_the_generator():
    examples = ROOT / "examples"
    images = sorted(examples.glob("phantom_*[0-9].png"))
    assert len(images) >= 4, "examples/ is missing: python -m sam_demo.phantom --out examples --count 4"
    generated = make_phantoms(len(images), seed=0)
    for k, (image, mask) in enumerate(generated):
        assert np.array_equal(read_png(examples / f"phantom_{k}.png"), image), f"phantom_{k}.png drifted"
        assert np.array_equal(read_png(examples / f"phantom_{k}_mask.png"), mask.astype(np.uint8) * 255)
    shapes = {image.shape for image, _ in generated}
    assert any(h > w for h, w in shapes) and any(h < w for h, w in shapes)
