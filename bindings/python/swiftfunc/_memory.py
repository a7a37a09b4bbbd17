"""The library's memory pool, with torch's names (torch.cuda.memory_stats and friends, for the CPU pool):
`memory_stats()`, `set_memory_limit(bytes)`, `reset_peak_memory_stats()`, `empty_cache()`. See the Memory
section of include/swiftfunc.h for what the pool caches and what each counter means."""
import ctypes

from ._capi import MemoryStats, lib


def memory_stats():
    """The pool's counters as a dict of ints (the fields of struct sf_memory_stats): bytes_in_use,
    bytes_cached, peak_bytes_in_use, limit (0: none), high_water_bytes_in_use, cache_hits,
    os_allocations, os_releases, failed_allocations."""
    stats = MemoryStats(struct_size=ctypes.sizeof(MemoryStats))
    lib.sf_memory_stats(ctypes.byref(stats))
    return {name: getattr(stats, name) for name, _ in MemoryStats._fields_[1:]
            if getattr(MemoryStats, name).offset < stats.struct_size}


def set_memory_limit(bytes):  # noqa: A002 - the C parameter's name
    """Limits the bytes in use plus cached to `bytes` (0 or None: no limit, the default). Past it, an
    allocation first returns cached memory to the OS, then raises swiftfunc.OutOfMemoryError."""
    if bytes is None:
        bytes = 0
    if not isinstance(bytes, int) or isinstance(bytes, bool) or bytes < 0:
        raise ValueError(f"set_memory_limit: expected a byte count >= 0 (or None), got {bytes!r}")
    lib.sf_set_memory_limit(min(bytes, 2 ** 64 - 1))


def reset_peak_memory_stats():
    """Restarts memory_stats()['peak_bytes_in_use'] from the bytes now in use."""
    lib.sf_memory_reset_peak()


def empty_cache():
    """Returns every cached block to the OS (and restarts the high-water mark that sets the cache's budget
    from the bytes in use)."""
    lib.sf_memory_release_cached()
