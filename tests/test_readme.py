"""The README's Python example runs as written (on the tiny test model instead of the Hub download)."""

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_runs(tiny_checkpoint, monkeypatch):
    text = (ROOT / "README.md").read_text()
    example = re.search(r"## Use it from Python\s+```python\n(.*?)```", text, re.S).group(1)
    assert 'load_sam("facebook/sam-vit-large")' in example
    example = example.replace('"facebook/sam-vit-large"', repr(str(tiny_checkpoint)))
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["mask"].shape == (448, 576)
    assert namespace["picture"].shape == (448, 576, 3) and namespace["picture"].dtype == np.uint8
    assert namespace["refined"].masks.shape[0] == 3 and namespace["boxed"].masks.shape[0] == 1
