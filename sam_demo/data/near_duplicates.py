"""Near-duplicate images: frames of one scan saved under different names, to be kept in one split.

BUSI has no patient ids, and some of its images are consecutive frames of one lesion: `malignant (27)` and
`malignant (28)`, or in the sample `malignant (3)` to `malignant (8)`. Split apart, a model is tested on a frame of
a tumour it was trained on a moment later. `near_duplicate_groups` finds such frames by their pixels alone.

The measure: each image becomes a 32x32 grayscale thumbnail (the whole image resized, aspect ratio ignored),
centred to zero mean and scaled to unit norm; the similarity of two images is the dot product of their
thumbnails, which is the Pearson correlation of the thumbnail pixels. The thumbnail keeps the tumour, the tissue
layers and the framing, and drops speckle and the small size differences of frames cropped by hand. Images at or
above `NEAR_DUPLICATE_CORRELATION` are linked, and links are followed transitively (union-find): a sweep of
frames is one group even where its first and last frame differ more.

The threshold, measured on the BUSI sample (21 images, 210 pairs) and on phantoms:

* frames of one tumour: malignant (3) to (8) pairwise 0.957 to 1.000 (malignant (4) and (5) 1.000, (7) and (8)
  0.997); malignant (27) and (28) of the full dataset (not in the sample) 0.94, as measured when the leak was
  found;
* unrelated BUSI images (the 195 other pairs): median 0.61, 99th percentile 0.86, highest 0.869 (malignant (6)
  and normal (2)): ultrasound images share a bright top and a darker, attenuated bottom, so even unrelated ones
  correlate;
* unrelated phantoms (`sam_demo.devtools`, 200 at 256x320, 19,900 pairs): 99.9th percentile 0.860, highest 0.887.

0.92 sits between the two: 0.03 above the most similar unrelated pair seen, 0.02 below the least similar frames.
A pair wrongly linked only moves an image to its partner's split (and a chain of them would show as one large
group in the run's log); a pair missed leaks a tumour into testing.
The measure tolerates little movement: a 256x320 phantom moved 4 px sideways still correlates 0.973 with itself,
moved 8 px 0.906. Frames further apart than about 2% of the width are linked only through frames between them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

THUMBNAIL_SIDE = 32
NEAR_DUPLICATE_CORRELATION = 0.92
_ROWS_AT_ONCE = 1024  # of the similarity matrix: bounds its memory on datasets of many thousands of images


def thumbnail(image: np.ndarray) -> np.ndarray:
    """`image` (HxW or HxWx3 uint8) as a unit-norm, zero-mean vector of its grayscale thumbnail.

    A flat image has no pattern to correlate: its vector is all zeros, similar to nothing.
    """
    gray = Image.fromarray(image).convert("L").resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    vector = np.asarray(gray, np.float64).ravel()
    vector -= vector.mean()
    norm = np.linalg.norm(vector)
    return vector / norm if norm > 1e-9 else np.zeros_like(vector)


def near_duplicate_groups(
    images: Mapping[str, np.ndarray], threshold: float = NEAR_DUPLICATE_CORRELATION
) -> list[list[str]]:
    """The names of `images` (name -> pixels) that are near-duplicates: thumbnail correlation >= `threshold`,
    linked transitively. Only groups of two or more, each sorted, sorted by their first name."""
    names = sorted(images)
    if not names:
        return []
    vectors = np.stack([thumbnail(images[name]) for name in names]).astype(np.float32)
    parent = list(range(len(names)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for start in range(0, len(names), _ROWS_AT_ONCE):
        similar = vectors[start : start + _ROWS_AT_ONCE] @ vectors.T >= threshold
        for row, column in zip(*np.nonzero(similar)):
            first, second = root(start + int(row)), root(int(column))
            if first != second:
                parent[max(first, second)] = min(first, second)
    members: dict[int, list[str]] = {}
    for index, name in enumerate(names):
        members.setdefault(root(index), []).append(name)
    return sorted(group for group in members.values() if len(group) > 1)


def describe_groups(groups: list[list[str]], threshold: float = NEAR_DUPLICATE_CORRELATION) -> str:
    """One line for a run's log: how many groups of near-duplicates were kept together, of which sizes."""
    rule = f"(thumbnail correlation >= {threshold:g})"
    if not groups:
        return f"near-duplicate frames: none {rule}"
    sizes = sorted(len(group) for group in groups)
    size = f"{sizes[0]}" if sizes[0] == sizes[-1] else f"{sizes[0]}-{sizes[-1]}"
    count = "1 group" if len(groups) == 1 else f"{len(groups)} groups"
    return f"near-duplicate frames: {count} of {size} images kept in one split {rule}"
