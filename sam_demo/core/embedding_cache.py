"""A bounded, thread-safe cache of image embeddings, keyed by image content.

The vision encoder costs seconds per image on a CPU; everything after it costs milliseconds. This cache makes
sure the encoder runs once per distinct image, even when several threads (app sessions) ask for the same image
at the same moment: the first computes, the others wait for its result.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Callable, Generic, TypeVar

import numpy as np

T = TypeVar("T")


def image_key(image: np.ndarray) -> str:
    """Content hash of an image array (shape, dtype and pixels): equal images share one key."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.shape}{image.dtype}".encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


class EmbeddingCache(Generic[T]):
    """Least-recently-used cache holding at most `max_items` values."""

    def __init__(self, max_items: int = 8):
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}.")
        self.max_items = max_items
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, T] = OrderedDict()
        self._pending: dict[str, Future] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def get_or_compute(self, key: str, compute: Callable[[], T]) -> T:
        """Return the value for `key`, calling `compute` only if no thread has it or is computing it."""
        with self._lock:
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return self._items[key]
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                self.misses += 1
                pending = self._pending[key] = Future()
            else:
                self.hits += 1
        if not owner:
            return pending.result()
        try:
            value = compute()
        except BaseException as error:
            with self._lock:
                del self._pending[key]
            pending.set_exception(error)
            raise
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
            del self._pending[key]
        pending.set_result(value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
