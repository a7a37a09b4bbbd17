"""torch.nn.functional for the ops swiftfunc provides."""
import ctypes
import numbers

from .. import _ops
from .._capi import int64s, lib
from .._ops.conversion import tensor_of
from .._tensor import Tensor, int64, new, wrap

__all__ = ["relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy", "mse_loss", "linear",
           "conv2d", "conv_transpose2d", "layer_norm", "dropout", "pad", "one_hot",
           "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d", "conv1d", "batch_norm",
           "group_norm", "embedding", "nll_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div", "softplus", "elu", "leaky_relu", "logsigmoid", "normalize",
           "cosine_similarity", "scaled_dot_product_attention"]

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
    (float, input's shape). With class indices, weight and ignore_index work as in nll_loss; label_smoothing
    is not supported."""
    if label_smoothing != 0.0:
        raise NotImplementedError("cross_entropy: label_smoothing is not supported")
    mode = _reduction(reduction)
    if weight is not None or (ignore_index != -100 and not (isinstance(target, Tensor) and target.dtype.is_floating_point)):
        if isinstance(target, Tensor) and target.dtype.is_floating_point:
            raise NotImplementedError("cross_entropy: weight is not supported with class-probability targets")
        return nll_loss(_ops.log_softmax(input, 0 if input.ndim == 1 else 1), target, weight, ignore_index=ignore_index,
                        reduction=reduction)
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


def _pair(value, op, name):
    """An int or a 1- or 2-sequence as an (H, W) pair."""
    if isinstance(value, numbers.Integral):
        return (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * 2
    if len(value) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {value}")
    return value


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of input [N, C, H, W] (or [C, H, W]) with weight [O, C/groups, KH, KW].
    padding is an int, a pair, 'valid' or 'same' (stride 1)."""
    stride, dilation = _pair(stride, "conv2d", "stride"), _pair(dilation, "conv2d", "dilation")
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
    padding = _pair(padding, "conv2d", "padding")
    return new(lib.sf_conv2d, input._h, weight._h, None if bias is None else bias._h, int64s(stride),
               int64s(padding), int64s(dilation), int(groups))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution (conv2d's adjoint in its input) of input [N, C_in, H, W] (or [C_in, H, W])
    with weight [C_in, C_out/groups, KH, KW]: [N, C_out, H', W'] with H' = (H - 1) * stride - 2 * padding
    + dilation * (KH - 1) + output_padding + 1. torch's argument order (groups before dilation); each of
    stride, padding, output_padding and dilation an int or a pair; output_padding must be smaller than
    either the stride or the dilation of its dim."""
    op = "conv_transpose2d"
    return new(lib.sf_conv_transpose2d, input._h, weight._h, None if bias is None else bias._h,
               int64s(_pair(stride, op, "stride")), int64s(_pair(padding, op, "padding")),
               int64s(_pair(output_padding, op, "output_padding")), int64s(_pair(dilation, op, "dilation")),
               int(groups))


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




# -- pooling ----------------------------------------------------------------------------------------


def _single(value, op, name):
    if isinstance(value, numbers.Integral):
        return int(value)
    value = tuple(int(v) for v in value)
    if len(value) != 1:
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {value}")
    return value[0]


def _stride_or_kernel(stride, kernel, convert):
    """torch's pooling stride: the kernel size when None (or empty)."""
    if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0):
        return kernel
    return convert(stride)


def _two_results(cfn, *args):
    out, second = ctypes.c_void_p(), ctypes.c_void_p()
    cfn(*args, ctypes.byref(out), ctypes.byref(second))
    first = wrap(out.value)
    return first, (wrap(second.value) if second.value else None)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling of [N, C, H, W] or [C, H, W]; stride defaults to kernel_size. With return_indices, also the
    int64 position h * W + w of each maximum within its plane (torch's indices)."""
    kernel = _pair(kernel_size, "max_pool2d", "kernel_size")
    stride = _stride_or_kernel(stride, kernel, lambda s: _pair(s, "max_pool2d", "stride"))
    values, indices = _two_results(lib.sf_max_pool2d, input._h, int64s(kernel), int64s(stride),
                                   int64s(_pair(padding, "max_pool2d", "padding")),
                                   int64s(_pair(dilation, "max_pool2d", "dilation")), bool(ceil_mode))
    return (values, indices) if return_indices else values


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling of [N, C, L] or [C, L]; stride defaults to kernel_size."""
    kernel = _single(kernel_size, "max_pool1d", "kernel_size")
    stride = _stride_or_kernel(stride, kernel, lambda s: _single(s, "max_pool1d", "stride"))
    values, indices = _two_results(lib.sf_max_pool1d, input._h, kernel, stride, _single(padding, "max_pool1d", "padding"),
                                   _single(dilation, "max_pool1d", "dilation"), bool(ceil_mode))
    return (values, indices) if return_indices else values


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """2-D average pooling of [N, C, H, W] or [C, H, W]; stride defaults to kernel_size."""
    kernel = _pair(kernel_size, "avg_pool2d", "kernel_size")
    stride = _stride_or_kernel(stride, kernel, lambda s: _pair(s, "avg_pool2d", "stride"))
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError("avg_pool2d: divisor must be not zero")
    return new(lib.sf_avg_pool2d, input._h, int64s(kernel), int64s(stride),
               int64s(_pair(padding, "avg_pool2d", "padding")), bool(ceil_mode), bool(count_include_pad),
               0 if divisor_override is None else int(divisor_override))


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling of [N, C, L] or [C, L]; stride defaults to kernel_size."""
    kernel = _single(kernel_size, "avg_pool1d", "kernel_size")
    stride = _stride_or_kernel(stride, kernel, lambda s: _single(s, "avg_pool1d", "stride"))
    return new(lib.sf_avg_pool1d, input._h, kernel, stride, _single(padding, "avg_pool1d", "padding"), bool(ceil_mode),
               bool(count_include_pad))


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to output_size (an int, or a pair whose None entries keep the input's size)."""
    if isinstance(output_size, numbers.Integral) or output_size is None:
        output_size = (output_size, output_size)
    size = tuple(input.shape[-2 + i] if s is None else int(s) for i, s in enumerate(output_size))
    if len(size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size}")
    return new(lib.sf_adaptive_avg_pool2d, input._h, int64s(size))


# -- convolution, normalization, embedding --------------------------------------------------------


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation of input [N, C, L] (or [C, L]) with weight [O, C/groups, K]. padding is an int,
    'valid' or 'same' (stride 1)."""
    stride, dilation = _single(stride, "conv1d", "stride"), _single(dilation, "conv1d", "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if stride != 1:
                raise ValueError("conv1d: padding='same' is not supported for strided convolutions")
            total = dilation * (weight.shape[-1] - 1)
            if total % 2:  # asymmetric: the extra column goes on the right, as torch
                input = pad(input, (total // 2, total - total // 2))
                padding = 0
            else:
                padding = total // 2
        else:
            raise ValueError(f"conv1d: invalid padding string {padding!r}, should be one of 'valid' or 'same'")
    return new(lib.sf_conv1d, input._h, weight._h, None if bias is None else bias._h, stride,
               _single(padding, "conv1d", "padding"), dilation, int(groups))


def _rebind(target, value):
    """Gives the Python object `target` the value of `value` (torch's in-place update of a buffer; swiftfunc
    tensors are immutable, so the object takes a new handle and views of the old value keep it)."""
    lib.sf_tensor_retain(value._h)
    old = target._h
    target._h, target._shape, target._dtype = value._h, None, None
    lib.sf_tensor_release(old)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over dim 1 of [N, C, ...]. When training with running statistics they are updated as
    torch does in place: the Tensor objects passed take the new values ((1 - momentum) r + momentum s, with the
    unbiased batch variance). momentum=None is not accepted here (BatchNorm modules turn it into the cumulative
    average's factor). Under vmap, unbatched running statistics cannot be updated from a batched input (an
    error, as in torch.func: see swiftfunc.func.replace_all_batch_norm_modules_)."""
    if momentum is None:
        raise ValueError("batch_norm: momentum=None is handled by the BatchNorm modules; pass a number")
    out, mean_out, var_out = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    lib.sf_batch_norm(input._h, None if running_mean is None else running_mean._h,
                      None if running_var is None else running_var._h, None if weight is None else weight._h,
                      None if bias is None else bias._h, bool(training), float(momentum), float(eps), ctypes.byref(out),
                      ctypes.byref(mean_out), ctypes.byref(var_out))
    result = wrap(out.value)
    if mean_out.value:
        _rebind(running_mean, wrap(mean_out.value))
        _rebind(running_var, wrap(var_out.value))
    return result


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization of [N, C, ...] over num_groups groups of channels."""
    return new(lib.sf_group_norm, input._h, int(num_groups), None if weight is None else weight._h,
               None if bias is None else bias._h, float(eps))


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """Rows of weight [V, D] at the integer indices `input`; the padding_idx row gets no gradient. max_norm,
    scale_grad_by_freq and sparse are not supported."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    input = tensor_of(input)
    padding = None if padding_idx is None else ctypes.byref(ctypes.c_int64(int(padding_idx)))
    return new(lib.sf_embedding, input._h, weight._h, padding)


# -- losses -----------------------------------------------------------------------------------------


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities input [N, C, d...] (or [C]) at class indices target."""
    target = tensor_of(target)
    return new(lib.sf_nll_loss, input._h, target._h, None if weight is None else weight._h, int(ignore_index),
               _reduction(reduction))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    target = tensor_of(target)
    return new(lib.sf_l1_loss, input._h, target._h, _reduction(reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    target = tensor_of(target)
    return new(lib.sf_smooth_l1_loss, input._h, target._h, _reduction(reduction), float(beta))


def huber_loss(input, target, reduction="mean", delta=1.0):
    target = tensor_of(target)
    return new(lib.sf_huber_loss, input._h, target._h, _reduction(reduction), float(delta))


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy of probabilities; each log is clamped at -100 as torch. Inputs outside [0, 1] are not
    checked (torch raises for them)."""
    target = tensor_of(target)
    return new(lib.sf_binary_cross_entropy, input._h, target._h, None if weight is None else weight._h,
               _reduction(reduction))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    target = tensor_of(target)
    return new(lib.sf_binary_cross_entropy_with_logits, input._h, target._h, None if weight is None else weight._h,
               None if pos_weight is None else pos_weight._h, _reduction(reduction))


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence of log-probabilities `input` from `target`; reduction also takes torch's 'batchmean'."""
    target = tensor_of(target)
    if reduction == "batchmean":
        total = new(lib.sf_kl_div, input._h, target._h, 2, bool(log_target))
        return total / input.shape[0] if input.ndim > 0 else total
    return new(lib.sf_kl_div, input._h, target._h, _reduction(reduction), bool(log_target))


# -- activations ------------------------------------------------------------------------------------


def softplus(input, beta=1.0, threshold=20.0):
    return new(lib.sf_softplus, input._h, float(beta), float(threshold))


def elu(input, alpha=1.0, inplace=False):
    return new(lib.sf_elu, input._h, float(alpha))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return new(lib.sf_leaky_relu, input._h, float(negative_slope))


def logsigmoid(input):
    return new(lib.sf_logsigmoid, input._h)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p, eps) along dim."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported (tensors are immutable)")
    return new(lib.sf_normalize, input._h, float(p), int(dim), float(eps))


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    return new(lib.sf_cosine_similarity, x1._h, x2._h, int(dim), float(eps))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value; attn_mask bool (True takes part) or float (added)."""
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported")
    mask = None if attn_mask is None else tensor_of(attn_mask)
    scale_arg = None if scale is None else ctypes.byref(ctypes.c_double(float(scale)))
    return new(lib.sf_scaled_dot_product_attention, query._h, key._h, value._h, None if mask is None else mask._h,
               float(dropout_p), bool(is_causal), scale_arg)
