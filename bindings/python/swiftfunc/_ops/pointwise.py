"""Elementwise ops: unary math and activations, broadcasting binary arithmetic and comparisons, logical
ops, where, clamp, and the isnan/isinf/isfinite/isclose predicates.

Binary ops broadcast and promote, and take Python scalars by the rules of `conversion.operand`.
"""
import builtins

import numpy as np

from .._capi import lib
from .._tensor import bool_, int32, int64, new
from .conversion import cast, operand_pair, tensor_of
from .creation import ones, zeros

__all__ = ["neg", "negative", "exp", "log", "log1p", "expm1", "log2", "log10", "sin", "cos", "tan", "tanh", "sigmoid",
           "sqrt", "rsqrt", "abs", "absolute", "sign", "relu", "floor", "ceil", "round", "silu", "gelu", "square",
           "reciprocal", "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
           "remainder", "pow", "maximum", "minimum", "atan2", "arctan2", "clamp", "clip", "lt", "le", "gt", "ge",
           "eq", "ne", "less", "less_equal", "greater", "greater_equal", "not_equal", "where", "logical_not",
           "logical_and", "logical_or", "logical_xor", "isnan", "isinf", "isfinite", "isclose"]


def _unary(name):
    cfn = getattr(lib, "sf_" + name)

    def op(input):
        x = tensor_of(input)
        return new(cfn, x._h)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name}: elementwise {name} (sf_{name})."
    return op


neg = _unary("neg")
exp = _unary("exp")
log = _unary("log")
log1p = _unary("log1p")
expm1 = _unary("expm1")
sin = _unary("sin")
cos = _unary("cos")
tan = _unary("tan")
tanh = _unary("tanh")
sigmoid = _unary("sigmoid")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
abs = _unary("abs")
sign = _unary("sign")
relu = _unary("relu")
floor = _unary("floor")
ceil = _unary("ceil")
round = _unary("round")
silu = _unary("silu")
negative = neg
absolute = abs


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    x = tensor_of(input)
    return new(lib.sf_gelu, x._h, approximate == "tanh")


def _binary(name):
    cfn = getattr(lib, "sf_" + name)

    def op(input, other):
        a, b = operand_pair(input, other)
        return new(cfn, a._h, b._h)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name}: elementwise, broadcasting and promoting (sf_{name})."
    return op


_add = _binary("add")
_sub = _binary("sub")
mul = _binary("mul")
_div = _binary("div")
pow = _binary("pow")
maximum = _binary("maximum")
minimum = _binary("minimum")
atan2 = _binary("atan2")
lt = _binary("lt")
le = _binary("le")
gt = _binary("gt")
ge = _binary("ge")
eq = _binary("eq")
ne = _binary("ne")
multiply = mul
arctan2 = atan2
less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne


def add(input, other, *, alpha=1):
    """input + alpha * other."""
    return _add(input, other if alpha == 1 else mul(other, alpha))


def sub(input, other, *, alpha=1):
    """input - alpha * other."""
    return _sub(input, other if alpha == 1 else mul(other, alpha))


subtract = sub


def div(input, other, *, rounding_mode=None):
    """True division (rounding_mode None), or rounded toward zero ('trunc') or down ('floor')."""
    result = _div(input, other)
    if rounding_mode is None:
        return result
    a, b = operand_pair(input, other)
    if rounding_mode == "floor":
        result = floor(result)
    elif rounding_mode == "trunc":
        result = where(lt(result, 0), ceil(result), floor(result))
    else:
        raise ValueError(f"rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    if not a.dtype.is_floating_point and not b.dtype.is_floating_point:
        result = cast(result, _promote_int(a.dtype, b.dtype))
    return result


divide = true_divide = div


def _promote_int(a, b):
    order = [bool_, int32, int64]
    return order[builtins.max(order.index(a), order.index(b))]


def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    """input - floor(input / other) * other (Python's %)."""
    a, b = operand_pair(input, other)
    return _sub(a, mul(floor_divide(a, b), b))


def square(input):
    return mul(input, input)


def reciprocal(input):
    return _div(1.0, tensor_of(input))


def clamp(input, min=None, max=None):
    """input limited to [min, max] (either bound may be None; bounds may be tensors)."""
    result = tensor_of(input)
    if min is not None:
        result = maximum(result, min)
    if max is not None:
        result = minimum(result, max)
    return result


clip = clamp


def where(condition, input=None, other=None):
    """Elementwise condition ? input : other, broadcasting (scalars allowed for input/other)."""
    if input is None and other is None:
        raise NotImplementedError("where(condition) (the indices of nonzero entries) is not supported")
    condition = cast(tensor_of(condition), bool_)
    a, b = operand_pair(input, other)
    return new(lib.sf_where, condition._h, a._h, b._h)


def logical_not(input):
    return eq(cast(tensor_of(input), bool_), False)


def logical_and(input, other):
    a, b = operand_pair(input, other)
    return mul(cast(a, bool_), cast(b, bool_))


def logical_or(input, other):
    a, b = operand_pair(input, other)
    return _add(cast(a, bool_), cast(b, bool_))


def logical_xor(input, other):
    a, b = operand_pair(input, other)
    return ne(cast(a, bool_), cast(b, bool_))


def isnan(input):
    x = tensor_of(input)
    return ne(x, x)


def isinf(input):
    x = tensor_of(input)
    if not x.dtype.is_floating_point:
        return zeros(x.shape, dtype=bool_)
    return eq(abs(x), float("inf"))


def isfinite(input):
    x = tensor_of(input)
    if not x.dtype.is_floating_point:
        return ones(x.shape, dtype=bool_)
    return lt(abs(x), float("inf"))


def log2(input):
    return _div(log(input), float(np.log(2.0)))


def log10(input):
    return _div(log(input), float(np.log(10.0)))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = operand_pair(input, other)
    close = le(abs(_sub(a, b)), _add(atol, mul(rtol, abs(b))))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close
