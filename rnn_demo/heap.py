"""Keeps freed memory inside the process while a model trains.

Every training step allocates and frees the same blocks of tens of MB (activations, gradients, the
x-side of a window). glibc's malloc gives big blocks back to the kernel (``munmap``, or trimming the
top of its heap) and the next step faults them in again, 4 KiB at a time: the kernel zeroes each
page, and with two threads every unmap costs the other core a TLB flush. How often depends on
glibc's own sliding threshold: in fresh processes the default float32 LSTM took from 2,000 to
110,000 page faults a second, and where it took many, keeping the memory trained it 15–20 % faster
(bench/RESULTS.md §1).

So while any training runs, malloc serves blocks up to 32 MB (the most glibc allows) from its heap
and keeps what is freed; bigger ones (a word model's logits) are still mapped each time, since
keeping those grew peak memory by a third. When the last training ends, glibc's defaults come back
and the free memory goes back to the kernel. Only glibc has these knobs; elsewhere (macOS, Windows,
musl) this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
from collections.abc import Iterator

# mallopt's parameters (malloc.h) and glibc's values for them
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
DEFAULT_THRESHOLD = 128 * 1024  # both, until glibc raises them as it sees big blocks freed
MAX_MMAP_THRESHOLD = 32 * 2**20  # the largest glibc accepts on 64-bit
NEVER_TRIM = 2**31 - 1  # mallopt takes an int: keep up to 2 GiB of free heap top


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """glibc's C library, or None where this process runs on another (asked on first use: cheap)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        libc = ctypes.CDLL("libc.so.6")
    except (AttributeError, ValueError, OSError):  # not Unix; not glibc; no such library
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_lock = threading.Lock()
_holders = 0  # trainings running now: the first sets the knobs, the last puts them back


@contextlib.contextmanager
def memory_kept() -> Iterator[bool]:
    """Within: malloc keeps freed memory for reuse. Yields whether it can (glibc) — nesting and
    concurrent trainings are fine."""
    global _holders
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _lock:
        _holders += 1
        if _holders == 1:
            libc.mallopt(M_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
    try:
        yield True
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                libc.mallopt(M_MMAP_THRESHOLD, DEFAULT_THRESHOLD)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_THRESHOLD)
                libc.malloc_trim(0)

