"""swiftfunc: tensors and torch.func-style transforms (grad, vjp, jvp, jacrev, jacfwd, hessian, vmap)
over libswiftfunc's C ABI, in pure ctypes.

    import swiftfunc as sf
    from swiftfunc.func import grad, vmap

    x = sf.randn(3)
    sf.func.grad(lambda x: sf.sin(x).sum())(x)      # == cos(x)

Porting from torch: `torch` -> `swiftfunc`, `torch.func` -> `swiftfunc.func`, `torch.nn` -> `swiftfunc.nn`,
`torch.optim` -> `swiftfunc.optim`; docs/porting.md lists the names and what differs (immutable tensors, no
tape, the CPU only).
Arrays cross to and from numpy, PyTorch and JAX without copying through DLPack (`swiftfunc.from_dlpack`,
`np.from_dlpack(t)`, `t.numpy()`). The library is the copy installed in the package, or $SWIFTFUNC_LIBRARY.
"""
import ctypes as _ctypes
import operator as _operator

from ._capi import lib as _lib
from ._errors import (CallbackError, DeviceError, DTypeError, Error, InternalError, InvalidArgumentError,
                      OutOfMemoryError, ShapeError, TransformError, UnsupportedError)
from ._device import device
from ._memory import empty_cache, memory_stats, reset_peak_memory_stats, set_memory_limit
from ._tensor import Tensor, dtype, float32, float64, int32, int64
from ._tensor import bool_ as _bool
from ._ops import (argsort, cumprod, cumsum, diag, diag_embed, diagonal, einsum, from_numpy, norm, roll, sort,
                   tile, topk, trace, tril, triu)
from ._ops import (abs, absolute, add, all, allclose, amax, amin, any, arange, arctan2, argmax, argmin, as_tensor,
                   asarray, atan2, bernoulli, bmm, broadcast_tensors, broadcast_to, cat, ceil, cholesky_solve, chunk,
                   clamp, clip, clone, concat, concatenate, cos, det, detach, div, divide, dot, empty, empty_like,
                   eq, equal, exp, expand, expm1, eye, flatten, flip, floor, floor_divide, from_dlpack, full,
                   full_like, gather, ge, gelu, ger, greater, greater_equal, gt, hstack, index_select, inner,
                   inverse, is_floating_point, is_tensor, isclose, isfinite, isinf, isnan, le, less, less_equal,
                   linspace, log, log10, log1p, log2, log_softmax, logdet, logical_and, logical_not, logical_or,
                   logical_xor, logsumexp, lt, manual_seed, matmul, max, maximum, mean, min, minimum, mm, moveaxis,
                   movedim, mul, multiply, mv, narrow, ne, neg, negative, not_equal, numel, ones, ones_like, outer,
                   permute, pow, prod, rand, rand_like, randint, randn, randn_like, reciprocal, relu, remainder,
                   reshape, round, rsqrt, scatter_add, seed, select, sigmoid, sign, silu, sin, slogdet, softmax,
                   split, sqrt, square, squeeze, stack, std, sub, subtract, sum, swapaxes, swapdims, t, tan, tanh,
                   tensor, transpose, true_divide, unbind, unflatten, unsqueeze, var, vstack, where, zeros,
                   zeros_like)
from . import autograd, cuda, func, linalg, nn, optim
from .autograd.grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                                 set_grad_enabled)
from .func import vmap


def compile(model=None, **options):  # noqa: A001 - torch.compile's name
    """torch.compile over swiftfunc.func.jit: compile(fn) or @compile (also @compile(...)). A Module is
    staged with its parameters and buffers as inputs (func.functional_call), so that updating them does
    not leave stale constants in the graph. Options (mode, fullgraph, ...) are accepted and ignored."""
    if model is None:
        return lambda m: compile(m, **options)
    if isinstance(model, nn.Module):
        staged = func.jit(lambda state, *args, **kwargs: func.functional_call(model, state, args, kwargs))

        def run(*args, **kwargs):
            state = dict(model.named_parameters())
            state.update(model.named_buffers())
            return staged(state, *args, **kwargs)

        return run
    return func.jit(model)

__version__ = "0.1.0"


def library_version():
    """The loaded library's version string (sf_version())."""
    return _lib.sf_version().decode()


def library_path():
    """The path of the loaded libswiftfunc.so."""
    return _lib.path


def set_num_threads(n):
    """Sets the number of threads swiftfunc's kernels use, its own pool's and OpenBLAS's alike (torch's
    name; sf_set_num_threads). The default is the number of online CPUs; results do not depend on it."""
    n = _operator.index(n)
    if not -2 ** 31 <= n < 2 ** 31:  # ctypes would wrap it into a C int; the library checks the rest
        raise InvalidArgumentError(f"sf_set_num_threads: {n} does not fit a C int")
    _lib.sf_set_num_threads(n)


def get_num_threads():
    """The number of threads swiftfunc's kernels use (sf_get_num_threads)."""
    count = _ctypes.c_int()
    _lib.sf_get_num_threads(_ctypes.byref(count))
    return count.value


# torch's dtype aliases; assigned last because they shadow builtins inside this module.
double = float64
long = int64
bool = _bool  # noqa: A001 - torch.bool
float = float32  # noqa: A001 - torch.float
int = int32  # noqa: A001 - torch.int
