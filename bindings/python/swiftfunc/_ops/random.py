"""Random numbers from the process-wide generator (Philox): seeding, rand, randn, randint, bernoulli.

Under vmap, random ops follow the transform's `randomness` option (see swiftfunc.func.vmap). `generator`
is accepted for torch's signatures and ignored: there is one generator.
"""
from .._capi import int64s, lib
from .._tensor import as_dtype, float64, int64, new
from .conversion import cast, shape_of
from .creation import creation_dtype, full_like
from .pointwise import add, floor, mul

__all__ = ["manual_seed", "seed", "rand", "randn", "rand_like", "randn_like", "randint", "bernoulli"]


def manual_seed(seed):
    """Reseeds the process-wide generator (Philox) and resets its counter."""
    lib.sf_manual_seed(int(seed) & (2 ** 64 - 1))


seed = manual_seed


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    shape = shape_of(size)
    return new(lib.sf_rand, int64s(shape), len(shape), creation_dtype(dtype, device).code)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    shape = shape_of(size)
    return new(lib.sf_randn, int64s(shape), len(shape), creation_dtype(dtype, device).code)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    return rand(input.shape, dtype=dtype or input.dtype, device=device)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    return randn(input.shape, dtype=dtype or input.dtype, device=device)


def randint(low=0, high=None, size=None, *, dtype=None, device=None, requires_grad=False, generator=None):
    """Integers uniform in [low, high) of `size` (torch.randint(high, size) or randint(low, high, size))."""
    if size is None:
        low, high, size = 0, low, high
    u = rand(shape_of((size,)), dtype=float64, device=device)
    return cast(floor(add(mul(u, float(high - low)), float(low))), int64 if dtype is None else as_dtype(dtype))


def bernoulli(input, p=None, *, generator=None):
    """1 with probability input (or p) elementwise, else 0 (torch.bernoulli)."""
    probabilities = input if p is None else full_like(input, p)
    return new(lib.sf_bernoulli, probabilities._h)
