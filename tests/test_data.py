"""The dataset layer: finding, validating, loading and splitting pairs; safe archives; the real BUSI sample."""

import hashlib
import io
import json
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError
from PIL import Image

import sam_demo.data.archives
import sam_demo.data.sources
from sam_demo.data.errors import DatasetError
from sam_demo.data.layouts import find_examples
from sam_demo.data.loading import load_example, load_examples
from sam_demo.data.near_duplicates import NEAR_DUPLICATE_CORRELATION, near_duplicate_groups, thumbnail
from sam_demo.data.sources import open_dataset, resolve_dataset
from sam_demo.data.splits import read_split, split_examples, write_split
from sam_demo.devtools.phantom import make_phantom
from sam_demo.devtools.phantom_datasets import write_phantom_dataset
from sam_demo.training.run import RunConfig, prepare_data


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path)
    return path


def pack(folder: Path, archive: Path, top: str = "") -> Path:
    """`folder`'s files in a .tar.gz, .tgz, .tar or .zip archive, under the folder `top` if given."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    archive.parent.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as zip_file:
            for path in files:
                zip_file.write(path, f"{top}{path.relative_to(folder)}")
    else:
        with tarfile.open(archive, "w:gz" if archive.name.endswith(("gz", ".tgz")) else "w") as tar:
            for path in files:
                tar.add(path, f"{top}{path.relative_to(folder)}")
    return archive


def everything_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# ---------------------------------------------------------------------------------------------- layouts


def test_images_labels_layout(tmp_path):
    root = write_phantom_dataset(tmp_path / "ds", 3, seed=5)
    dataset = find_examples(root)
    assert dataset.layout == "images-labels" and dataset.root == root and dataset.warnings == ()
    assert [example.name for example in dataset.examples] == ["phantom_000", "phantom_001", "phantom_002"]
    assert all(example.label is None for example in dataset.examples)
    for k, example in enumerate(dataset.examples):
        image, mask = make_phantom(5 + k, (256, 320), ("benign", "malignant")[k % 2])
        loaded = load_example(example)
        assert loaded.image.shape == (256, 320, 3) and loaded.image.dtype == np.uint8
        np.testing.assert_array_equal(loaded.image[..., 0], image)
        np.testing.assert_array_equal(loaded.mask, mask)


def test_pairs_are_matched_by_name_not_sorted_order(tmp_path):
    # Sorted, the images are x.png, x_1.jpg and the labels x_1.png, x_mask.png: order pairing would swap them.
    left, right = np.zeros((20, 30), np.uint8), np.zeros((20, 30), np.uint8)
    left[5:15, 2:10], right[5:15, 20:28] = 255, 255
    save(tmp_path / "images" / "x.png", np.full((20, 30), 90, np.uint8))
    save(tmp_path / "images" / "x_1.jpg", np.full((20, 30), 160, np.uint8))
    save(tmp_path / "labels" / "x_mask.png", left)
    save(tmp_path / "labels" / "x_1.png", right)
    loaded = {item.example.name: item for item in load_examples(find_examples(tmp_path)).examples}
    assert sorted(loaded) == ["x", "x_1"]
    np.testing.assert_array_equal(loaded["x"].mask, left > 0)
    np.testing.assert_array_equal(loaded["x_1"].mask, right > 0)


def test_unpaired_files_are_named(tmp_path):
    root = write_phantom_dataset(tmp_path / "ds", 3)
    (root / "labels" / "phantom_001.png").rename(root / "labels" / "stray.png")
    expected = r"image without a mask: images/phantom_001\.png; 1 mask without an image: labels/stray\.png"
    with pytest.raises(DatasetError, match=expected):
        find_examples(root)

    busi = write_phantom_dataset(tmp_path / "busi", 3, "busi") / "Dataset_BUSI_with_GT"
    (busi / "malignant" / "malignant (1)_mask.png").unlink()
    with pytest.raises(DatasetError, match=r"without a mask: malignant/malignant \(1\)\.png"):
        find_examples(busi)
    save(busi / "malignant" / "malignant (1)_mask.png", np.zeros((256, 320), np.uint8))
    (busi / "benign" / "benign (2).png").unlink()
    with pytest.raises(DatasetError, match=r"without an image: benign/benign \(2\)_mask\.png"):
        find_examples(busi)


def test_busi_layout_classes_merged_masks_and_normals_left_out(tmp_path):
    root = write_phantom_dataset(tmp_path / "ds", 4, "busi", seed=3)
    dataset = find_examples(root)  # found one level down, in Dataset_BUSI_with_GT
    assert dataset.layout == "busi" and dataset.root == root / "Dataset_BUSI_with_GT"
    names = [example.name for example in dataset.examples]
    assert names == [
        "benign/benign (1)", "benign/benign (2)", "malignant/malignant (1)", "malignant/malignant (2)",
        "normal/normal (1)", "normal/normal (2)",
    ]  # fmt: skip
    assert {example.label for example in dataset.examples} == {"benign", "malignant", "normal"}
    two_masks = dataset.examples[0]
    assert [path.name for path in two_masks.mask_paths] == ["benign (1)_mask.png", "benign (1)_mask_1.png"]
    halves = [np.asarray(Image.open(path)) > 0 for path in two_masks.mask_paths]
    assert halves[0].any() and halves[1].any() and not (halves[0] & halves[1]).any()
    np.testing.assert_array_equal(load_example(two_masks).mask, make_phantom(3, (256, 320), "benign")[1])

    report = load_examples(dataset)
    assert [item.example.name for item in report.examples] == names[:4]
    assert report.left_out == {"normal/normal (1)": "empty mask", "normal/normal (2)": "empty mask"}
    assert report.summary() == "6 pairs, 4 usable; 2 left out: empty mask (normal/normal (1), normal/normal (2))"
    subset = load_examples(dataset, ["benign/benign (2)", "normal/normal (1)"])
    assert [item.example.name for item in subset.examples] == ["benign/benign (2)"] and len(subset.left_out) == 1
    with pytest.raises(DatasetError, match="benign/benign \\(9\\)"):
        load_examples(dataset, ["benign/benign (9)"])


def test_mask_modes_load_equal(tmp_path):
    lesion = np.zeros((24, 32), bool)
    lesion[6:18, 8:20] = True
    lesion[10, 25] = True
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[lesion] = (255, 255, 255)
    masks = {
        "bilevel": (lesion, "1"),
        "gray01": (lesion.astype(np.uint8), None),
        "gray255": (lesion.astype(np.uint8) * 255, None),
        "rgb": (rgb, None),
        "rgba": (np.dstack([rgb, np.full((24, 32), 255, np.uint8)]), None),
    }
    for name, (array, mode) in masks.items():
        save(tmp_path / "images" / f"{name}.png", np.full((24, 32), 100, np.uint8))
        save(tmp_path / "labels" / f"{name}.png", array, mode)
    assert Image.open(tmp_path / "labels" / "bilevel.png").mode == "1"
    assert Image.open(tmp_path / "labels" / "rgba.png").mode == "RGBA"
    report = load_examples(find_examples(tmp_path))
    assert len(report.examples) == 5
    for item in report.examples:
        np.testing.assert_array_equal(item.mask, lesion, err_msg=item.example.name)


def test_mask_of_another_size_is_skipped_and_reported(tmp_path):
    root = write_phantom_dataset(tmp_path / "ds", 2, "busi") / "Dataset_BUSI_with_GT"
    extra = np.zeros((465, 555), np.uint8)
    extra[100:200, 100:200] = 255
    save(root / "benign" / "benign (1)_mask_2.png", extra)  # beside two good masks
    save(root / "malignant" / "malignant (1)_mask.png", extra)  # its only mask
    report = load_examples(find_examples(root))
    message = "benign (1)_mask_2.png is 555x465, image 320x256"
    assert message in report.skipped_masks
    assert "malignant (1)_mask.png is 555x465, image 320x256" in report.skipped_masks
    assert [item.example.name for item in report.examples] == ["benign/benign (1)"]  # its good masks kept
    np.testing.assert_array_equal(report.examples[0].mask, make_phantom(0, (256, 320), "benign")[1])
    assert report.examples[0].skipped_masks == (message,)
    assert report.left_out["malignant/malignant (1)"] == "no usable mask"
    assert "2 masks skipped: " in report.summary() and message in report.summary()


def test_junk_files_are_ignored_with_a_warning(tmp_path):
    root = write_phantom_dataset(tmp_path, 2)
    for junk in ("images/.DS_Store", "images/notes.txt", "labels/Thumbs.db", "labels/._phantom_000.png"):
        (root / junk).write_bytes(b"junk")
    (root / "README.md").write_text("beside the dataset, not in it")
    dataset = find_examples(root)
    assert len(dataset.examples) == 2 and len(dataset.warnings) == 1
    for junk in (".DS_Store", "notes.txt", "Thumbs.db", "._phantom_000.png"):
        assert junk in dataset.warnings[0]
    assert "README" not in dataset.warnings[0]
    assert len(load_examples(dataset).examples) == 2


def test_undecodable_image_is_named_when_loaded(tmp_path):
    root = write_phantom_dataset(tmp_path, 2)
    (root / "images" / "phantom_001.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    dataset = find_examples(root)
    with pytest.raises(DatasetError, match=r"phantom_001\.png"):
        load_example(dataset.examples[1])
    with pytest.raises(DatasetError, match=r"phantom_001\.png"):
        load_examples(dataset)


def test_nothing_recognisable(tmp_path):
    (tmp_path / "stuff").mkdir()
    save(tmp_path / "stuff" / "scan.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DatasetError, match=r"Accepted layouts: 'images-labels'.*'busi'.*1 image file.*stuff/"):
        find_examples(tmp_path)
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "labels").mkdir()
    with pytest.raises(DatasetError, match="No images found"):
        find_examples(tmp_path / "empty")


# --------------------------------------------------------------------------------------- resolve_dataset


@pytest.mark.parametrize("layout", ["images-labels", "busi"])
@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz", ".tar", ".zip"])
def test_archives_are_extracted_once(tmp_path, layout, suffix):
    folder = write_phantom_dataset(tmp_path / "src", 2, layout)
    archive = pack(folder, tmp_path / f"my data{suffix}", top="my data/")
    original = hashlib.sha256(archive.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    extracted = resolve_dataset(archive, cache_dir=cache)
    assert extracted.parent == cache and extracted.name.startswith("my data-")
    assert [e.name for e in find_examples(extracted).examples] == [e.name for e in find_examples(folder).examples]
    (extracted / "marker").write_text("kept")
    assert resolve_dataset(str(archive), cache_dir=cache) == extracted  # reused, not extracted again
    assert (extracted / "marker").exists() and list(cache.iterdir()) == [extracted]
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == original


def test_folders_are_used_as_they_are_and_other_things_refused(tmp_path):
    assert resolve_dataset(tmp_path, cache_dir=tmp_path / "cache") == tmp_path
    with pytest.raises(DatasetError, match="nowhere.*no such file"):
        resolve_dataset(tmp_path / "nowhere", cache_dir=tmp_path / "cache")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="notes.txt is neither a folder nor"):
        resolve_dataset(tmp_path / "notes.txt", cache_dir=tmp_path / "cache")
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08 truncated")
    with pytest.raises(DatasetError, match="Cannot extract .*broken.tar.gz"):
        resolve_dataset(tmp_path / "broken.tar.gz", cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def tar_with(archive: Path, *members: tarfile.TarInfo, data: bytes = b"evil") -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        good = tarfile.TarInfo("ds/images/a.png")
        good.size = 4
        tar.addfile(good, io.BytesIO(b"good"))  # a harmless member first: nothing at all may be written
        for member in members:
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return archive


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 4) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.size, member.linkname = kind, size if kind == tarfile.REGTYPE else 0, link
    return member


def zip_with(archive: Path, name: str, mode: int = 0, data: bytes = b"evil") -> Path:
    with zipfile.ZipFile(archive, "w") as zip_file:
        zip_file.writestr("ds/images/a.png", b"good")
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        zip_file.writestr(info, data)
    return archive


# Each case: how to write the archive `a` (its members may aim at the folder `o`), the member and problem named.
TOO_BIG = "more than 2,000 bytes"
UNSAFE = {
    "tar-dotdot": (lambda a, o: tar_with(a, tar_member("ds/../../evil.txt")), "ds/../../evil.txt", "outside"),
    "tar-absolute": (lambda a, o: tar_with(a, tar_member(str(o / "evil.txt"))), "/evil.txt", "absolute path"),
    "tar-symlink": (
        lambda a, o: tar_with(a, tar_member("ds/evil", tarfile.SYMTYPE, str(o))),
        "ds/evil",
        "symbolic link",
    ),
    "tar-hardlink": (
        lambda a, o: tar_with(a, tar_member("ds/evil", tarfile.LNKTYPE, "/etc/passwd")),
        "ds/evil",
        "hard link",
    ),
    "tar-device": (lambda a, o: tar_with(a, tar_member("ds/evil", tarfile.CHRTYPE)), "ds/evil", "device"),
    "tar-too-big": (lambda a, o: tar_with(a, tar_member("ds/big", size=3000), data=b"x" * 3000), "ds/big", TOO_BIG),
    "zip-dotdot": (lambda a, o: zip_with(a, "../evil.txt"), "../evil.txt", "outside"),
    "zip-absolute": (lambda a, o: zip_with(a, str(o / "evil.txt")), "/evil.txt", "absolute path"),
    "zip-symlink": (
        lambda a, o: zip_with(a, "ds/evil", stat.S_IFLNK | 0o777, str(o).encode()),
        "ds/evil",
        "symbolic link",
    ),
    "zip-too-big": (lambda a, o: zip_with(a, "ds/big", data=b"\0" * 3000), "ds/big", TOO_BIG),
}


@pytest.mark.parametrize("case", UNSAFE)
def test_unsafe_archives_are_refused_and_nothing_is_written(tmp_path, case):
    make, member, problem = UNSAFE[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    archive = make(work / ("bad.zip" if case.startswith("zip") else "bad.tar.gz"), outside)
    before = everything_under(tmp_path)
    cache = work / "cache"
    with pytest.raises(DatasetError, match="bad\\.(zip|tar\\.gz)") as caught:
        resolve_dataset(archive, cache_dir=cache, max_extracted_bytes=2000)
    assert member in str(caught.value) and problem in str(caught.value)
    assert everything_under(tmp_path) - before <= {cache}  # at most the empty cache folder
    assert not any(cache.iterdir())


def test_interrupted_extraction_is_not_reused(tmp_path, monkeypatch):
    archive = pack(write_phantom_dataset(tmp_path / "src", 3), tmp_path / "ds.tar.gz", top="ds/")
    cache = tmp_path / "cache"
    copy, writes = shutil.copyfileobj, []

    def interrupted_copy(source, sink):
        writes.append(sink.name)
        if len(writes) == 2:
            raise KeyboardInterrupt  # Ctrl-C after one file was written
        copy(source, sink)

    monkeypatch.setattr(sam_demo.data.archives.shutil, "copyfileobj", interrupted_copy)
    with pytest.raises(KeyboardInterrupt):
        resolve_dataset(archive, cache_dir=cache)
    monkeypatch.undo()
    assert list(cache.iterdir()) == []  # the partial folder is gone

    extracted = resolve_dataset(archive, cache_dir=cache)
    shutil.rmtree(extracted)  # now a killed run (no clean-up at all): a partial folder beside the target
    leftover = cache / f".{extracted.name}.partial-killed"
    (leftover / "ds" / "images").mkdir(parents=True)
    assert resolve_dataset(archive, cache_dir=cache) == extracted
    assert len(find_examples(extracted).examples) == 3


def test_default_dataset_offline_says_to_pass_a_local_folder(tmp_path, monkeypatch):
    def offline(**kwargs):
        raise LocalEntryNotFoundError("offline")

    monkeypatch.setattr(sam_demo.data.sources, "hf_hub_download", offline)
    for spec in (None, "default"):
        with pytest.raises(DatasetError, match="sayakpaul/sample-datasets.*offline.*local folder or a .*archive"):
            resolve_dataset(spec, cache_dir=tmp_path / "cache")


def test_default_dataset_is_downloaded_and_extracted(tmp_path, monkeypatch):
    source = write_phantom_dataset(tmp_path / "src", 3)
    archive = pack(source, tmp_path / "hub" / "breast-cancer-dataset.tar.gz", top="breast-cancer-dataset/")
    calls = []

    def download(**kwargs):
        calls.append(kwargs)
        return str(archive)

    monkeypatch.setattr(sam_demo.data.sources, "hf_hub_download", download)
    extracted = resolve_dataset(None, cache_dir=tmp_path / "cache", token="hf_secret")
    assert calls == [dict(repo_id="sayakpaul/sample-datasets", filename="breast-cancer-dataset.tar.gz",
                          repo_type="dataset", token="hf_secret")]  # fmt: skip
    dataset = find_examples(extracted)
    assert dataset.layout == "images-labels" and dataset.root == extracted / "breast-cancer-dataset"
    assert len(dataset.examples) == 3


# -------------------------------------------------------------------------------------------- splitting


def labelled(counts: dict[str | None, int]) -> list[tuple[str, str | None]]:
    return [(f"{label}/{k}", label) for label, n in counts.items() for k in range(n)]


def test_split_is_deterministic_stratified_disjoint_and_complete():
    pairs = labelled({"benign": 40, "malignant": 20, "normal": 10})
    split = split_examples(pairs, seed=7)
    assert split == split_examples(list(reversed(pairs)), seed=7)  # order of the input does not matter
    assert split != split_examples(pairs, seed=8)
    names = [name for key in ("train", "validation", "test") for name in split[key]]
    assert sorted(names) == sorted(name for name, _ in pairs) and len(set(names)) == len(names)
    for label, n in (("benign", 40), ("malignant", 20), ("normal", 10)):
        counts = [sum(name.startswith(label) for name in split[key]) for key in ("train", "validation", "test")]
        assert counts == [round(0.8 * n), round(0.1 * n), round(0.1 * n)], label
    unknown = split_examples(labelled({None: 10}), seed=0)
    assert [len(unknown[key]) for key in ("train", "validation", "test")] == [8, 1, 1]


def test_split_of_tiny_classes_gives_training_first():
    split = split_examples(labelled({"one": 1, "two": 2, "three": 3}))
    assert split["train"].count("one/0") == 1
    assert sum(name.startswith("two") for name in split["train"]) == 1
    assert [sum(name.startswith("three") for name in split[key]) for key in split] == [1, 1, 1]
    assert split_examples([("a", None)], fractions=(0.1, 0.45, 0.45)) == {"train": ["a"], "validation": [], "test": []}
    for fractions in ((0.8, 0.1), (0.8, 0.3, 0.1), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), (float("nan"), 0.5, 0.5)):
        with pytest.raises(ValueError, match="fractions"):
            split_examples(labelled({"a": 5}), fractions=fractions)
    with pytest.raises(ValueError, match="twice"):
        split_examples([("a", "x"), ("a", "y")])


def test_split_round_trips_and_rejects_unknown_names(tmp_path):
    pairs = labelled({"benign": 6, "malignant": 4})
    split = split_examples(pairs, fractions=(0.6, 0.2, 0.2), seed=3)
    path = tmp_path / "run" / "split.json"
    write_split(split, path, seed=3, fractions=(0.6, 0.2, 0.2))
    saved = json.loads(path.read_text())
    assert saved["seed"] == 3 and saved["fractions"] == {"train": 0.6, "validation": 0.2, "test": 0.2}
    assert saved["counts"] == {key: len(names) for key, names in split.items()}
    names = [name for name, _ in pairs]
    assert read_split(path, names) == split
    with pytest.raises(DatasetError, match=r"split\.json names 2 examples not in the dataset: benign/0, benign/1"):
        read_split(path, names[2:])
    path.write_text('{"train": ["a"], "validation": ["a"], "test": []}')
    with pytest.raises(DatasetError, match="more than one place: a"):
        read_split(path, ["a"])
    path.write_text("not json")
    with pytest.raises(DatasetError, match="Cannot read the split"):
        read_split(path, names)


def test_split_keeps_groups_whole_deterministic_and_stratified():
    pairs = labelled({"benign": 30, "malignant": 12})
    groups = [["benign/0", "benign/1", "benign/2"], ["malignant/4", "malignant/3"], ["benign/9", "malignant/9"]]
    for seed in range(30):
        split = split_examples(pairs, seed=seed, groups=groups)
        where = {name: key for key, names in split.items() for name in names}
        assert sorted(where) == sorted(name for name, _ in pairs)
        for members in groups:
            assert len({where[name] for name in members}) == 1, (seed, members)
        for label in ("benign", "malignant"):
            assert all(any(name.startswith(label) for name in names) for names in split.values()), (seed, label)
        shuffled = [list(reversed(members)) for members in reversed(groups)]
        assert split == split_examples(list(reversed(pairs)), seed=seed, groups=shuffled)
    # Without groups (or with groups of one), the split of earlier versions: seeds keep meaning what they meant.
    assert split_examples(pairs, seed=3, groups=[["benign/5"]]) == split_examples(pairs, seed=3)
    # One large group trains, the rest keeps validation and test stocked.
    split = split_examples(labelled({"a": 8}), seed=0, groups=[[f"a/{k}" for k in range(6)]])
    assert [len(split[key]) for key in ("train", "validation", "test")] == [6, 1, 1]
    for bad, message in (([["a/0", "zzz"]], "not among"), ([["a/0", "a/1"], ["a/1"]], "two groups")):
        with pytest.raises(ValueError, match=message):
            split_examples(labelled({"a": 3}), groups=bad)


def next_frame(image: np.ndarray, shift: int = 4, seed: int = 0) -> np.ndarray:
    """`image` as the scan's next frame would show it: `shift` pixels to the side, with fresh speckle."""
    noise = np.random.default_rng(seed).normal(0, 8, image.shape)
    return np.clip(np.roll(image.astype(float), shift, axis=1) + noise, 0, 255).astype(np.uint8)


def test_near_duplicates_are_grouped_transitively_and_phantoms_are_not():
    phantoms = {f"p{seed:02d}": make_phantom(seed, (128, 160))[0] for seed in range(12)}
    assert near_duplicate_groups(phantoms) == []
    # A sweep: each frame 2 pixels on from the one before; the first and last are too far apart to be linked.
    frames = {"f1": next_frame(phantoms["p00"], 2, seed=1), "f2": next_frame(phantoms["p00"], 4, seed=2)}
    assert float(thumbnail(phantoms["p00"]) @ thumbnail(frames["f2"])) < NEAR_DUPLICATE_CORRELATION
    assert near_duplicate_groups({**phantoms, **frames}) == [["f1", "f2", "p00"]]
    assert near_duplicate_groups({**frames, "p00": phantoms["p00"]}, threshold=0.99) == []
    assert near_duplicate_groups({"flat": np.zeros((8, 8), np.uint8), "p00": phantoms["p00"]}) == []
    assert near_duplicate_groups({}) == []


def test_split_file_lists_groups_and_older_files_without_them_still_read(tmp_path):
    pairs = labelled({"benign": 6})
    groups = [["benign/0", "benign/1"]]
    split = split_examples(pairs, seed=1, groups=groups)
    path = tmp_path / "split.json"
    write_split(split, path, seed=1, fractions=(0.8, 0.1, 0.1), groups=groups)
    saved = json.loads(path.read_text())
    assert saved["groups"] == groups
    del saved["groups"]  # as split.json was written before near-duplicates were grouped
    path.write_text(json.dumps(saved))
    assert read_split(path, [name for name, _ in pairs]) == split


def with_next_frame(root: Path, name: str = "phantom_000") -> str:
    """Add to the images-labels dataset `root` the next frame of `name`'s scan: moved 4 pixels sideways, with
    fresh speckle. Returns the new example's name."""
    frame = f"{name}_next"
    save(root / "images" / f"{frame}.png", next_frame(np.asarray(Image.open(root / "images" / f"{name}.png"))))
    save(root / "labels" / f"{frame}.png", np.roll(np.asarray(Image.open(root / "labels" / f"{name}.png")), 4, axis=1))
    return frame


def where_each_example_went(loaded: dict[str, list]) -> dict[str, str]:
    return {item.example.name: key for key, items in loaded.items() for item in items}


def test_near_duplicate_frames_never_straddle_splits(tmp_path):
    root = write_phantom_dataset(tmp_path / "ds", 10)
    frame = with_next_frame(root)
    for seed in range(20):  # apart, the two would land in different splits for about a third of the seeds
        said = []
        loaded, _ = prepare_data(RunConfig("unused", str(root), tmp_path / f"run{seed}", seed=seed), said.append)
        where = where_each_example_went(loaded)
        assert where["phantom_000"] == where[frame], seed
        assert all(loaded[key] for key in ("train", "validation", "test"))
    rule = f"(thumbnail correlation >= {NEAR_DUPLICATE_CORRELATION:g})"
    assert f"near-duplicate frames: 1 group of 2 images kept in one split {rule}" in said
    saved = json.loads((tmp_path / "run0" / "split.json").read_text())
    assert saved["groups"] == [["phantom_000", frame]]


# ------------------------------------------------------------------------------------------ real BUSI data


def test_real_busi_sample(busi_dir):
    dataset = find_examples(busi_dir.parent)  # the Dataset_BUSI_with_GT folder is found one level down
    assert dataset.layout == "busi" and dataset.root == busi_dir and len(dataset.examples) == 21
    assert {example.label for example in dataset.examples} == {"benign", "malignant", "normal"}
    by_name = {example.name: example for example in dataset.examples}
    two = load_example(by_name["benign/benign (25)"])
    assert len(two.example.mask_paths) == 2 and two.skipped_masks == ()
    lesions = [np.asarray(Image.open(path).convert("L")) > 0 for path in two.example.mask_paths]
    assert lesions[0].any() and lesions[1].any() and not np.array_equal(lesions[0], lesions[1])
    np.testing.assert_array_equal(two.mask, lesions[0] | lesions[1])

    report = load_examples(dataset)
    assert report.skipped_masks == ("benign (4)_mask_1.png is 555x465, image 416x416",)
    assert "benign/benign (4)" in {item.example.name for item in report.examples}
    assert report.left_out == {f"normal/normal ({n})": "empty mask" for n in range(1, 5)}
    assert len(report.examples) == 17
    assert report.summary().startswith("21 pairs, 17 usable; 4 left out: empty mask (normal/normal (1), ")
    split = split_examples([(item.example.name, item.example.label) for item in report.examples])
    for key in ("train", "validation", "test"):
        assert {name.split("/")[0] for name in split[key]} == {"benign", "malignant"}


def test_busi_frames_of_one_lesion_stay_in_one_split(busi_dir, tmp_path):
    # malignant (3) to (8) are frames of one tumour (thumbnail correlations 0.957 to 1.000, see near_duplicates).
    frames = [f"malignant/malignant ({n})" for n in range(3, 9)]
    for seed in range(5):
        loaded, _ = prepare_data(RunConfig("unused", str(busi_dir), tmp_path / f"run{seed}", seed=seed), lambda _: None)
        where = where_each_example_went(loaded)
        assert len({where[name] for name in frames}) == 1, (seed, {name: where[name] for name in frames})
        for key in ("train", "validation", "test"):
            assert {item.example.label for item in loaded[key]} == {"benign", "malignant"}, (seed, key)
    saved = json.loads((tmp_path / "run0" / "split.json").read_text())
    assert saved["groups"] == [sorted(frames)]


def test_noisy_and_jpeg_masks_are_read_at_half_their_maximum_and_reported(tmp_path):
    """`> 0` made a mask with faint background noise 75 % foreground; JPEG's ringing grew masks by ~1.6x."""
    image = np.full((64, 80), 100, np.uint8)
    lesion = np.zeros((64, 80), bool)
    lesion[20:40, 30:50] = True
    noisy = np.where(lesion, 255, np.random.default_rng(0).integers(0, 4, lesion.shape)).astype(np.uint8)
    save(tmp_path / "images" / "noisy.png", image)
    save(tmp_path / "labels" / "noisy.png", noisy)
    save(tmp_path / "images" / "jpeg.png", image)
    Image.fromarray(np.where(lesion, 255, 0).astype(np.uint8)).save(tmp_path / "labels" / "jpeg.jpg", quality=60)
    save(tmp_path / "images" / "clean.png", image)
    save(tmp_path / "labels" / "clean.png", lesion.astype(np.uint8))  # 0/1
    report = load_examples(find_examples(tmp_path))
    masks = {item.example.name: item.mask for item in report.examples}
    np.testing.assert_array_equal(masks["noisy"], lesion)
    np.testing.assert_array_equal(masks["clean"], lesion)
    assert abs(int(masks["jpeg"].sum()) - int(lesion.sum())) < 0.05 * lesion.sum()
    assert [item.unclean_masks for item in report.examples if item.example.name == "clean"] == [()]
    assert len(report.warnings) == 1 and "noisy.png" in report.warnings[0] and "jpeg.jpg" in report.warnings[0]
    assert "clean.png" not in report.warnings[0]


def test_an_all_foreground_mask_is_skipped_and_reported(tmp_path):
    save(tmp_path / "images" / "white.png", np.full((24, 32), 100, np.uint8))
    save(tmp_path / "labels" / "white.png", np.full((24, 32), 255, np.uint8))
    save(tmp_path / "images" / "good.png", np.full((24, 32), 100, np.uint8))
    good = np.zeros((24, 32), np.uint8)
    good[5:10, 5:10] = 255
    save(tmp_path / "labels" / "good.png", good)
    report = load_examples(find_examples(tmp_path))
    assert [item.example.name for item in report.examples] == ["good"]
    assert report.left_out == {"white": "no usable mask"}
    assert report.skipped_masks == ("white.png is foreground everywhere",)


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_an_archive_that_expands_far_more_than_images_do_is_refused(tmp_path, kind):
    """A small archive of zeros that would unpack to 200 MB: over 100 times its size, refused before writing."""
    archive = tmp_path / f"bomb.{kind}"
    zeros = tmp_path / "zeros.bin"
    with zeros.open("wb") as file:
        file.truncate(200 * 10**6)
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zip_file:
            zip_file.write(zeros, "images/zeros.png")
    else:
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(zeros, "images/zeros.png")
    zeros.unlink()
    assert archive.stat().st_size < 2 * 10**6
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="bomb.*100 times the archive's size"):
        resolve_dataset(archive, cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_an_archive_with_too_many_members_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sam_demo.data.archives, "MAX_MEMBERS", 5)
    archive = pack(write_phantom_dataset(tmp_path / "src", 3), tmp_path / "ds.tar.gz")
    with pytest.raises(DatasetError, match="members, more than the 5"):
        resolve_dataset(archive, cache_dir=tmp_path / "cache")


def test_an_extraction_without_a_dataset_is_removed_and_a_users_folder_is_not(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    archive = pack(tmp_path / "notes", tmp_path / "notes.zip")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="removed"):
        open_dataset(archive, cache_dir=cache)
    assert list(cache.iterdir()) == []
    with pytest.raises(DatasetError):
        open_dataset(tmp_path / "notes", cache_dir=cache)
    assert (tmp_path / "notes" / "readme.txt").exists()  # the user's own folder is never touched


def test_max_dataset_gb_caps_what_an_archive_may_unpack_to(tmp_path):
    archive = pack(write_phantom_dataset(tmp_path / "src", 3), tmp_path / "ds.tar.gz")
    with pytest.raises(DatasetError, match="more than 1,000 bytes"):
        open_dataset(archive, cache_dir=tmp_path / "cache", max_extracted_bytes=1000)
