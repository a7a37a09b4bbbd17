"""Tensor's ops as methods and operators, attached here, in one place: each op is written once, as a
function in the sibling modules (torch.sin(x)), and the same function becomes the method (x.sin()) and the
operator (x + 1), as in torch. The constructor `Tensor(data)` is attached here too, so `_tensor` (the
layer below) never imports the ops.
"""
from .._capi import lib
from .._errors import TransformError, UnsupportedError
from .._tensor import Tensor, bool_, default_float, float32, float64, int32, int64, new
from . import conversion, creation, indexing, inplace, linalg, norms, pointwise, random, reduction, shape, tensor_ops
from .conversion import cast, operand

_OPS = {name: getattr(module, name) for module in (conversion, creation, indexing, linalg, norms, pointwise, random,
                                                   reduction, shape, tensor_ops) for name in module.__all__}

#: Ops that are also Tensor methods under the same name (with the tensor as the first argument).
METHODS = ("neg", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt", "rsqrt", "abs",
           "sign", "relu", "floor", "ceil", "round", "negative", "absolute", "square", "reciprocal", "clamp", "clip",
           "log2", "log10", "isnan", "isinf", "isfinite", "logical_not", "logical_and", "logical_or", "logical_xor",
           "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
           "pow", "maximum", "minimum", "atan2", "arctan2", "lt", "le", "gt", "ge", "eq", "ne", "less", "less_equal",
           "greater", "greater_equal", "not_equal", "sum", "prod", "mean", "amax", "amin", "argmax", "argmin", "max",
           "min", "var", "std", "logsumexp", "all", "any", "softmax", "log_softmax", "view_as", "reshape_as",
           "flatten", "unflatten", "transpose", "swapaxes", "swapdims", "t", "movedim", "moveaxis", "broadcast_to",
           "expand_as", "squeeze", "unsqueeze", "flip", "narrow", "select", "split", "chunk", "unbind", "detach",
           "clone", "matmul", "mm", "bmm", "mv", "dot", "inner", "outer", "gather", "index_select", "scatter_add",
           "allclose", "isclose", "equal", "bernoulli", "diag", "diagonal", "diag_embed", "trace", "tril", "triu",
           "cumsum", "cumprod", "sort", "argsort", "topk", "roll", "norm", "det", "logdet", "slogdet", "inverse",
           "cholesky_solve")
#: Ops whose method also takes a shape as varargs (x.reshape(2, 3) as well as x.reshape((2, 3))).
SHAPE_METHODS = ("reshape", "view", "permute", "expand", "repeat")


def _construct(cls, data=None, *, dtype=None, device=None):
    """Tensor(data), as torch.Tensor(data): a float32 copy by default (a Tensor's copy keeps its dtype)."""
    default = None if isinstance(data, Tensor) else default_float
    made = conversion.tensor([] if data is None else data, dtype=dtype or default, device=device)
    return made if cls is Tensor else cls._adopt(made)


def _with_operand(body):
    """A binary operator method: `other` becomes a Tensor operand by torch's rules (NotImplemented when it
    cannot, so that Python tries the other operand), then body(self, operand)."""
    def method(self, other):
        o = operand(other, self)
        if o is None:
            return NotImplemented
        return body(self, o)

    return method


def _operator(cfn, reverse=False):
    """self <op> other through sf_<op> (reverse: other <op> self, for __radd__ and the like)."""
    if reverse:
        return _with_operand(lambda self, o: new(cfn, o._h, self._h))
    return _with_operand(lambda self, o: new(cfn, self._h, o._h))


def _bool_only(fn, name):
    def body(self, o):
        if self.dtype is not bool_ or o.dtype is not bool_:
            raise TypeError(f"'{name}' is only supported between bool tensors in swiftfunc")
        return fn(self, o)

    return _with_operand(body)


def _invert(self):
    if self.dtype is not bool_:
        raise TypeError("'~' is only supported on bool tensors in swiftfunc")
    return pointwise.logical_not(self)


def _shape_method(fn):
    def method(self, *shape):
        return fn(self, *shape)

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _like(make):
    """The Tensor.new_* method of a creation function: the new tensor has self's dtype unless one is given."""
    def method(self, *args, dtype=None, device=None, requires_grad=False):
        return make(*args, dtype=dtype or self.dtype, device=device)

    method.__name__ = "new_" + make.__name__
    return method


def _set_data(self, value):
    """t.data = other: t takes other's value (shape and dtype included), as torch allows."""
    if inplace.is_traced(self) or inplace.is_traced(value):
        raise TransformError("Tensor.data: a traced value cannot be assigned, nor assigned to, inside a transform")
    self._rebind(conversion.tensor_of(value))


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Raises UnsupportedError: swiftfunc has no tape (see swiftfunc.autograd.grad_mode.NO_TAPE)."""
    from ..autograd.grad_mode import NO_TAPE  # autograd sits above the ops

    raise UnsupportedError(f"Tensor.backward(): {NO_TAPE}")


def attach():
    T = Tensor
    for table in (inplace.INPLACE, inplace.AUGMENTED):
        for name, method in table.items():
            setattr(T, name, method)
    T.backward = _backward
    T.data = property(conversion.detach, _set_data, doc="The value without the requires_grad flag; assigning "
                                                        "it gives the tensor another value (see in-place methods).")
    T.__new__ = staticmethod(_construct)
    for name in METHODS:
        setattr(T, name, _OPS[name])
    for name in SHAPE_METHODS:
        setattr(T, name, _shape_method(_OPS[name]))
    T.to = conversion.to
    T.tile = tensor_ops._tile_method
    T.where = lambda self, condition, other: pointwise.where(condition, self, other)
    T.type = lambda self, dtype=None: self.dtype if dtype is None else conversion.to(self, dtype)
    T.float = lambda self: cast(self, float32)
    T.double = lambda self: cast(self, float64)
    T.int = lambda self: cast(self, int32)
    T.long = lambda self: cast(self, int64)
    T.bool = lambda self: cast(self, bool_)
    T.cpu = lambda self: self
    T.contiguous = lambda self: self
    T.new_zeros = _like(creation.zeros)
    T.new_ones = _like(creation.ones)
    T.new_full = _like(creation.full)
    T.new_tensor = _like(conversion.tensor)
    T.T = property(lambda self: shape.permute(self, tuple(range(self.ndim - 1, -1, -1))),
                   doc="The dims reversed (the transpose of a matrix).")
    T.mT = property(lambda self: shape.transpose(self, -2, -1), doc="The last two dims swapped.")
    T.__getitem__ = indexing.getitem
    T.__add__, T.__radd__ = _operator(lib.sf_add), _operator(lib.sf_add, True)
    T.__sub__, T.__rsub__ = _operator(lib.sf_sub), _operator(lib.sf_sub, True)
    T.__mul__, T.__rmul__ = _operator(lib.sf_mul), _operator(lib.sf_mul, True)
    T.__truediv__, T.__rtruediv__ = _operator(lib.sf_div), _operator(lib.sf_div, True)
    T.__pow__, T.__rpow__ = _operator(lib.sf_pow), _operator(lib.sf_pow, True)
    T.__matmul__, T.__rmatmul__ = _operator(lib.sf_matmul), _operator(lib.sf_matmul, True)
    T.__floordiv__ = _with_operand(pointwise.floor_divide)
    T.__rfloordiv__ = _with_operand(lambda self, o: pointwise.floor_divide(o, self))
    T.__mod__ = _with_operand(pointwise.remainder)
    T.__rmod__ = _with_operand(lambda self, o: pointwise.remainder(o, self))
    T.__lt__, T.__le__ = _operator(lib.sf_lt), _operator(lib.sf_le)
    T.__gt__, T.__ge__ = _operator(lib.sf_gt), _operator(lib.sf_ge)
    T.__eq__, T.__ne__ = _operator(lib.sf_eq), _operator(lib.sf_ne)
    T.__and__ = T.__rand__ = _bool_only(pointwise.logical_and, "&")
    T.__or__ = T.__ror__ = _bool_only(pointwise.logical_or, "|")
    T.__xor__ = T.__rxor__ = _bool_only(pointwise.logical_xor, "^")
    T.__invert__ = _invert
    T.__neg__ = pointwise.neg
    T.__pos__ = lambda self: self
    T.__abs__ = pointwise.abs
    T.__hash__ = object.__hash__
