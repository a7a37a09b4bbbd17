"""torch.nn.utils for training loops: clip_grad_norm_, clip_grad_value_ (over each parameter's .grad, in
place) and parameters_to_vector / vector_to_parameters, with torch's formulas."""
import math

from .. import _ops
from .._tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "parameters_to_vector", "vector_to_parameters"]


def _tensors(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(x, norm_type):
    if norm_type == math.inf:
        return _ops.amax(_ops.abs(x)) if x.numel() else _ops.zeros((), dtype=x.dtype)
    if norm_type == -math.inf:
        return _ops.amin(_ops.abs(x))
    if norm_type == 2:
        return _ops.sqrt(_ops.sum(x * x))
    if norm_type == 1:
        return _ops.sum(_ops.abs(x))
    if norm_type == 0:
        return _ops.sum(_ops.ne(x, 0.0).to(x.dtype))
    return _ops.sum(_ops.abs(x) ** norm_type) ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of the tensors (the norm of all their elements together)."""
    tensors = _tensors(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _ops.zeros(())
    norms = [_vector_norm(t, norm_type) for t in tensors]
    total = _vector_norm(_ops.stack([n.to(norms[0].dtype) for n in norms]), norm_type)
    if error_if_nonfinite and not _ops.isfinite(total).item():
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           f"it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           f"norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales the .grad of the parameters in place so that their total norm is at most max_norm (each by
    min(1, max_norm / (total_norm + 1e-6)), as torch); returns the total norm before clipping."""
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if grads:
        coefficient = _ops.clamp(float(max_norm) / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coefficient.to(g.dtype))
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps the .grad of the parameters to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for p in _tensors(parameters):
        if p.grad is not None:
            p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters):
    """The parameters flattened and concatenated into one vector."""
    return _ops.cat([_ops.reshape(p, (-1,)) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Gives each parameter, in place, its slice of the vector (the inverse of parameters_to_vector)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    start = 0
    for p in parameters:
        n = p.numel()
        p.copy_(_ops.reshape(vec[start:start + n], p.shape))
        start += n
