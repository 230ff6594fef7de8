"""The prompt kinds: derived from a ground-truth mask, named once, one rule for three candidates."""

import numpy as np
import pytest

from sam_demo.core.masks import mask_box
from sam_demo.core.prompt_kinds import (
    EVALUATION_KINDS,
    INTERIOR_POINT,
    THREE_INTERIOR_POINTS,
    TIGHT_BOX,
    evaluation_kind,
    jittered_box,
    random_interior_points,
    wants_multimask,
)
from sam_demo.devtools.phantom import make_phantom

MASK = make_phantom(3)[1]


def inside(mask: np.ndarray, points: np.ndarray) -> bool:
    return all(mask[int(y), int(x)] for x, y in points)


def test_evaluation_kinds_are_deterministic_and_named_once():
    assert [kind.key for kind in EVALUATION_KINDS] == ["box", "point", "three_points"]
    assert len({kind.label for kind in EVALUATION_KINDS}) == len({kind.short for kind in EVALUATION_KINDS}) == 3
    for kind in EVALUATION_KINDS:
        assert evaluation_kind(kind.key) is kind
        first, again = kind.prompt(MASK), kind.prompt(MASK)
        assert first.box == again.box and np.array_equal(first.points, again.points)
    with pytest.raises(ValueError, match="unknown prompt type 'lasso'; choose from box, point, three_points"):
        evaluation_kind("lasso")


def test_tight_box_and_interior_points():
    box = TIGHT_BOX.prompt(MASK)
    assert box.box == mask_box(MASK) and box.points is None and not box.multimask
    point = INTERIOR_POINT.prompt(MASK)
    assert point.points.shape == (1, 2) and point.labels.tolist() == [1] and point.box is None and point.multimask
    three = THREE_INTERIOR_POINTS.prompt(MASK)
    assert three.points.shape == (3, 2) and inside(MASK, three.points) and not three.multimask
    assert len({tuple(p) for p in three.points}) == 3


def test_training_kinds_draw_from_the_generator():
    rng = np.random.default_rng(0)
    x0, y0, x1, y1 = mask_box(MASK)
    for _ in range(20):
        box = jittered_box(5).prompt(MASK, rng).box
        assert all(abs(a - b) <= 5 for a, b in zip(box, (x0, y0, x1, y1)))
        points = random_interior_points(2).prompt(MASK, rng)
        assert points.points.shape == (2, 2) and inside(MASK, points.points) and points.labels.tolist() == [1, 1]
    assert random_interior_points(1).prompt(MASK, rng).multimask
    assert random_interior_points(1).key != random_interior_points(2).key


@pytest.mark.parametrize(
    "points, has_box, expected", [(1, False, True), (1, True, False), (0, True, False), (2, False, False)]
)
def test_three_candidates_only_for_one_click_alone(points, has_box, expected):
    assert wants_multimask(points, has_box) is expected
