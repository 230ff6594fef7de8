"""The on-disk embedding cache: shared across predictors and processes, per encoder, bounded, robust to bad files."""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import random_image

from sam_demo.core.disk_cache import DiskEmbeddingStore
from sam_demo.core.model import load_sam
from sam_demo.core.predictor import SamPredictor
from sam_demo.devtools.random_models import tiny_sam

ROOT = Path(__file__).resolve().parents[1]


def npz_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz"))


def test_a_new_predictor_reads_embeddings_instead_of_encoding(tiny_model, tmp_path):
    image = random_image(90, 120, seed=1)
    first = SamPredictor(*tiny_model, disk_cache_dir=tmp_path)
    encoded = first.encode(image)
    assert first.encoder_runs == 1 and len(npz_files(tmp_path)) == 1

    second = SamPredictor(*tiny_model, disk_cache_dir=tmp_path)
    again = second.encode(image)
    assert second.encoder_runs == 0
    np.testing.assert_array_equal(again.embedding.numpy(), encoded.embedding.numpy())
    assert again.resized_size == encoded.resized_size and again.original_size == (90, 120)


def test_another_encoder_does_not_read_these_embeddings(tiny_model, tiny_checkpoint, tmp_path):
    image = random_image(80, 100, seed=4)
    SamPredictor(*tiny_model, disk_cache_dir=tmp_path).encode(image)
    other_weights = SamPredictor(*tiny_sam(seed=1), disk_cache_dir=tmp_path)
    other_weights.encode(image)
    assert other_weights.encoder_runs == 1
    other_precision = SamPredictor(*load_sam(tiny_checkpoint, mixed_precision="bfloat16"), disk_cache_dir=tmp_path)
    other_precision.encode(image)
    assert other_precision.encoder_runs == 1
    assert len(npz_files(tmp_path)) == 3
    same = SamPredictor(*tiny_sam(seed=0), disk_cache_dir=tmp_path)  # equal weights, built anew: a hit
    same.encode(image)
    assert same.encoder_runs == 0


def test_the_size_bound_evicts_the_least_recently_used(tiny_model, tmp_path):
    model, _ = tiny_model
    channels, grid = model.config.vision_config.output_channels, model.config.prompt_encoder_config.image_embedding_size
    probe = DiskEmbeddingStore(tmp_path / "probe", "ab" * 16, max_bytes=10**9)
    probe.save("cd" * 16, np.zeros((1, channels, grid, grid), np.float32), (64, 64), (64, 64))
    size = probe.path("cd" * 16).stat().st_size

    folder = tmp_path / "bounded"
    # Holding one embedding in memory, the predictor reads every other one back from disk.
    predictor = SamPredictor(*tiny_model, cache_size=1, disk_cache_dir=folder, disk_cache_bytes=int(2.5 * size))
    images = [random_image(64, 64, seed=10 + i) for i in range(3)]
    predictor.encode(images[0])
    predictor.encode(images[1])
    predictor.encode(images[0])  # from disk: now the most recently used
    assert predictor.encoder_runs == 2
    predictor.encode(images[2])  # three files do not fit: images[1] goes
    assert predictor.encoder_runs == 3
    assert len(npz_files(folder)) == 2
    assert sum(path.stat().st_size for path in npz_files(folder)) <= 2.5 * size
    predictor.encode(images[0])
    predictor.encode(images[2])
    assert predictor.encoder_runs == 3
    predictor.encode(images[1])
    assert predictor.encoder_runs == 4


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "flipped-byte", "wrong-image"])
def test_a_damaged_file_is_a_miss_and_is_removed(tiny_model, tmp_path, caplog, damage):
    image = random_image(70, 90, seed=5)
    predictor = SamPredictor(*tiny_model, disk_cache_dir=tmp_path)
    expected = predictor.encode(image).embedding.numpy()
    (path,) = npz_files(tmp_path)
    content = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a numpy archive" * 100)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "flipped-byte":  # inside the embedding's data: only the archive's CRC notices
        middle = len(content) // 2
        path.write_bytes(content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :])
    else:  # a whole, valid file that describes another image size
        np.savez(path, embedding=expected, resized_size=np.array([10, 20]), original_size=np.array([1, 2]))

    predictor.cache.clear()  # as a new process: only the disk remembers
    with caplog.at_level(logging.WARNING, logger="sam_demo.core.disk_cache"):
        encoded = predictor.encode(image)
    assert predictor.encoder_runs == 2
    np.testing.assert_array_equal(encoded.embedding.numpy(), expected)
    assert any("removed" in record.getMessage() for record in caplog.records)
    assert all(record.exc_info is None for record in caplog.records)  # one line, no traceback
    predictor.cache.clear()
    predictor.encode(image)  # the file was written again, whole
    assert predictor.encoder_runs == 2


def test_an_unusable_folder_costs_the_cache_not_the_request(tiny_model, tmp_path, caplog):
    folder = tmp_path / "cache"
    predictor = SamPredictor(*tiny_model, disk_cache_dir=folder)
    folder.rmdir()
    folder.write_text("a file where the folder was")
    with caplog.at_level(logging.WARNING, logger="sam_demo.core.disk_cache"):
        encoded = predictor.encode(random_image(50, 60, seed=6))
    assert encoded.embedding.shape[0] == 1 and predictor.encoder_runs == 1
    messages = [record.getMessage() for record in caplog.records]
    assert any("cannot read" in message for message in messages)
    assert any("cannot write" in message for message in messages)


def test_stale_temporary_files_are_swept_and_other_files_left_alone(tmp_path):
    store = DiskEmbeddingStore(tmp_path, "ab" * 16, max_bytes=1)  # every embedding is over the bound
    stale, fresh = tmp_path / f".{'1' * 32}-dead.tmp", tmp_path / f".{'2' * 32}-live.tmp"
    users = [tmp_path / "notes.npz", tmp_path / "old-download.tmp", tmp_path / "embeddings-of-mine.npz"]
    for path in (stale, fresh, *users):
        path.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    for path in (stale, *users):
        os.utime(path, (old, old))
    store.save("cd" * 16, np.zeros((1, 2, 4, 4), np.float32), (4, 4), (4, 4))
    assert not stale.exists() and fresh.exists()
    assert all(path.exists() for path in users)  # not named as the store names its files: never evicted
    assert not store.path("cd" * 16).exists()  # the store's own file is: the bound holds


# Writer `index` stores `embedding + index` under one key and reads it back, over and over, while the other writer
# does the same: every read must find one writer's whole file, and so must the reader after both are done.
_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from sam_demo.core.disk_cache import DiskEmbeddingStore

folder, namespace, key, source, index = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
expected = np.load(source)
store = DiskEmbeddingStore(folder, namespace, max_bytes=10**9)
(folder / f"ready-{index}").touch()
while len(list(folder.glob("ready-*"))) < 2:  # start together
    time.sleep(0.01)
torn = 0
for _ in range(300):
    store.save(key, expected + index, (1024, 1024), (100, 130))
    read = store.load(key, (100, 130))
    torn += read is None or not any(np.array_equal(read.embedding, expected + k) for k in (0, 1))
print(torn)
"""


def test_two_processes_writing_one_key_leave_one_whole_file(tiny_model, tmp_path):
    image = random_image(100, 130, seed=7)
    folder = tmp_path / "shared"
    predictor = SamPredictor(*tiny_model, disk_cache_dir=folder)
    encoded = predictor.encode(image)
    embedding = encoded.embedding.numpy()
    np.save(tmp_path / "embedding.npy", embedding)
    store = predictor.disk_cache
    command = [
        sys.executable,
        "-c",
        _WRITER,
        str(folder),
        store.namespace,
        encoded.key,
        str(tmp_path / "embedding.npy"),
    ]
    writers = [
        subprocess.Popen([*command, str(index)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for index in (0, 1)
    ]
    for writer in writers:
        stdout, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr.decode()[-2000:]
        assert stdout.decode().split() == ["0"], "a read found a torn or missing file"

    assert len(npz_files(folder)) == 1
    assert not list(folder.glob(".*.tmp"))  # no temporary file left behind
    predictor.cache.clear()
    reread = predictor.encode(image).embedding.numpy()
    assert predictor.encoder_runs == 1
    assert np.array_equal(reread, embedding) or np.array_equal(reread, embedding + 1)
