"""The predictor on real BUSI images and masks (skipped unless BUSI_SAMPLE_DIR is set)."""

import re
from pathlib import Path

import numpy as np

from sam_demo.image_io import load_image
from sam_demo.masks import load_mask, mask_box

MASK_NAME = re.compile(r"^(?P<image>.+)_mask(_\d+)?\.png$")


def busi_pairs(folder: Path) -> list[tuple[Path, list[Path]]]:
    pairs = []
    for image_path in sorted(folder.glob("*/*.png")):
        if MASK_NAME.match(image_path.name):
            continue
        masks = sorted(p for p in image_path.parent.glob(f"{image_path.stem}_mask*.png") if MASK_NAME.match(p.name))
        pairs.append((image_path, masks))
    return pairs


def test_predictor_on_real_images(busi_dir, predictor):
    pairs = busi_pairs(busi_dir)
    assert len(pairs) >= 10
    prompted = 0
    skipped_masks = []
    for image_path, mask_paths in pairs:
        assert mask_paths, f"{image_path} has no mask"
        image = load_image(image_path)
        height, width = image.shape[:2]
        lesion = np.zeros((height, width), bool)
        for mask_path in mask_paths:
            mask = load_mask(mask_path)
            if mask.shape != lesion.shape:  # a known broken annotation in BUSI
                skipped_masks.append(mask_path.name)
                continue
            lesion |= mask
        box = mask_box(lesion)
        if box is None:  # "normal" images: no lesion, nothing to prompt
            assert image_path.parent.name == "normal"
            continue
        predictor.set_image(image)
        rows, cols = np.nonzero(lesion)
        centre = (float(cols[len(cols) // 2]), float(rows[len(rows) // 2]))
        for prediction in (
            predictor.predict(box=box, multimask_output=False),
            predictor.predict(points=[centre], labels=[1]),
        ):
            assert prediction.masks.shape[1:] == (height, width)
            assert np.isfinite(prediction.iou_scores).all()
        prompted += 1
    assert prompted >= 10
    if (busi_dir / "benign" / "benign (4)_mask_1.png").exists():
        assert "benign (4)_mask_1.png" in skipped_masks  # 555x465 on a 416x416 image
