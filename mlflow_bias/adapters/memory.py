"""Hand memory that the process has freed back to the operating system between large steps.

glibc's allocator keeps freed memory in its heap for reuse. A generation batch allocates and frees
hundreds of megabytes in sizes the next batch does not ask for again (the batch's key/value cache
and the smaller copies made as rows finish), so without this the resident memory of an evaluation
climbs batch after batch and stays at its high mark for the rest of the run. `malloc_trim` returns
the free pages; it costs milliseconds. Elsewhere than glibc it is absent and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (macOS, musl, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None


def release_freed_memory() -> bool:
    """Return the allocator's free pages to the system; whether the C library could do it."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
