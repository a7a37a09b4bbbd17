"""torch.nn.functional for the ops swiftfunc provides."""
import numbers

from .. import _ops
from .._capi import int64s, lib
from .._ops.conversion import tensor_of
from .._tensor import Tensor, int64, new

__all__ = ["relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy", "mse_loss", "linear",
           "conv2d", "layer_norm", "dropout", "pad", "one_hot"]

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}

sigmoid = _ops.sigmoid
tanh = _ops.tanh


def relu(input, inplace=False):
    return _ops.relu(input)


def gelu(input, approximate="none"):
    """GELU: exact (erf) by default, torch's tanh approximation with approximate='tanh'."""
    return _ops.gelu(input, approximate)


def silu(input, inplace=False):
    return _ops.silu(input)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        raise ValueError("softmax: pass dim explicitly (torch's implicit dim choice is deprecated)")
    return _ops.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        raise ValueError("log_softmax: pass dim explicitly (torch's implicit dim choice is deprecated)")
    return _ops.log_softmax(input, dim, dtype)


def _reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _REDUCTIONS[reduction]


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy of logits `input` [N, C] (or [C]) against class indices (int) or class probabilities
    (float, input's shape). weight, ignore_index (other than ignoring nothing) and label_smoothing are not
    supported."""
    if weight is not None or label_smoothing != 0.0:
        raise NotImplementedError("cross_entropy: weight and label_smoothing are not supported")
    mode = _reduction(reduction)
    if isinstance(target, Tensor) and target.dtype.is_floating_point:
        class_dim = 0 if input.ndim == 1 else 1
        losses = -_ops.sum(target * _ops.log_softmax(input, class_dim), class_dim)
        return losses if mode == 0 else (_ops.sum(losses) if mode == 2 else _ops.mean(losses))
    target = tensor_of(target)
    return new(lib.sf_cross_entropy, input._h, target._h, mode)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    target = tensor_of(target)
    return new(lib.sf_mse_loss, input._h, target._h, _reduction(reduction))


def linear(input, weight, bias=None):
    """input @ weight.T + bias."""
    return new(lib.sf_linear, input._h, weight._h, None if bias is None else bias._h)


def _pair(value, name):
    if isinstance(value, numbers.Integral):
        return (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * 2
    if len(value) != 2:
        raise ValueError(f"conv2d: {name} must be an int or a pair, got {value}")
    return value


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of input [N, C, H, W] (or [C, H, W]) with weight [O, C/groups, KH, KW].
    padding is an int, a pair, 'valid' or 'same' (stride 1)."""
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' is not supported for strided convolutions")
            totals = [d * (k - 1) for d, k in zip(dilation, weight.shape[-2:])]
            lefts = [t // 2 for t in totals]
            if any(t % 2 for t in totals):  # asymmetric: pad the extra row/column on the right/bottom
                input = pad(input, (lefts[1], totals[1] - lefts[1], lefts[0], totals[0] - lefts[0]))
                padding = (0, 0)
            else:
                padding = tuple(lefts)
        else:
            raise ValueError(f"conv2d: invalid padding string {padding!r}, should be one of 'valid' or 'same'")
    padding = _pair(padding, "padding")
    return new(lib.sf_conv2d, input._h, weight._h, None if bias is None else bias._h, int64s(stride),
               int64s(padding), int64s(dilation), int(groups))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (int(normalized_shape),) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
    return new(lib.sf_layer_norm, input._h, int64s(shape), len(shape), None if weight is None else weight._h,
               None if bias is None else bias._h, float(eps))


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability p and scales the rest by 1/(1-p) when training."""
    return new(lib.sf_dropout, input._h, float(p), bool(training))


def pad(input, pad, mode="constant", value=None):
    """Constant padding: pad = (left, right) for the last dim, then the one before it, ...; negative crops."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, not {mode!r}")
    pad = tuple(int(p) for p in pad)
    return new(lib.sf_pad, input._h, int64s(pad), len(pad), 0.0 if value is None else float(value))


def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding along a new last dim (num_classes=-1 uses max + 1 of concrete values)."""
    if num_classes < 0:
        num_classes = int(_ops.amax(tensor).item()) + 1
    classes = _ops.arange(num_classes, dtype=tensor.dtype)
    return (_ops.unsqueeze(tensor, -1) == classes).to(int64)


