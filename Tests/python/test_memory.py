"""The memory pool from Python (torch's names): memory_stats, set_memory_limit, reset_peak_memory_stats,
empty_cache. Counters move as tensors are made and freed, released blocks are reused without stale values, a
call past the limit raises OutOfMemoryError and leaves nothing behind, and every test leaves no limit."""
import gc

import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc.func import grad, vmap

MIB = 1 << 20
FIELDS = ["bytes_in_use", "bytes_cached", "peak_bytes_in_use", "limit", "high_water_bytes_in_use", "cache_hits", "os_allocations",
          "os_releases", "failed_allocations"]


@pytest.fixture(autouse=True)
def _no_limit_after():
    gc.collect()
    sf.empty_cache()
    yield
    sf.set_memory_limit(0)
    gc.collect()
    sf.empty_cache()
    assert sf.memory_stats()["limit"] == 0


def test_memory_stats_fields():
    stats = sf.memory_stats()
    assert list(stats) == FIELDS
    assert all(isinstance(v, int) and v >= 0 for v in stats.values())
    assert stats["bytes_cached"] == 0 and stats["limit"] == 0
    assert stats["peak_bytes_in_use"] >= stats["bytes_in_use"]
    assert stats["high_water_bytes_in_use"] == stats["bytes_in_use"]  # empty_cache restarted it


def test_counters_follow_tensors():
    before = sf.memory_stats()
    t = sf.ones(4 * MIB)  # 16 MiB of float32: exactly a size class
    made = sf.memory_stats()
    assert made["bytes_in_use"] == before["bytes_in_use"] + 16 * MIB
    assert made["os_allocations"] == before["os_allocations"] + 1
    assert made["peak_bytes_in_use"] >= made["bytes_in_use"]
    a = t.numpy()  # a zero-copy view keeps the block alive
    del t
    gc.collect()
    assert sf.memory_stats()["bytes_in_use"] == made["bytes_in_use"]
    assert a[0] == 1 and a[-1] == 1
    del a
    gc.collect()
    freed = sf.memory_stats()
    assert freed["bytes_in_use"] == before["bytes_in_use"]
    assert freed["bytes_cached"] == 16 * MIB
    sf.empty_cache()
    emptied = sf.memory_stats()
    assert emptied["bytes_cached"] == 0
    assert emptied["os_releases"] == freed["os_releases"] + 1


def test_peak_and_reset():
    sf.reset_peak_memory_stats()
    start = sf.memory_stats()
    assert start["peak_bytes_in_use"] == start["bytes_in_use"]
    x = sf.zeros(2 * MIB)
    y = sf.zeros(2 * MIB)
    del x, y
    gc.collect()
    assert sf.memory_stats()["peak_bytes_in_use"] >= start["bytes_in_use"] + 16 * MIB
    sf.reset_peak_memory_stats()
    stats = sf.memory_stats()
    assert stats["peak_bytes_in_use"] == stats["bytes_in_use"]


def test_reused_blocks_hold_the_promised_values():
    ones = sf.ones(3 * MIB)
    del ones
    gc.collect()
    hits = sf.memory_stats()["cache_hits"]
    zeros = sf.zeros(3 * MIB)  # the same block, cleared
    assert sf.memory_stats()["cache_hits"] == hits + 1
    assert not np.any(zeros.numpy())
    del zeros
    gc.collect()
    filled = sf.full((3 * MIB,), 7.0)
    np.testing.assert_array_equal(filled.numpy()[:: 4096], 7.0)
    assert np.all(filled.numpy() == 7.0)


def test_budget_returns_memory_to_the_os():
    assert sf.memory_stats()["bytes_in_use"] < 8 * MIB
    big = sf.ones(8 * MIB)  # 32 MiB: the high-water mark, so a budget of 64 MiB in use + cached
    del big
    gc.collect()
    other = sf.ones(6 * MIB)  # 24 MiB, another class: a miss, and both blocks fit the budget
    del other
    gc.collect()
    before = sf.memory_stats()
    assert before["bytes_cached"] == 56 * MIB
    third = sf.ones(4 * MIB)  # 16 MiB in use + 56 cached is over 64: the oldest block goes back
    after = sf.memory_stats()
    assert after["os_releases"] == before["os_releases"] + 1
    assert after["bytes_cached"] == 24 * MIB
    assert after["bytes_in_use"] + after["bytes_cached"] <= 2 * after["high_water_bytes_in_use"]
    del third


def test_limit():
    start = sf.memory_stats()
    sf.set_memory_limit(start["bytes_in_use"] + 24 * MIB)
    assert sf.memory_stats()["limit"] == start["bytes_in_use"] + 24 * MIB
    keep = sf.ones(4 * MIB)
    before = sf.memory_stats()
    with pytest.raises(sf.OutOfMemoryError, match=r"sf_zeros: .*memory limit") as info:
        sf.zeros(4 * MIB)
    assert isinstance(info.value, MemoryError)
    after = sf.memory_stats()
    assert {k: after[k] for k in ("bytes_in_use", "bytes_cached", "os_allocations")} == \
           {k: before[k] for k in ("bytes_in_use", "bytes_cached", "os_allocations")}
    assert after["failed_allocations"] == before["failed_allocations"] + 1
    del keep
    gc.collect()
    sf.set_memory_limit(None)  # no limit
    assert sf.memory_stats()["limit"] == 0
    np.testing.assert_array_equal(sf.zeros(12 * MIB).numpy()[:: 4096], 0.0)
    with pytest.raises(ValueError):
        sf.set_memory_limit(-1)
    with pytest.raises(ValueError):
        sf.set_memory_limit(1.5)


def test_limit_inside_a_transform_leaves_nothing_behind():
    x = sf.randn(64, 1024)
    w = sf.randn(1024, 256)

    def loss(w, x):
        return sf.tanh(x @ w).sum()

    per_sample = vmap(grad(loss), in_dims=(None, 0))
    expected = per_sample(w, x)  # [64, 1024, 256]: 64 MiB of per-sample gradients
    gc.collect()
    start = sf.memory_stats()
    sf.set_memory_limit(start["bytes_in_use"] + 32 * MIB)
    with pytest.raises(sf.OutOfMemoryError, match="memory limit"):
        per_sample(w, x)
    gc.collect()
    assert sf.memory_stats()["bytes_in_use"] == start["bytes_in_use"]
    sf.set_memory_limit(0)
    again = per_sample(w, x)
    np.testing.assert_array_equal(again.numpy(), expected.numpy())
