"""hrinpaint.memory: the one malloc_trim, used by the server after each job and by the benchmark worker."""

from __future__ import annotations

import platform

from hrinpaint.memory import trim_heap


def test_trim_heap_trims_on_glibc_and_is_a_no_op_elsewhere():
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert trim_heap() is glibc
    assert trim_heap() is glibc  # the library is looked up once, then reused
