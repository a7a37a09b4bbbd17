"""Threads: swiftfunc.set_num_threads / get_num_threads (torch's names) over sf_set_num_threads, and
kernels that give the same bits on every thread count. Every test leaves the count as it found it."""
import os

import numpy as np
import pytest

import swiftfunc as sf


@pytest.fixture
def threads():
    """Restores the thread count after the test."""
    saved = sf.get_num_threads()
    yield
    sf.set_num_threads(saved)


def test_default_is_the_online_cpus():
    # Nothing in the suite changes the count without restoring it.
    assert sf.get_num_threads() == len(os.sched_getaffinity(0)) or sf.get_num_threads() == os.cpu_count()


def test_set_and_get(threads):
    sf.set_num_threads(1)
    assert sf.get_num_threads() == 1
    sf.set_num_threads(3)
    assert sf.get_num_threads() == 3
    sf.set_num_threads(np.int64(2))  # any integer (operator.index)
    assert sf.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1025, 2 ** 31, -(2 ** 40)])
def test_counts_out_of_range_are_refused_and_change_nothing(threads, bad):
    sf.set_num_threads(2)
    with pytest.raises(sf.InvalidArgumentError, match="sf_set_num_threads") as info:
        sf.set_num_threads(bad)
    assert isinstance(info.value, ValueError)
    assert sf.get_num_threads() == 2


@pytest.mark.parametrize("bad", [1.5, "2", None])
def test_non_integers_are_a_type_error(threads, bad):
    with pytest.raises(TypeError):
        sf.set_num_threads(bad)


def _kernels(x):
    """Threaded kernels on x (float32, 2**18 + 5 elements): their results as numpy arrays."""
    t = sf.tensor(x)
    square = t[: 512 * 512].reshape(512, 512)
    windows = square.reshape(256, 2, 256, 2)
    return [
        t.sum().numpy(),                            # one output, cut into pieces joined in order
        square.t().sum(dim=1).numpy(),              # strided rows
        windows.amax(dim=(1, 3)).numpy(),           # 2x2 pooling windows across the kept dims
        square.reshape(-1, 4).mean(dim=1).numpy(),  # short rows
        (t * t).numpy(),                            # contiguous elementwise
        (square.t().exp() + square).numpy(),        # strided elementwise
        square.t().to(sf.float64).numpy(),          # strided cast
    ]


def test_results_are_the_same_bits_on_every_thread_count(threads):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(2 ** 18 + 5) * np.where(np.arange(2 ** 18 + 5) % 7 == 0, 1e3, 1e-3)).astype(np.float32)
    sf.set_num_threads(1)
    serial = _kernels(x)
    for count in (2, 2, 5):
        sf.set_num_threads(count)
        for a, b in zip(serial, _kernels(x)):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # and right, against numpy
    square = x[: 512 * 512].reshape(512, 512)
    np.testing.assert_allclose(serial[0], x.astype(np.float64).sum(), rtol=1e-6)
    np.testing.assert_allclose(serial[1], square.T.astype(np.float64).sum(axis=1), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(serial[2], square.reshape(256, 2, 256, 2).max(axis=(1, 3)))
    np.testing.assert_allclose(serial[3], square.reshape(-1, 4).astype(np.float64).mean(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(serial[4], x * x)
