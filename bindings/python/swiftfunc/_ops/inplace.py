"""torch's in-place Tensor methods (x.add_(y), x.zero_(), x.uniform_(), ...) over immutable tensors.

swiftfunc tensors never change: an in-place method computes the new value with the ordinary op and gives
it to the Python object (`Tensor._rebind` replaces the object's handle), then returns the object, as
torch does. Everything that holds the *object* sees the new value (a module's Parameter, an optimizer's
parameter list, every Python name bound to it); every other tensor keeps the value it had: a view taken
earlier (x[0], x.t(), x.detach(), x.view(...)) does not change with x, and an in-place method on a view
does not change its base. See docs/porting.md ("Immutability").

Augmented assignment (x += y, -=, *=, /=) is in place on concrete tensors and out of place on traced
values (see _augmented).

torch's rules that survive: the result keeps self's shape and dtype (a broadcast that would grow self
raises RuntimeError, a float result cannot be written into an integer tensor). Inside a transform an
in-place method on a traced value (a function's input under grad/vmap/jit, or anything computed from
one) raises TransformError naming the method: the transforms see each value once, so a Python-level
rebinding would be invisible to them; write `x = x.add(y)` instead. So does giving a tensor made
outside a transform a traced value (it would escape the transform).
"""
import ctypes
import numbers

from .. import _dlpack
from .._capi import lib
from .._errors import TransformError
from .._tensor import Tensor, bool_, float64
from . import creation, pointwise, random
from .conversion import cast, tensor_of

__all__ = []  # methods only: attached to Tensor by _ops.methods

#: name -> function(self, ...) -> new value; the Tensor method `name` rebinds self to that value.
INPLACE = {}


def is_traced(t):
    """Whether `t` is a traced value of an active (or finished) transform rather than a concrete tensor.

    The C ABI exports only concrete tensors through DLPack and reports SF_ERR_TRANSFORM for the others,
    which makes the export a cheap, exact probe (the managed tensor is deleted at once)."""
    out = ctypes.c_void_p()
    try:
        lib.sf_to_dlpack(t._h, ctypes.byref(out))
    except TransformError:
        return True
    _dlpack.delete_managed(out.value, False)
    return False


def _category(d):
    return 0 if d is bool_ else (2 if d.is_floating_point else 1)


def assign(self, value, name):
    """Gives `self` the new value `value` (torch's checks of an in-place result first); returns self."""
    if is_traced(self):
        raise TransformError(f"Tensor.{name}: in-place methods cannot change a traced value inside a transform "
                             f"(grad, vjp, jvp, vmap, jit, ...); swiftfunc tensors are immutable, so write "
                             f"x = x.{name.rstrip('_')}(...) (the out-of-place op) instead")
    value = tensor_of(value)
    if is_traced(value):
        raise TransformError(f"Tensor.{name}: cannot store a traced value in a tensor made outside the transform "
                             f"(it would escape it); return the value from the transformed function instead")
    if value.shape != self.shape:
        raise RuntimeError(f"Tensor.{name}: output with shape {list(self.shape)} doesn't match the broadcast "
                           f"shape {list(value.shape)}")
    if _category(value.dtype) > _category(self.dtype):
        raise RuntimeError(f"Tensor.{name}: result type {value.dtype.name} can't be cast to the desired output "
                           f"type {self.dtype.name}")
    return self._rebind(cast(value, self.dtype))


def _inplace(compute):
    """Registers compute(self, ...) -> new value as the in-place method named after it."""
    name = compute.__name__

    def method(self, *args, **kwargs):
        return assign(self, compute(self, *args, **kwargs), name)

    method.__name__ = name
    method.__doc__ = compute.__doc__
    INPLACE[name] = method
    return method


def _floating(self, name):
    if not self.dtype.is_floating_point:
        raise TypeError(f"Tensor.{name}: not implemented for {self.dtype.name} tensors (floating point only)")


# -- filling ---------------------------------------------------------------------------------------


@_inplace
def zero_(self):
    """Fills self with zeros."""
    return creation.zeros_like(self)


@_inplace
def fill_(self, value):
    """Fills self with `value` (a number or a 0-d tensor)."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                               f"dimensions")
        return pointwise.add(creation.zeros_like(self), cast(value, self.dtype))
    return creation.full_like(self, value)


@_inplace
def copy_(self, src, non_blocking=False):
    """Copies src's values into self (src broadcasts to self's shape and is cast to self's dtype)."""
    src = tensor_of(src)
    return cast(src, self.dtype).broadcast_to(self.shape) if src.shape != self.shape else cast(src, self.dtype)


@_inplace
def uniform_(self, a=0.0, b=1.0, *, generator=None):
    """Fills self with U(a, b) samples from the process-wide generator (torch's from/to are a/b here)."""
    _floating(self, "uniform_")
    return random.rand_like(self) * (float(b) - float(a)) + float(a)


@_inplace
def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fills self with N(mean, std^2) samples from the process-wide generator."""
    _floating(self, "normal_")
    return random.randn_like(self) * float(std) + float(mean)


@_inplace
def bernoulli_(self, p=0.5, *, generator=None):
    """Fills self with 1 with probability p (a number or a tensor of probabilities), else 0 (any dtype)."""
    probabilities = cast(p, float64) if isinstance(p, Tensor) else creation.full(self.shape, float(p), dtype=float64)
    return cast(random.bernoulli(probabilities.broadcast_to(self.shape)), self.dtype)


# -- arithmetic --------------------------------------------------------------------------------------


@_inplace
def add_(self, other, *, alpha=1):
    """self += alpha * other."""
    return pointwise.add(self, other, alpha=alpha)


@_inplace
def sub_(self, other, *, alpha=1):
    """self -= alpha * other."""
    return pointwise.sub(self, other, alpha=alpha)


@_inplace
def mul_(self, other):
    """self *= other."""
    return pointwise.mul(self, other)


@_inplace
def div_(self, other, *, rounding_mode=None):
    """self /= other (rounding_mode as torch.div)."""
    return pointwise.div(self, other, rounding_mode=rounding_mode)


@_inplace
def pow_(self, exponent):
    """self **= exponent."""
    return pointwise.pow(self, exponent)


@_inplace
def addcmul_(self, tensor1, tensor2, *, value=1):
    """self += value * tensor1 * tensor2."""
    product = pointwise.mul(tensor1, tensor2)
    return pointwise.add(self, product if value == 1 else pointwise.mul(product, value))


@_inplace
def addcdiv_(self, tensor1, tensor2, *, value=1):
    """self += value * tensor1 / tensor2."""
    quotient = pointwise.div(tensor1, tensor2)
    return pointwise.add(self, quotient if value == 1 else pointwise.mul(quotient, value))


def lerp(input, end, weight):
    """input + weight * (end - input), computed as torch's kernel does (from `end` for weights >= 0.5, which
    is exact at weight 1); used by lerp_ and by the Adam optimizers."""
    if isinstance(weight, numbers.Real) and abs(weight) >= 0.5:
        return pointwise.sub(end, pointwise.mul(pointwise.sub(end, input), 1 - weight))
    return pointwise.add(input, pointwise.mul(pointwise.sub(end, input), weight))


@_inplace
def lerp_(self, end, weight):
    """self += weight * (end - self)."""
    return lerp(self, end, weight)


@_inplace
def clamp_(self, min=None, max=None):
    """self limited to [min, max]."""
    return pointwise.clamp(self, min, max)


@_inplace
def clamp_min_(self, min):
    """self limited to [min, inf)."""
    return pointwise.clamp(self, min, None)


@_inplace
def clamp_max_(self, max):
    """self limited to (-inf, max]."""
    return pointwise.clamp(self, None, max)


def _unary_inplace(name):
    op = getattr(pointwise, name)

    def compute(self):
        return op(self)

    compute.__name__ = name + "_"
    compute.__doc__ = f"self = {name}(self)."
    return _inplace(compute)


for _name in ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "sigmoid", "tanh", "relu", "square", "reciprocal",
              "floor", "ceil", "round", "sign", "sin", "cos"):
    _unary_inplace(_name)

INPLACE["clip_"] = INPLACE["clamp_"]


# -- augmented assignment ---------------------------------------------------------------------------


def _augmented(name, op):
    """x += y and the like: in place on a concrete tensor (as torch: every holder of the object sees it, so
    `for p in model.parameters(): p -= lr * p.grad` updates the model); on a traced value, where an
    in-place method is refused, the out-of-place result (Python then rebinds the name), so the usual
    `h += bias` inside a transformed function keeps working."""
    def method(self, other):
        if is_traced(self) or (isinstance(other, Tensor) and is_traced(other)):
            return op(self, other)
        return INPLACE[name](self, other)

    method.__name__ = f"__i{name.rstrip('_')}__"
    return method


AUGMENTED = {"__iadd__": _augmented("add_", pointwise.add), "__isub__": _augmented("sub_", pointwise.sub),
             "__imul__": _augmented("mul_", pointwise.mul), "__itruediv__": _augmented("div_", pointwise.div)}


# -- flags -------------------------------------------------------------------------------------------


def requires_grad_(self, requires_grad=True):
    """Sets the requires_grad flag and returns self. It is only a flag (swiftfunc has no tape: derivatives
    come from swiftfunc.func); module.requires_grad_(False) and optimizers read it."""
    self.requires_grad = requires_grad
    return self


def detach_(self):
    """Returns self: a swiftfunc tensor is never part of a tape, so there is nothing to detach from."""
    return self


INPLACE["requires_grad_"] = requires_grad_
INPLACE["detach_"] = detach_
