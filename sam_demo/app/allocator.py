"""The C allocator's setting for a long-running server that handles large images.

glibc's malloc serves a block of at least `M_MMAP_THRESHOLD` bytes with a mapping of its own, unmapped (given back to
the system) when freed. By default the threshold follows the largest such block freed so far, up to 32 MiB: after
the first 12 MP image, every mask, resized copy and PNG buffer under 32 MiB comes from the per-thread heaps, which
keep what is freed. With four users clicking on 12 MP images at once, those heaps kept 150-310 MB freed but not
returned (README, "Large images"). A fixed threshold of 1 MiB returns every large block at once; the decoder's click
was no slower (README).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's <malloc.h>
MMAP_THRESHOLD_BYTES = 1 << 20


def return_large_blocks_to_system() -> bool:
    """Have glibc map every block of 1 MiB or more on its own, so that it goes back to the system when freed.
    False (nothing changed) off Linux, with another C library, or where the user set glibc's threshold."""
    # glibc's own ways to set the threshold: a user who set it keeps it.
    user_set = "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", "")
    if not sys.platform.startswith("linux") or user_set:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # no mallopt in this process's C library
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
