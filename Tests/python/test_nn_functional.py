"""nn.functional pooling, convolutions, normalization, losses, activations and attention, and their modules.

Every op is checked against numpy (closed forms and direct loops written here) and, when torch is
importable, against torch on the same inputs; its rules through float64 central differences at
orders 1 and 2 and vmap against a Python loop; its errors as exceptions naming the op. BatchNorm's
running statistics are checked against torch's formulas, in train and eval, and under vmap with
replace_all_batch_norm_modules_.
"""
import math

import numpy as np
import pytest

import swiftfunc as sf
import swiftfunc.nn as nn
import swiftfunc.nn.functional as F
from swiftfunc.func import functional_call, grad, jvp, replace_all_batch_norm_modules_, stack_module_state, vmap
from conftest import optional_module

torch = optional_module("torch")


def v(t):
    return t._copy_values()


def t64(array):
    return sf.tensor(np.asarray(array, dtype=np.float64), dtype=sf.float64)


# ------------------------------------------------------------------------------------------------
# numpy references (torch's rules written out)
# ------------------------------------------------------------------------------------------------


def pool_size(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def np_max_pool2d(x, k, s, p, d, ceil_mode):
    *lead, h, w = x.shape
    oh, ow = pool_size(h, k[0], s[0], p[0], d[0], ceil_mode), pool_size(w, k[1], s[1], p[1], d[1], ceil_mode)
    values = np.empty(tuple(lead) + (oh, ow))
    indices = np.empty(tuple(lead) + (oh, ow), dtype=np.int64)
    for idx in np.ndindex(*lead):
        for i in range(oh):
            for j in range(ow):
                best, at = -np.inf, None
                for a in range(k[0]):
                    for b in range(k[1]):
                        r, c = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + b * d[1]
                        if 0 <= r < h and 0 <= c < w and (at is None or x[idx + (r, c)] > best):
                            best, at = x[idx + (r, c)], r * w + c
                values[idx + (i, j)], indices[idx + (i, j)] = best, at
    return values, indices


def np_avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor_override=None):
    *lead, h, w = x.shape
    oh, ow = pool_size(h, k[0], s[0], p[0], 1, ceil_mode), pool_size(w, k[1], s[1], p[1], 1, ceil_mode)
    out = np.empty(tuple(lead) + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            count = (h1 - h0) * (w1 - w0)
            a, b, c, e = max(h0, 0), min(h1, h), max(w0, 0), min(w1, w)
            if not count_include_pad:
                count = (b - a) * (e - c)
            total = x[..., a:b, c:e].sum(axis=(-2, -1))
            out[..., i, j] = total / (divisor_override or count)
    return out


def np_adaptive_avg_pool2d(x, size):
    *lead, h, w = x.shape
    out = np.empty(tuple(lead) + tuple(size))
    for i in range(size[0]):
        for j in range(size[1]):
            a, b = i * h // size[0], -(-(i + 1) * h // size[0])
            c, e = j * w // size[1], -(-(j + 1) * w // size[1])
            out[..., i, j] = x[..., a:b, c:e].mean(axis=(-2, -1))
    return out


def softplus_np(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(np.minimum(beta * x, threshold))) / beta)


def np_sdpa(q, k, vv, mask=None, causal=False, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == bool else scores + mask
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ vv


# ------------------------------------------------------------------------------------------------
# rule checks: float64 central differences at orders 1 and 2, vmap against a loop
# ------------------------------------------------------------------------------------------------


def check_rules(fn, x, rng, h=1e-5, rtol=1e-5, atol=1e-7, batch=3, spread=0.05):
    """fn maps one float64 Tensor to a Tensor. Checks jvp and grad (order 1), jvp of grad (order 2) against
    central differences along a random direction, and vmap(fn) against a loop."""
    x = np.asarray(x, dtype=np.float64)
    direction = rng.normal(size=x.shape)
    out_shape = tuple(fn(t64(x)).shape)
    weights = t64(rng.normal(size=out_shape))

    def scalar(t):
        return (fn(t) * weights).sum()

    def at(point):
        return v(fn(t64(point)))

    # order 1, forward: jvp tangent vs the difference of fn
    _, tangent = jvp(fn, (t64(x),), (t64(direction),))
    fd = (at(x + h * direction) - at(x - h * direction)) / (2 * h)
    np.testing.assert_allclose(v(tangent), fd, rtol=rtol, atol=atol)
    # order 1, reverse: <grad, direction> vs the difference of the scalar
    g = grad(scalar)(t64(x))
    fd_scalar = (scalar(t64(x + h * direction)).item() - scalar(t64(x - h * direction)).item()) / (2 * h)
    np.testing.assert_allclose((v(g) * direction).sum(), fd_scalar, rtol=rtol, atol=atol)
    # order 2: jvp of grad vs the difference of grad
    _, second = jvp(grad(scalar), (t64(x),), (t64(direction),))
    fd_grad = (v(grad(scalar)(t64(x + h * direction))) - v(grad(scalar)(t64(x - h * direction)))) / (2 * h)
    np.testing.assert_allclose(v(second), fd_grad, rtol=1e3 * rtol, atol=1e2 * atol)
    # vmap against a loop (each example perturbed, so no example repeats another)
    xs = np.stack([x + spread * rng.normal(size=x.shape) for _ in range(batch)])
    batched = v(vmap(fn)(t64(xs)))
    np.testing.assert_allclose(batched, np.stack([at(e) for e in xs]), rtol=1e-12, atol=1e-12)
    # vmap over a dim other than 0, and vmap of grad
    moved = np.moveaxis(xs, 0, -1)
    np.testing.assert_allclose(v(vmap(fn, in_dims=-1)(t64(moved))), batched, rtol=1e-12, atol=1e-12)
    per_example = np.stack([v(grad(scalar)(t64(e))) for e in xs])
    np.testing.assert_allclose(v(vmap(grad(scalar))(t64(xs))), per_example, rtol=1e-10, atol=1e-12)


def distinct(rng, shape):
    """Values with no ties and no two within 1e-3 of each other (max pooling's derivative is then defined
    and finite differences see no switch)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.01 + rng.uniform(0, 0.001, size=n)).reshape(shape) - n * 0.005


# ------------------------------------------------------------------------------------------------
# pooling
# ------------------------------------------------------------------------------------------------

MAX_POOL_CASES = [
    # kernel, stride, padding, dilation, ceil_mode, shape
    ((2, 2), None, 0, 1, False, (2, 3, 6, 6)),
    ((3, 2), (2, 1), (1, 1), 1, False, (2, 2, 7, 5)),
    ((3, 3), 2, (1, 0), (2, 1), True, (1, 2, 7, 7)),
    ((2, 3), (3, 2), 1, (1, 2), True, (3, 5, 8)),
    (3, 1, 1, 1, False, (1, 1, 4, 4)),
]


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode, shape", MAX_POOL_CASES)
def test_max_pool2d_values_indices_and_torch(kernel, stride, padding, dilation, ceil_mode, shape, rng):
    x = distinct(rng, shape)
    pair = lambda a: (a, a) if isinstance(a, int) else a  # noqa: E731
    values, indices = F.max_pool2d(t64(x), kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    ref_values, ref_indices = np_max_pool2d(x, pair(kernel), pair(stride if stride is not None else kernel),
                                            pair(padding), pair(dilation), ceil_mode)
    np.testing.assert_array_equal(v(values), ref_values)
    np.testing.assert_array_equal(v(indices), ref_indices)
    assert indices.dtype == sf.int64
    module = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    np.testing.assert_array_equal(v(module(t64(x))), ref_values)
    if torch is not None:
        tv, ti = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, padding, dilation, ceil_mode,
                                                return_indices=True)
        np.testing.assert_array_equal(v(values), tv.numpy())
        np.testing.assert_array_equal(v(indices), ti.numpy())


def test_max_pool_float32_and_1d(rng):
    x = distinct(rng, (2, 3, 9)).astype(np.float32)
    out, idx = F.max_pool1d(sf.tensor(x), 3, 2, 1, return_indices=True)
    ref, ref_idx = np_max_pool2d(x[:, :, None, :], (1, 3), (1, 2), (0, 1), (1, 1), False)
    assert out.dtype == sf.float32
    np.testing.assert_array_equal(v(out), ref[:, :, 0].astype(np.float32))
    np.testing.assert_array_equal(v(idx), ref_idx[:, :, 0])
    # NaN wins its window, as in torch
    y = np.arange(16, dtype=np.float64).reshape(1, 4, 4)
    y[0, 0, 1] = np.nan
    y[0, 1, 0] = np.nan
    y[0, 3, 3] = np.nan
    pooled, where = F.max_pool2d(t64(y), 2, return_indices=True)
    assert np.isnan(v(pooled)[0, 0, 0]) and np.isnan(v(pooled)[0, 1, 1]) and not np.isnan(v(pooled)[0, 0, 1])
    # torch takes every NaN (val > max || isnan(val)): the last NaN of a window is its position
    np.testing.assert_array_equal(v(where), [[[4, 7], [13, 15]]])
    if torch is not None:
        np.testing.assert_array_equal(v(where), torch.nn.functional.max_pool2d(torch.tensor(y), 2,
                                                                              return_indices=True)[1].numpy())
    if torch is not None:
        np.testing.assert_array_equal(v(F.max_pool1d(sf.tensor(x), 3, 2, 1)),
                                      torch.nn.functional.max_pool1d(torch.tensor(x), 3, 2, 1).numpy())


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode, shape", MAX_POOL_CASES[:4])
def test_max_pool2d_rules(kernel, stride, padding, dilation, ceil_mode, shape, rng):
    x = distinct(rng, shape)
    check_rules(lambda t: F.max_pool2d(t, kernel, stride, padding, dilation, ceil_mode), x, rng, spread=0.0)


def test_max_pool2d_gradient_goes_to_the_maximum(rng):
    x = distinct(rng, (1, 2, 4, 6))
    weights = rng.normal(size=(1, 2, 2, 3))
    g = v(grad(lambda t: (F.max_pool2d(t, 2) * t64(weights)).sum())(t64(x)))
    _, indices = np_max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    expected = np.zeros((1, 2, 24))
    for c in range(2):
        np.add.at(expected[0, c], indices[0, c].ravel(), weights[0, c].ravel())
    np.testing.assert_array_equal(g, expected.reshape(x.shape))


AVG_POOL_CASES = [
    # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, shape
    (2, None, 0, False, True, None, (2, 3, 6, 6)),
    ((3, 2), (2, 1), (1, 1), False, True, None, (2, 7, 5)),
    ((3, 2), (2, 1), (1, 1), False, False, None, (2, 2, 7, 5)),
    (3, 2, 1, True, True, None, (1, 2, 7, 7)),
    (3, 2, 1, True, False, None, (1, 2, 8, 7)),
    (2, 2, 0, False, True, 3, (1, 1, 4, 6)),
    ((2, 3), 1, (1, 1), False, True, 5, (1, 1, 4, 5)),
]


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad, divisor, shape", AVG_POOL_CASES)
def test_avg_pool2d_values_torch_and_rules(kernel, stride, padding, ceil_mode, count_include_pad, divisor, shape, rng):
    x = rng.normal(size=shape)
    pair = lambda a: (a, a) if isinstance(a, int) else a  # noqa: E731

    def fn(t):
        return F.avg_pool2d(t, kernel, stride, padding, ceil_mode, count_include_pad, divisor)

    out = v(fn(t64(x)))
    np.testing.assert_allclose(out, np_avg_pool2d(x, pair(kernel), pair(stride if stride is not None else kernel),
                                                  pair(padding), ceil_mode, count_include_pad, divisor), rtol=1e-12)
    module = nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad, divisor)
    np.testing.assert_allclose(v(module(t64(x))), out, rtol=1e-15)
    if torch is not None:
        ref = torch.nn.functional.avg_pool2d(torch.tensor(x), kernel, stride, padding, ceil_mode, count_include_pad,
                                             divisor)
        np.testing.assert_allclose(out, ref.numpy(), rtol=1e-12, atol=1e-14)
    check_rules(fn, x, rng)


def test_avg_pool1d_and_adaptive(rng):
    x = rng.normal(size=(2, 3, 10))
    out = v(F.avg_pool1d(t64(x), 4, 3, 2, ceil_mode=True, count_include_pad=False))
    np.testing.assert_allclose(out, np_avg_pool2d(x[:, :, None], (1, 4), (1, 3), (0, 2), True, False)[:, :, 0])
    y = rng.normal(size=(2, 3, 7, 9))
    for size in [(3, 4), (7, 9), (1, 1), (2, 3), 5]:
        pair = (size, size) if isinstance(size, int) else size
        got = v(F.adaptive_avg_pool2d(t64(y), size))
        np.testing.assert_allclose(got, np_adaptive_avg_pool2d(y, pair), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(v(nn.AdaptiveAvgPool2d(size)(t64(y))), got)
        if torch is not None:
            np.testing.assert_allclose(got, torch.nn.functional.adaptive_avg_pool2d(torch.tensor(y), size).numpy(),
                                       rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v(F.adaptive_avg_pool2d(t64(y), (None, 3))), np_adaptive_avg_pool2d(y, (7, 3)), rtol=1e-12)
    check_rules(lambda t: F.adaptive_avg_pool2d(t, (3, 4)), y[0], rng)
    check_rules(lambda t: F.adaptive_avg_pool2d(t, 1), y[0], rng)
    check_rules(lambda t: F.avg_pool1d(t, 3, 2, 1), x, rng)
    check_rules(lambda t: F.max_pool1d(t, 3, 2, 1), distinct(rng, (2, 9)), rng, spread=0.0)


def test_pooling_errors():
    x = t64(np.zeros((1, 1, 4, 4)))
    with pytest.raises(sf.InvalidArgumentError, match="max_pool2d.*pad should be at most half"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(sf.ShapeError, match="max_pool2d.*too small"):
        F.max_pool2d(x, 5)
    with pytest.raises(sf.InvalidArgumentError, match="max_pool2d.*kernel_size"):
        F.max_pool2d(x, 0)
    with pytest.raises(sf.ShapeError, match="max_pool2d: input must be"):
        F.max_pool2d(t64(np.zeros((4, 4))), 2)
    with pytest.raises(sf.DTypeError, match="max_pool2d"):
        F.max_pool2d(sf.zeros((1, 4, 4), dtype=sf.int64), 2)
    with pytest.raises(sf.InvalidArgumentError, match="avg_pool2d.*pad should be at most half"):
        F.avg_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="avg_pool2d: divisor"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(sf.ShapeError, match="max_pool1d"):
        F.max_pool1d(x, 2)
    with pytest.raises(sf.InvalidArgumentError, match="adaptive_avg_pool2d"):
        F.adaptive_avg_pool2d(x, (-1, 2))


def test_tutorial_cnn_pooling_size_matches_torch(rng):
    """The per-sample-gradient tutorial's max pooling: [64, 64, 24, 24], 2x2 (the values; the timing is in
    the benchmarks)."""
    x = rng.normal(size=(64, 64, 24, 24)).astype(np.float32)
    out = v(F.max_pool2d(sf.tensor(x), 2))
    np.testing.assert_array_equal(out, x.reshape(64, 64, 12, 2, 12, 2).max(axis=(3, 5)))


# ------------------------------------------------------------------------------------------------
# conv1d, normalization, embedding
# ------------------------------------------------------------------------------------------------


def np_conv1d(x, w, b, stride, padding, dilation, groups):
    n, c, length = x.shape
    o, cg, k = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    out_len = (length + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((n, o, out_len))
    per = o // groups
    for oc in range(o):
        g = oc // per
        for j in range(out_len):
            window = xp[:, g * cg:(g + 1) * cg, j * stride:j * stride + dilation * (k - 1) + 1:dilation]
            out[:, oc, j] = (window * w[oc]).sum(axis=(1, 2))
    return out + (0 if b is None else b[None, :, None])


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 1), (1, "same", 2, 1)])
def test_conv1d(stride, padding, dilation, groups, rng):
    x, w, b = rng.normal(size=(2, 4, 9)), rng.normal(size=(6, 4 // groups, 3)), rng.normal(size=6)
    out = v(F.conv1d(t64(x), t64(w), t64(b), stride, padding, dilation, groups))
    pad = dilation if padding == "same" else padding
    np.testing.assert_allclose(out, np_conv1d(x, w, b, stride, pad, dilation, groups), rtol=1e-12, atol=1e-12)
    if torch is not None:
        ref = torch.nn.functional.conv1d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride, padding, dilation,
                                         groups)
        np.testing.assert_allclose(out, ref.numpy(), rtol=1e-12, atol=1e-12)
    check_rules(lambda t: F.conv1d(t, t64(w), t64(b), stride, padding, dilation, groups), x, rng)
    check_rules(lambda t: F.conv1d(t64(x), t, None, stride, padding, dilation, groups), w, rng)
    layer = nn.Conv1d(4, 6, 3, stride, padding, dilation, groups, dtype=sf.float64)
    assert tuple(layer.weight.shape) == (6, 4 // groups, 3)
    bound = 1 / math.sqrt(4 // groups * 3)
    assert np.abs(v(layer.weight)).max() <= bound
    np.testing.assert_allclose(v(layer(t64(x))), np_conv1d(x, v(layer.weight), v(layer.bias), stride, pad, dilation,
                                                           groups), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# conv_transpose2d and ConvTranspose2d
# ------------------------------------------------------------------------------------------------


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def np_conv_transpose2d(x, w, b, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch's conv_transpose2d as a direct scatter: input element (n, c, r, q) adds x * w[c, o, i, j] at output
    (n, group(c) * C_out/groups + o, r * stride - padding + i * dilation, likewise q) when that lies inside."""
    s, p, op, d = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    unbatched = x.ndim == 3
    x = x[None] if unbatched else x
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    oh = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    ow = (wd - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    out = np.zeros((n, og * groups, oh, ow))
    cg = cin // groups
    for c in range(cin):
        g = c // cg
        for i in range(kh):
            for j in range(kw):
                for r in range(h):
                    y = r * s[0] - p[0] + i * d[0]
                    for q in range(wd):
                        z = q * s[1] - p[1] + j * d[1]
                        if 0 <= y < oh and 0 <= z < ow:
                            out[:, g * og:(g + 1) * og, y, z] += x[:, c, r, q][:, None] * w[c, :, i, j][None, :]
    if b is not None:
        out += b[None, :, None, None]
    return out[0] if unbatched else out


CONV_TRANSPOSE_CASES = [
    # x shape, weight shape, bias, stride, padding, output_padding, groups, dilation
    ((2, 3, 4, 5), (3, 2, 3, 3), True, 1, 0, 0, 1, 1),
    ((2, 2, 3, 4), (2, 3, 3, 2), False, 2, 1, 1, 1, 1),
    ((1, 4, 3, 3), (4, 1, 2, 3), True, (2, 3), (1, 0), (1, 2), 2, (2, 1)),
    # output padding not below the stride but below the dilation (torch allows either)
    ((2, 2, 3, 2), (2, 2, 2, 2), True, 1, (0, 1), 1, 1, 2),
    # unbatched [C_in, H, W]
    ((3, 4, 4), (3, 2, 3, 3), True, 2, 1, 1, 1, 1),
]


@pytest.mark.parametrize("xs, ws, has_bias, stride, padding, output_padding, groups, dilation", CONV_TRANSPOSE_CASES)
def test_conv_transpose2d_values_and_torch(xs, ws, has_bias, stride, padding, output_padding, groups, dilation, rng):
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    b = rng.normal(size=ws[1] * groups) if has_bias else None
    args = (stride, padding, output_padding, groups, dilation)
    out = F.conv_transpose2d(t64(x), t64(w), None if b is None else t64(b), *args)
    expected = np_conv_transpose2d(x, w, b, *args)
    assert tuple(out.shape) == expected.shape and out.dtype == sf.float64
    np.testing.assert_allclose(v(out), expected, rtol=1e-12, atol=1e-12)
    # keywords as torch names them
    keyword = F.conv_transpose2d(t64(x), t64(w), bias=None if b is None else t64(b), stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups, dilation=dilation)
    np.testing.assert_array_equal(v(keyword), v(out))
    # float32 operands compute in float32; float32 with float64 in float64
    single = F.conv_transpose2d(sf.tensor(x.astype(np.float32)), sf.tensor(w.astype(np.float32)),
                                None if b is None else sf.tensor(b.astype(np.float32)), *args)
    assert single.dtype == sf.float32
    np.testing.assert_allclose(v(single), expected, rtol=1e-4, atol=1e-4)
    mixed = F.conv_transpose2d(sf.tensor(x.astype(np.float32)), t64(w), None, *args)
    assert mixed.dtype == sf.float64
    if torch is not None:
        tb = None if b is None else torch.tensor(b)
        ref = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), tb, *args)
        np.testing.assert_allclose(v(out), ref.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xs, ws, has_bias, stride, padding, output_padding, groups, dilation", CONV_TRANSPOSE_CASES)
def test_conv_transpose2d_gradients_and_vmap(xs, ws, has_bias, stride, padding, output_padding, groups, dilation, rng):
    """Derivatives in the input, the weight and the bias by central differences (orders 1 and 2) and vmap
    against a loop (check_rules), and the gradients against torch.autograd when torch is there."""
    x, w, b = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=ws[1] * groups)
    args = (stride, padding, output_padding, groups, dilation)
    bias = t64(b) if has_bias else None
    check_rules(lambda t: F.conv_transpose2d(t, t64(w), bias, *args), x, rng)
    check_rules(lambda t: F.conv_transpose2d(t64(x), t, bias, *args), w, rng)
    check_rules(lambda t: F.conv_transpose2d(t64(x), t64(w), t, *args), b, rng)
    # vmap over the weights and the inputs together, against a loop
    xb, wb = rng.normal(size=(2,) + xs), rng.normal(size=(2,) + ws)
    both = vmap(lambda a, k: F.conv_transpose2d(a, k, bias, *args))(t64(xb), t64(wb))
    loop = [np_conv_transpose2d(xb[e], wb[e], b if has_bias else None, *args) for e in range(2)]
    np.testing.assert_allclose(v(both), np.stack(loop), rtol=1e-12, atol=1e-12)
    # gradients of <conv_transpose2d(x, w, b), g>: torch.autograd, or the adjoint written with the reference
    g = rng.normal(size=np_conv_transpose2d(x, w, None, *args).shape)

    def loss(a, k, c):
        return (F.conv_transpose2d(a, k, c, *args) * t64(g)).sum()

    gx, gw, gb = grad(loss, argnums=(0, 1, 2))(t64(x), t64(w), t64(b))
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        (torch.nn.functional.conv_transpose2d(tx, tw, tb, *args) * torch.tensor(g)).sum().backward()
        for ours, theirs in ((gx, tx), (gw, tw), (gb, tb)):
            np.testing.assert_allclose(v(ours), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    # the bias gradient sums g over everything but the channels; the weight's is linear in x: <gw, w> = <out, g>
    np.testing.assert_allclose(v(gb), g.sum(axis=tuple(d for d in range(g.ndim) if d != g.ndim - 3)), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose((v(gw) * w).sum(), (np_conv_transpose2d(x, w, None, *args) * g).sum(), rtol=1e-10)
    np.testing.assert_allclose((v(gx) * x).sum(), (np_conv_transpose2d(x, w, None, *args) * g).sum(), rtol=1e-10)


def test_conv_transpose2d_is_conv2d_adjoint(rng):
    """<conv_transpose2d(y, w), x> = <y, conv2d(x, w)> for the conv2d with the same parameters, whose input x has
    the transposed conv's output size."""
    x, w, y = rng.normal(size=(2, 4, 9, 8)), rng.normal(size=(6, 2, 3, 2)), rng.normal(size=(2, 6, 5, 4))
    conv = v(F.conv2d(t64(x), t64(w), None, 2, 1, (1, 2), 2))
    assert conv.shape == y.shape
    transposed = v(F.conv_transpose2d(t64(y), t64(w), None, 2, 1, (0, 1), 2, (1, 2)))
    assert transposed.shape == x.shape
    np.testing.assert_allclose((transposed * x).sum(), (y * conv).sum(), rtol=1e-12)


def test_conv_transpose2d_errors():
    x, w = t64(np.ones((1, 4, 3, 3))), t64(np.ones((4, 2, 2, 2)))
    with pytest.raises(sf.InvalidArgumentError, match="conv_transpose2d: output padding must be smaller than either"):
        F.conv_transpose2d(x, w, output_padding=1)
    with pytest.raises(sf.InvalidArgumentError, match="conv_transpose2d: output padding must be smaller than either"):
        F.conv_transpose2d(x, w, stride=2, output_padding=(1, 2))
    with pytest.raises(sf.InvalidArgumentError, match="conv_transpose2d: output_padding must be >= 0"):
        F.conv_transpose2d(x, w, stride=2, output_padding=-1)
    with pytest.raises(sf.InvalidArgumentError, match="conv_transpose2d: stride must be >= 1"):
        F.conv_transpose2d(x, w, stride=-1)
    with pytest.raises(sf.InvalidArgumentError, match="conv_transpose2d: groups must be >= 1"):
        F.conv_transpose2d(x, w, groups=0)
    with pytest.raises(sf.ShapeError, match="conv_transpose2d: input .* do not match for groups = 3"):
        F.conv_transpose2d(x, w, groups=3)
    with pytest.raises(sf.ShapeError, match="conv_transpose2d: input .* do not match for groups = 1"):
        F.conv_transpose2d(t64(np.ones((1, 3, 3, 3))), w)
    with pytest.raises(sf.ShapeError, match="conv_transpose2d: input must be"):
        F.conv_transpose2d(t64(np.ones((4, 9))), w)
    with pytest.raises(sf.ShapeError, match="conv_transpose2d: weight must be"):
        F.conv_transpose2d(x, t64(np.ones((4, 2, 2))))
    with pytest.raises(sf.ShapeError, match="conv_transpose2d: bias must have shape \\[2\\]"):
        F.conv_transpose2d(x, w, t64(np.ones(4)))
    with pytest.raises(sf.ShapeError, match="conv_transpose2d: .*negative output size"):
        F.conv_transpose2d(x, w, padding=3)
    with pytest.raises(sf.DTypeError, match="conv_transpose2d"):
        F.conv_transpose2d(sf.ones((1, 4, 3, 3), dtype=sf.int64), w)
    with pytest.raises(sf.InvalidArgumentError):  # outside int64_t: refused before the call
        F.conv_transpose2d(x, w, stride=2 ** 64)
    with pytest.raises(ValueError, match="conv_transpose2d: stride must be an int or a pair"):
        F.conv_transpose2d(x, w, stride=(1, 1, 1))


def test_conv_transpose2d_module(rng):
    layer = nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1, groups=2, dtype=sf.float64)
    assert tuple(layer.weight.shape) == (4, 3, 3, 2) and tuple(layer.bias.shape) == (6,)
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    assert (layer.kernel_size, layer.stride, layer.padding, layer.output_padding, layer.dilation, layer.groups) == \
        ((3, 2), (2, 2), (1, 1), (1, 1), (1, 1), 2)
    x = rng.normal(size=(2, 4, 3, 5))
    out = layer(t64(x))
    expected = np_conv_transpose2d(x, v(layer.weight), v(layer.bias), 2, 1, 1, 2)
    assert tuple(out.shape) == (2, 6, 6, 9)
    np.testing.assert_allclose(v(out), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v(layer(t64(x[0]))), expected[0], rtol=1e-12, atol=1e-12)  # unbatched
    # output_size picks the output padding: the smallest size, one more, the whole shape; else torch's errors
    smallest = np_conv_transpose2d(x, v(layer.weight), v(layer.bias), 2, 1, 0, 2)
    assert smallest.shape == (2, 6, 5, 8)
    np.testing.assert_allclose(v(layer(t64(x), output_size=[5, 8])), smallest, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v(layer(t64(x), output_size=(2, 6, 6, 8))),
                               np_conv_transpose2d(x, v(layer.weight), v(layer.bias), 2, 1, (1, 0), 2), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(v(layer(t64(x[0]), output_size=(6, 5, 8))), smallest[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="requested an output size of \\[7, 9\\], but valid sizes range from "
                                         "\\[5, 8\\] to \\[6, 9\\]"):
        layer(t64(x), output_size=[7, 9])
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements \\(got 3\\)"):
        layer(t64(x), output_size=[2, 5, 9])
    no_bias = nn.ConvTranspose2d(2, 3, 2, bias=False)
    assert no_bias.bias is None and no_bias.weight.dtype == sf.float32
    assert tuple(no_bias(sf.ones((1, 2, 4, 4))).shape) == (1, 3, 5, 5)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(2, 3, 2, padding_mode="reflect")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(4, 6, 3, groups=4)
    if torch is not None:
        theirs = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1, groups=2,
                                          dtype=torch.float64)
        assert repr(layer) == repr(theirs)
        assert repr(no_bias) == repr(torch.nn.ConvTranspose2d(2, 3, 2, bias=False))
        theirs.load_state_dict({"weight": torch.tensor(v(layer.weight)), "bias": torch.tensor(v(layer.bias))})
        with torch.no_grad():
            np.testing.assert_allclose(v(out), theirs(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(v(layer(t64(x), output_size=(2, 6, 6, 8))),
                                       theirs(torch.tensor(x), output_size=(2, 6, 6, 8)).numpy(), rtol=1e-12,
                                       atol=1e-12)


def test_conv_transpose2d_module_init_follows_torch():
    """torch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight and the bias, fan_in being
    weight.size(1) * kH * kW = out_channels/groups * kH * kW (not in_channels/groups as for Conv2d)."""
    layer = nn.ConvTranspose2d(2, 64, 3, groups=2)
    bound = 1 / math.sqrt(32 * 9)
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
    assert fan_in == 32 * 9
    weights, biases = np.abs(v(layer.weight)), np.abs(v(layer.bias))
    assert weights.max() <= bound and biases.max() <= bound
    assert weights.max() > 0.9 * bound and biases.max() > 0.5 * bound  # 576 and 64 draws fill the range
    if torch is not None:
        theirs = torch.nn.ConvTranspose2d(2, 64, 3, groups=2)
        assert tuple(theirs.weight.shape) == tuple(layer.weight.shape)
        assert theirs.weight.abs().max().item() <= bound


def np_batch_norm(x, mean, var, w, b, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        out = out * w.reshape(shape) + b.reshape(shape)
    return out


def test_batch_norm_functional(rng):
    x = rng.normal(size=(5, 3, 4))
    w, b = rng.normal(size=3), rng.normal(size=3)
    rm, rv = t64(rng.normal(size=3)), t64(rng.uniform(0.5, 2, size=3))
    rm0, rv0 = v(rm), v(rv)
    out = v(F.batch_norm(t64(x), rm, rv, t64(w), t64(b), training=True, momentum=0.3, eps=1e-3))
    mean, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    np.testing.assert_allclose(out, np_batch_norm(x, mean, var, w, b, 1e-3), rtol=1e-10, atol=1e-12)
    # the running statistics were updated in place (the same Python objects), as torch
    np.testing.assert_allclose(v(rm), 0.7 * rm0 + 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(v(rv), 0.7 * rv0 + 0.3 * x.var(axis=(0, 2), ddof=1), rtol=1e-12)
    out_eval = v(F.batch_norm(t64(x), rm, rv, t64(w), t64(b), training=False))
    np.testing.assert_allclose(out_eval, np_batch_norm(x, v(rm), v(rv), w, b, 1e-5), rtol=1e-10, atol=1e-12)
    if torch is not None:
        trm, trv = torch.tensor(rm0), torch.tensor(rv0)
        ref = torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, torch.tensor(w), torch.tensor(b), True, 0.3, 1e-3)
        np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(v(rm), trm.numpy(), rtol=1e-12)
        np.testing.assert_allclose(v(rv), trv.numpy(), rtol=1e-12)
    check_rules(lambda t: F.batch_norm(t, None, None, t64(w), t64(b), training=True), x, rng)
    check_rules(lambda t: F.batch_norm(t64(x), None, None, t, t64(b), training=True), w, rng)
    with pytest.raises(sf.InvalidArgumentError, match="batch_norm: running_mean and running_var must be given"):
        F.batch_norm(t64(x), None, None, training=False)
    with pytest.raises(sf.InvalidArgumentError, match="batch_norm: expected more than 1 value per channel"):
        F.batch_norm(t64(x[:1, :, :1]), None, None, training=True)
    with pytest.raises(sf.ShapeError, match="batch_norm: weight must have shape"):
        F.batch_norm(t64(x), None, None, t64(w[:2]), training=True)


def test_batch_norm_modules_train_eval(rng):
    for cls, shape in [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)), (nn.BatchNorm2d, (4, 3, 2, 5))]:
        for momentum in [0.1, None]:
            bn = cls(3, momentum=momentum, dtype=sf.float64)
            assert set(dict(bn.named_buffers())) == {"running_mean", "running_var", "num_batches_tracked"}
            mean, var = np.zeros(3), np.ones(3)
            batches = [rng.normal(size=shape) * 2 + 1 for _ in range(3)]
            reference = torch_module = None
            if torch is not None:
                torch_module = getattr(torch.nn, cls.__name__)(3, momentum=momentum).double()
            dims = tuple(d for d in range(len(shape)) if d != 1)
            for step, x in enumerate(batches, 1):
                out = v(bn(t64(x)))
                m, var_b, var_u = x.mean(axis=dims), x.var(axis=dims), x.var(axis=dims, ddof=1)
                np.testing.assert_allclose(out, np_batch_norm(x, m, var_b, np.ones(3), np.zeros(3), 1e-5), rtol=1e-10,
                                           atol=1e-12)
                factor = 1 / step if momentum is None else momentum
                mean, var = (1 - factor) * mean + factor * m, (1 - factor) * var + factor * var_u
                np.testing.assert_allclose(v(bn.running_mean), mean, rtol=1e-12)
                np.testing.assert_allclose(v(bn.running_var), var, rtol=1e-12)
                assert bn.num_batches_tracked.item() == step
                if torch_module is not None:
                    reference = torch_module(torch.tensor(x)).detach().numpy()
                    np.testing.assert_allclose(out, reference, rtol=1e-10, atol=1e-12)
                    np.testing.assert_allclose(v(bn.running_mean), torch_module.running_mean.numpy(), rtol=1e-12)
                    np.testing.assert_allclose(v(bn.running_var), torch_module.running_var.numpy(), rtol=1e-12)
            bn.eval()
            x = batches[0]
            np.testing.assert_allclose(v(bn(t64(x))), np_batch_norm(x, mean, var, np.ones(3), np.zeros(3), 1e-5),
                                       rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(v(bn.running_mean), mean, rtol=1e-12)  # eval leaves them alone
            assert bn.num_batches_tracked.item() == 3
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(t64(np.zeros((2, 3, 4))))
    plain = nn.BatchNorm1d(3, affine=False, track_running_stats=False, dtype=sf.float64)
    assert dict(plain.named_parameters()) == {} and dict(plain.named_buffers()) == {}
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(v(plain.eval()(t64(x))), np_batch_norm(x, x.mean(0), x.var(0), None, None, 1e-5),
                               rtol=1e-10)


def test_batch_norm_under_vmap_follows_torch_func(rng):
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU()).double()
    xs = rng.normal(size=(5, 6, 4))
    params = {k: p for k, p in model.named_parameters()}
    before = v(model[1].running_mean)

    def run(x):
        return functional_call(model, params, (x,))

    # torch.func raises for the in-place update of unbatched running statistics with batched values
    with pytest.raises(sf.TransformError, match="batch_norm: cannot update the running statistics in place under vmap"):
        vmap(run)(t64(xs))
    np.testing.assert_array_equal(v(model[1].running_mean), before)
    if torch is not None:
        tmodel = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU()).double()
        with pytest.raises(RuntimeError):
            torch.func.vmap(lambda x: torch.func.functional_call(tmodel, dict(tmodel.named_parameters()), (x,)))(
                torch.tensor(xs))
    # eval mode reads the running statistics: fine under vmap
    model.eval()
    np.testing.assert_allclose(v(vmap(run)(t64(xs))), np.stack([v(model(t64(x))) for x in xs]), rtol=1e-12)
    model.train()
    assert replace_all_batch_norm_modules_(model) is model
    bn = model[1]
    assert bn.running_mean is None and bn.running_var is None and bn.num_batches_tracked is None
    assert not bn.track_running_stats and "running_mean" not in dict(model.named_buffers())
    batched = v(vmap(run)(t64(xs)))
    np.testing.assert_allclose(batched, np.stack([v(model(t64(x))) for x in xs]), rtol=1e-12, atol=1e-14)
    # per-example gradients of a loss through the batch-normalized model (the tutorial's pattern)
    target = t64(rng.normal(size=(5, 6, 3)))

    def loss(p, x, y):
        return F.mse_loss(functional_call(model, p, (x,)), y)

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, t64(xs), target)
    for i in range(5):
        single = grad(loss)(params, t64(xs[i]), target[i])
        for name in params:
            np.testing.assert_allclose(v(per_sample[name][i]), v(single[name]), rtol=1e-10, atol=1e-12)


def test_batch_norm_ensemble_with_stacked_buffers(rng):
    """Batched running statistics (stack_module_state) may be updated under vmap: no error, and the outputs are
    each model's. The updates stay inside the call (the stacked tensors are not written back)."""
    models = [nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).double() for _ in range(3)]
    params, buffers = stack_module_state(models)
    x = t64(rng.normal(size=(6, 4)))
    out = vmap(lambda p, b, t: functional_call(models[0], (p, b), (t,)), in_dims=(0, 0, None))(params, buffers, x)
    np.testing.assert_allclose(v(out), np.stack([v(m(x)) for m in models]), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(v(buffers["1.running_mean"]), 0.0)


def test_batch_norm_under_grad_and_jit(rng):
    x = t64(rng.normal(size=(5, 3)))
    bn = nn.BatchNorm1d(3, dtype=sf.float64)
    weights = t64(rng.normal(size=(5, 3)))
    g = grad(lambda t: (bn(t) * weights).sum())(x)
    # under grad the running statistics are updated with data (no derivative), as torch updates them
    np.testing.assert_allclose(v(bn.running_mean), 0.1 * v(x).mean(0), rtol=1e-12)
    np.testing.assert_allclose(v(bn.running_mean + 1), 1 + 0.1 * v(x).mean(0), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1 and tuple(g.shape) == (5, 3)
    with pytest.raises(sf.TransformError, match="batch_norm: cannot update the running statistics inside jit"):
        sf.func.jit(lambda t: bn(t))(x)
    bn.eval()
    np.testing.assert_allclose(v(sf.func.jit(lambda t: bn(t))(x)), v(bn(x)), rtol=1e-12)


def test_group_norm(rng):
    x, w, b = rng.normal(size=(3, 6, 2, 2)), rng.normal(size=6), rng.normal(size=6)
    out = v(F.group_norm(t64(x), 3, t64(w), t64(b), 1e-4))
    g = x.reshape(3, 3, -1)
    ref = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-4)).reshape(x.shape)
    np.testing.assert_allclose(out, ref * w[:, None, None] + b[:, None, None], rtol=1e-10, atol=1e-12)
    if torch is not None:
        tref = torch.nn.functional.group_norm(torch.tensor(x), 3, torch.tensor(w), torch.tensor(b), 1e-4)
        np.testing.assert_allclose(out, tref.numpy(), rtol=1e-10, atol=1e-12)
    layer = nn.GroupNorm(3, 6, dtype=sf.float64)
    np.testing.assert_allclose(v(layer(t64(x))), v(F.group_norm(t64(x), 3)), rtol=1e-12)
    check_rules(lambda t: F.group_norm(t, 3, t64(w), t64(b)), x, rng)
    with pytest.raises(sf.InvalidArgumentError, match="group_norm: expected the number of channels"):
        F.group_norm(t64(x), 4)


def test_embedding(rng):
    weight = rng.normal(size=(7, 3))
    idx = np.array([[0, 6, 2], [2, 2, 5]])
    out = v(F.embedding(sf.tensor(idx), t64(weight)))
    np.testing.assert_array_equal(out, weight[idx])
    # the padding row gets no gradient, the others accumulate
    g = v(grad(lambda w: (F.embedding(sf.tensor(idx), w, padding_idx=2) ** 2).sum())(t64(weight)))
    expected = np.zeros_like(weight)
    np.add.at(expected, idx.ravel(), 2 * weight[idx.ravel()])
    expected[2] = 0
    np.testing.assert_allclose(g, expected, rtol=1e-12)
    if torch is not None:
        tw = torch.tensor(weight, requires_grad=True)
        (torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=2) ** 2).sum().backward()
        np.testing.assert_allclose(g, tw.grad.numpy(), rtol=1e-12)
    check_rules(lambda w: F.embedding(sf.tensor(idx), w), weight, rng)  # padding_idx cuts the derivative on purpose
    layer = nn.Embedding(7, 3, padding_idx=1, dtype=sf.float64)
    assert np.all(v(layer.weight)[1] == 0) and np.all(v(layer.weight)[0] != 0)
    np.testing.assert_array_equal(v(layer(sf.tensor(idx))), v(layer.weight)[idx])
    with pytest.raises(sf.InvalidArgumentError, match="embedding: index 7"):
        F.embedding(sf.tensor([7]), t64(weight))
    with pytest.raises(sf.DTypeError, match="embedding"):
        F.embedding(t64([1.0]), t64(weight))


# ------------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------------


def np_nll(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    class_dim = 0 if logp.ndim == 1 else 1
    moved = np.moveaxis(logp, class_dim, -1)
    classes = moved.shape[-1]
    weight = np.ones(classes) if weight is None else weight
    safe = np.where(target == ignore_index, 0, target)
    picked = np.take_along_axis(moved, safe[..., None], -1)[..., 0]
    w = np.where(target == ignore_index, 0.0, weight[safe])
    losses = -picked * w
    return {"none": losses, "sum": losses.sum(), "mean": losses.sum() / w.sum()}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction, rng):
    logits = rng.normal(size=(6, 4))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    target = np.array([0, 3, 1, 1, 2, 3])
    weight = rng.uniform(0.5, 2, size=4)
    cases = [(None, -100, target), (weight, -100, target), (weight, 1, target), (None, 3, target)]
    for w, ignore, tgt in cases:
        got = v(F.nll_loss(t64(logp), sf.tensor(tgt), None if w is None else t64(w), ignore_index=ignore,
                           reduction=reduction))
        np.testing.assert_allclose(got, np_nll(logp, tgt, w, ignore, reduction), rtol=1e-12)
        if torch is not None:
            ref = torch.nn.functional.nll_loss(torch.tensor(logp), torch.tensor(tgt),
                                               None if w is None else torch.tensor(w), ignore_index=ignore,
                                               reduction=reduction)
            np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12)
        check_rules(lambda t: F.nll_loss(t, sf.tensor(tgt), None if w is None else t64(w), ignore_index=ignore,
                                         reduction=reduction), logp, rng)
    # [N, C, d] and [C] inputs
    logp3 = rng.normal(size=(2, 4, 3))
    t3 = np.array([[0, 1, 3], [2, -100, 1]])
    np.testing.assert_allclose(v(F.nll_loss(t64(logp3), sf.tensor(t3), reduction=reduction)),
                               np_nll(logp3, t3, reduction=reduction), rtol=1e-12)
    np.testing.assert_allclose(v(F.nll_loss(t64(logp[0]), sf.tensor(2), reduction=reduction)), -logp[0, 2], rtol=1e-12)
    module = nn.NLLLoss(weight=t64(weight), reduction=reduction)
    np.testing.assert_allclose(v(module(t64(logp), sf.tensor(target))), np_nll(logp, target, weight, -100, reduction),
                               rtol=1e-12)
    # cross_entropy with weight and ignore_index goes through nll_loss
    np.testing.assert_allclose(v(F.cross_entropy(t64(logits), sf.tensor(target), t64(weight), ignore_index=1,
                                                 reduction=reduction)),
                               np_nll(logp, target, weight, 1, reduction), rtol=1e-12)


def test_nll_loss_errors(rng):
    logp = t64(rng.normal(size=(3, 4)))
    with pytest.raises(sf.InvalidArgumentError, match="nll_loss: target 4"):
        F.nll_loss(logp, sf.tensor([0, 4, 1]))
    with pytest.raises(sf.ShapeError, match="nll_loss: target shape"):
        F.nll_loss(logp, sf.tensor([0, 1]))
    with pytest.raises(sf.DTypeError, match="nll_loss: target must hold class indices"):
        F.nll_loss(logp, t64([0.0, 1.0, 2.0]))
    with pytest.raises(sf.ShapeError, match="nll_loss: weight must have shape"):
        F.nll_loss(logp, sf.tensor([0, 1, 2]), t64([1.0, 2.0]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.nll_loss(logp, sf.tensor([0, 1, 2]), reduction="avg")


REGRESSION_LOSSES = [
    ("l1_loss", {}, lambda d: np.abs(d)),
    ("smooth_l1_loss", {"beta": 0.7}, lambda d: np.where(np.abs(d) < 0.7, 0.5 * d * d / 0.7, np.abs(d) - 0.35)),
    ("smooth_l1_loss", {"beta": 0.0}, lambda d: np.abs(d)),
    ("huber_loss", {"delta": 0.6}, lambda d: np.where(np.abs(d) < 0.6, 0.5 * d * d, 0.6 * (np.abs(d) - 0.3))),
]


@pytest.mark.parametrize("name, kwargs, formula", REGRESSION_LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(name, kwargs, formula, reduction, rng):
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    fn = getattr(F, name)
    got = v(fn(t64(a), t64(b), reduction=reduction, **kwargs))
    per = formula(a - b)
    np.testing.assert_allclose(got, {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction], rtol=1e-12)
    if torch is not None:
        ref = getattr(torch.nn.functional, name)(torch.tensor(a), torch.tensor(b), reduction=reduction, **kwargs)
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12)
    check_rules(lambda t: fn(t, t64(b), reduction=reduction, **kwargs), a, rng)
    check_rules(lambda t: fn(t64(a), t, reduction=reduction, **kwargs), b, rng)
    if name == "l1_loss":
        np.testing.assert_allclose(v(nn.L1Loss(reduction=reduction)(t64(a), t64(b))), got)


def test_binary_cross_entropy(rng):
    p = rng.uniform(0.05, 0.95, size=(4, 3))
    t = rng.uniform(0, 1, size=(4, 3))
    w = rng.uniform(0.5, 2, size=(4, 3))
    for weight in [None, w]:
        per = -(t * np.log(p) + (1 - t) * np.log(1 - p)) * (1 if weight is None else weight)
        got = v(F.binary_cross_entropy(t64(p), t64(t), None if weight is None else t64(weight), reduction="none"))
        np.testing.assert_allclose(got, per, rtol=1e-12)
        np.testing.assert_allclose(F.binary_cross_entropy(t64(p), t64(t), None if weight is None else t64(weight)).item(),
                                   per.mean(), rtol=1e-12)
        if torch is not None:
            ref = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t),
                                                           None if weight is None else torch.tensor(weight),
                                                           reduction="none")
            np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12)
    # torch clamps each log at -100: probabilities 0 and 1 give finite losses
    edge = v(F.binary_cross_entropy(t64([0.0, 1.0]), t64([1.0, 0.0]), reduction="none"))
    np.testing.assert_allclose(edge, [100.0, 100.0])
    check_rules(lambda x: F.binary_cross_entropy(x, t64(t)), p, rng, spread=0.01)
    check_rules(lambda y: F.binary_cross_entropy(t64(p), y), t, rng)


def test_binary_cross_entropy_with_logits(rng):
    z = rng.normal(size=(5, 3)) * 3
    z[0, 0], z[0, 1] = 60.0, -60.0  # the stable form: no overflow
    t = rng.uniform(0, 1, size=(5, 3))
    w = rng.uniform(0.5, 2, size=(5, 3))
    pw = rng.uniform(0.5, 3, size=3)
    log_sig = -np.logaddexp(0, -z)
    log_not = -np.logaddexp(0, z)
    for weight, pos in [(None, None), (w, None), (None, pw), (w, pw)]:
        pos_factor = 1 if pos is None else pos
        per = -(pos_factor * t * log_sig + (1 - t) * log_not) * (1 if weight is None else weight)
        got = v(F.binary_cross_entropy_with_logits(t64(z), t64(t), None if weight is None else t64(weight),
                                                   reduction="none", pos_weight=None if pos is None else t64(pos)))
        np.testing.assert_allclose(got, per, rtol=1e-10, atol=1e-12)
        if torch is not None:
            ref = torch.nn.functional.binary_cross_entropy_with_logits(
                torch.tensor(z), torch.tensor(t), None if weight is None else torch.tensor(weight), reduction="none",
                pos_weight=None if pos is None else torch.tensor(pos))
            np.testing.assert_allclose(got, ref.numpy(), rtol=1e-10, atol=1e-12)
        module = nn.BCEWithLogitsLoss(None if weight is None else t64(weight), reduction="sum",
                                      pos_weight=None if pos is None else t64(pos))
        np.testing.assert_allclose(module(t64(z), t64(t)).item(), per.sum(), rtol=1e-10)
    check_rules(lambda x: F.binary_cross_entropy_with_logits(x, t64(t[1:]), pos_weight=t64(pw)), z[1:], rng)
    check_rules(lambda y: F.binary_cross_entropy_with_logits(t64(z), y, t64(w), pos_weight=t64(pw)), t, rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target, rng):
    x = np.log(rng.dirichlet(np.ones(4), size=3))
    p = rng.dirichlet(np.ones(4), size=3)
    p[0, 1] = 0.0  # xlogy: a zero target contributes 0
    target = np.log(p + 1e-3) if log_target else p
    if log_target:
        per = np.exp(target) * (target - x)
    else:
        per = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - x), 0.0)
    expected = {"none": per, "sum": per.sum(), "mean": per.mean(), "batchmean": per.sum() / 3}[reduction]
    got = v(F.kl_div(t64(x), t64(target), reduction=reduction, log_target=log_target))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    if torch is not None:
        ref = torch.nn.functional.kl_div(torch.tensor(x), torch.tensor(target), reduction=reduction,
                                         log_target=log_target)
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12, atol=1e-15)
    check_rules(lambda t: F.kl_div(t, t64(target), reduction=reduction, log_target=log_target), x, rng)


# ------------------------------------------------------------------------------------------------
# activations, normalize, cosine_similarity
# ------------------------------------------------------------------------------------------------

ACTIVATIONS = [
    ("softplus", {}, lambda x: softplus_np(x), "Softplus"),
    ("softplus", {"beta": 2.0, "threshold": 5.0}, lambda x: softplus_np(x, 2.0, 5.0), "Softplus"),
    ("elu", {}, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), "ELU"),
    ("elu", {"alpha": 0.4}, lambda x: np.where(x > 0, x, 0.4 * np.expm1(np.minimum(x, 0))), "ELU"),
    ("leaky_relu", {}, lambda x: np.where(x > 0, x, 0.01 * x), "LeakyReLU"),
    ("leaky_relu", {"negative_slope": 0.3}, lambda x: np.where(x > 0, x, 0.3 * x), "LeakyReLU"),
    ("logsigmoid", {}, lambda x: -np.logaddexp(0, -x), None),
]


@pytest.mark.parametrize("name, kwargs, formula, module", ACTIVATIONS)
def test_activations(name, kwargs, formula, module, rng):
    x = rng.normal(size=(4, 5)) * 3
    x[0, :3] = [40.0, -40.0, 800.0]  # past softplus's threshold; exp would overflow in a naive form
    fn = getattr(F, name)
    got = v(fn(t64(x), **kwargs))
    np.testing.assert_allclose(got, formula(x), rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(got))
    if torch is not None:
        np.testing.assert_allclose(got, getattr(torch.nn.functional, name)(torch.tensor(x), **kwargs).numpy(),
                                   rtol=1e-12)
    if module is not None:
        np.testing.assert_allclose(v(getattr(nn, module)(**kwargs)(t64(x))), got)
    smooth = rng.normal(size=(3, 4)) * 2
    smooth[np.abs(smooth) < 0.05] = 0.5  # away from the kink at 0
    check_rules(lambda t: fn(t, **kwargs), smooth, rng, spread=0.01)
    # the derivative stays finite where the discarded branch would overflow
    g = v(grad(lambda t: fn(t, **kwargs).sum())(t64(x)))
    assert np.all(np.isfinite(g))
    with pytest.raises(sf.DTypeError, match=name):
        fn(sf.tensor([1, 2]), **kwargs)


def test_normalize_and_cosine_similarity(rng):
    x = rng.normal(size=(3, 4))
    x[1] = 0.0  # a zero row: the norm is clamped to eps and the derivative stays finite (torch's subgradient)
    for p in [2.0, 1.0, 3.0, math.inf]:
        norm = np.linalg.norm(x, ord=p, axis=1, keepdims=True)
        got = v(F.normalize(t64(x), p=p))
        np.testing.assert_allclose(got, x / np.maximum(norm, 1e-12), rtol=1e-12)
        if torch is not None:
            np.testing.assert_allclose(got, torch.nn.functional.normalize(torch.tensor(x), p=p).numpy(), rtol=1e-12)
        g = v(grad(lambda t: (F.normalize(t, p=p) * t64(np.arange(12.0).reshape(3, 4))).sum())(t64(x)))
        assert np.all(np.isfinite(g))
    check_rules(lambda t: F.normalize(t, dim=0), rng.normal(size=(3, 4)), rng)
    check_rules(lambda t: F.normalize(t, p=3.0, dim=-1), rng.normal(size=(3, 4)), rng)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(1, 3))
    got = v(F.cosine_similarity(t64(a), t64(b)))
    expected = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    if torch is not None:
        np.testing.assert_allclose(got, torch.nn.functional.cosine_similarity(torch.tensor(a), torch.tensor(b)).numpy(),
                                   rtol=1e-12)
    np.testing.assert_allclose(v(F.cosine_similarity(t64(a), t64(np.zeros((5, 3))))), 0.0)
    check_rules(lambda t: F.cosine_similarity(t, t64(b)), a, rng)
    check_rules(lambda t: F.cosine_similarity(t64(a), t, dim=-1), a[::-1].copy(), rng)
    with pytest.raises(sf.InvalidArgumentError, match="normalize: p must be positive"):
        F.normalize(t64(x), p=0)


# ------------------------------------------------------------------------------------------------
# attention
# ------------------------------------------------------------------------------------------------


def test_scaled_dot_product_attention(rng):
    q, k, vv = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 6, 4)), rng.normal(size=(2, 3, 6, 2))
    bool_mask = rng.uniform(size=(5, 6)) > 0.3
    bool_mask[:, 0] = True  # no fully masked row
    float_mask = rng.normal(size=(3, 5, 6))
    cases = [({}, {}), ({"is_causal": True}, {"causal": True}), ({"scale": 0.3}, {"scale": 0.3})]
    cases += [({"attn_mask": sf.tensor(bool_mask)}, {"mask": bool_mask}), ({"attn_mask": t64(float_mask)}, {"mask": float_mask})]
    for kwargs, ref_kwargs in cases:
        got = v(F.scaled_dot_product_attention(t64(q), t64(k), t64(vv), **kwargs))
        np.testing.assert_allclose(got, np_sdpa(q, k, vv, **ref_kwargs), rtol=1e-12, atol=1e-14)
        if torch is not None:
            tk = {key: (torch.tensor(value.numpy()) if isinstance(value, sf.Tensor) else value)
                  for key, value in kwargs.items()}
            ref = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(vv), **tk)
            np.testing.assert_allclose(got, ref.numpy(), rtol=1e-10, atol=1e-12)
        check_rules(lambda t: F.scaled_dot_product_attention(t, t64(k), t64(vv), **kwargs), q[0], rng)
        check_rules(lambda t: F.scaled_dot_product_attention(t64(q[0]), t, t64(vv[0]), **kwargs), k[0], rng)
    # dropout is a random draw: needs randomness under vmap, p=1 drops everything
    dropped = v(F.scaled_dot_product_attention(t64(q), t64(k), t64(vv), dropout_p=1.0))
    np.testing.assert_array_equal(dropped, 0.0)
    with pytest.raises(sf.InvalidArgumentError, match="scaled_dot_product_attention: attn_mask and is_causal"):
        F.scaled_dot_product_attention(t64(q), t64(k), t64(vv), attn_mask=sf.tensor(bool_mask), is_causal=True)
    with pytest.raises(sf.ShapeError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(t64(q), t64(k[..., :3]), t64(vv))
