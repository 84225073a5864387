"""tap-branch: a Singer tap for Branch (branch.io)."""

import os

__version__ = "0.1.0"

#: pyarrow's jemalloc reads its options once, when pyarrow first loads: set here, before any
#: module of the tap imports pyarrow (`tap_branch.records.columnar` picks the pool, and says
#: why). One arena instead of one per core and no per-thread caches; and freed pages given
#: back at once when they decay instead of marked lazily free (MADV_FREE pages still count
#: in RSS): ~5 MB less peak RSS on a 300k-row BATCH run, at the same CPU time (measured).
#: Whoever sets the variable, or another memory pool, keeps their choice.
if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
    os.environ.setdefault("JE_ARROW_MALLOC_CONF", "narenas:1,tcache:false,muzzy_decay_ms:0")


def _glibc_malloc_thresholds() -> None:
    """glibc's heap given back to the system above 1 MB free at its top (default: 128 kB, but
    raised with the mmap threshold as large blocks are freed, up to 64 MB), and blocks from
    4 MB on mapped on their own (default: a threshold that grows to 32 MB): the blocks of a
    few MB the batches come and go in otherwise stayed in the heap, ~7-10 MB of it free at
    the peak of a 1M-row BATCH run, at the same CPU time (measured). Set through `mallopt`,
    as the MALLOC_*_ environment variables would, which keep their say when set; nothing
    on other C libraries."""
    if "GLIBC_TUNABLES" in os.environ or any(
        name in os.environ for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
    ):
        return
    try:
        os.confstr("CS_GNU_LIBC_VERSION")  # only glibc answers
    except (ValueError, OSError, AttributeError):
        return
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    mallopt(-1, 1 << 20)  # M_TRIM_THRESHOLD
    mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD


_glibc_malloc_thresholds()
