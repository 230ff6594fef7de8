"""The app's allocator setting (sam_demo/app/allocator.py): large blocks freed by request threads are returned."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Four request threads each build ten 8 MB arrays, each followed by a small array that outlives them (a session's
# state, a cache entry), then free the large ones. Prints how many MB the process kept. The first large block freed
# is what raises glibc's default threshold.
KEEP_AFTER_REQUESTS = """
import sys, threading
import numpy as np
from sam_demo.app.allocator import return_large_blocks_to_system

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

if sys.argv[1] == "set" and not return_large_blocks_to_system():
    sys.exit("not applied")
np.ones(20 << 20, np.uint8)
before, kept = rss_mb(), []

def request():
    blocks = []
    for _ in range(10):
        blocks.append(np.ones(8 << 20, np.uint8))
        kept.append(np.ones(4096, np.uint8))

threads = [threading.Thread(target=request) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(round(rss_mb() - before))
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")


def kept_mb(mode: str, **env: str) -> int:
    environment = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    result = subprocess.run(
        [sys.executable, "-c", KEEP_AFTER_REQUESTS, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **env},
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


def test_large_blocks_freed_by_request_threads_go_back_to_the_system():
    assert kept_mb("default") > 200  # glibc's default: the threads' heaps keep most of the 320 MB freed
    assert kept_mb("set") < 20


def test_a_threshold_the_user_set_is_kept():
    script = "from sam_demo.app.allocator import return_large_blocks_to_system as f; print(f())"
    for env in ({"MALLOC_MMAP_THRESHOLD_": "65536"}, {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}):
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
        )
        assert result.stdout.strip() == "False", result.stderr
