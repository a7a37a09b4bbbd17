"""swiftfunc.Tensor and the top-level ops, checked against numpy: creation, dtypes and promotion with
Python scalars, operators, indexing, reductions, movement, contraction, conversion and repr."""
import math
import pickle

import numpy as np
import pytest

import swiftfunc as sf


def values(t):
    return t._copy_values()


def assert_close(t, expected, rtol=1e-5, atol=1e-6):
    assert isinstance(t, sf.Tensor)
    expected = np.asarray(expected)
    got = values(t)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------------
# Creation and dtypes
# ------------------------------------------------------------------------------------------------


def test_dtypes():
    assert [d.name for d in (sf.float32, sf.float64, sf.int32, sf.int64, sf.bool)] == \
        ["float32", "float64", "int32", "int64", "bool"]
    assert sf.float is sf.float32 and sf.double is sf.float64 and sf.long is sf.int64 and sf.int is sf.int32
    assert repr(sf.float64) == "swiftfunc.float64"
    assert sf.float32.is_floating_point and not sf.int64.is_floating_point
    assert pickle.loads(pickle.dumps(sf.int32)) is sf.int32
    assert sf.zeros(2, dtype=np.float64).dtype is sf.float64
    assert sf.zeros(2, dtype="torch.int32").dtype is sf.int32
    assert sf.zeros(2, dtype=float).dtype is sf.float32
    with pytest.raises(TypeError, match="no dtype"):
        sf.zeros(2, dtype=np.float16)


def test_tensor_infers_dtypes_like_torch():
    assert sf.tensor([1, 2]).dtype is sf.int64
    assert sf.tensor([1.0, 2]).dtype is sf.float32
    assert sf.tensor(True).dtype is sf.bool
    assert sf.tensor(3.5).shape == ()
    assert sf.tensor(np.arange(3, dtype=np.float64)).dtype is sf.float64
    assert sf.tensor(np.arange(3, dtype=np.int32)).dtype is sf.int32
    assert sf.tensor([[1, 2], [3, 4]], dtype=sf.float64).dtype is sf.float64
    assert sf.tensor([sf.tensor(1.0), sf.tensor(2.0)]).tolist() == [1.0, 2.0]
    assert sf.Tensor([1, 2]).dtype is sf.float32  # torch.Tensor(data) is float32
    source = np.arange(4.0)
    copy = sf.tensor(source)
    assert copy.numpy().ctypes.data != source.ctypes.data  # tensor() always copies


def test_creation_functions():
    assert_close(sf.zeros(2, 3), np.zeros((2, 3)))
    assert_close(sf.zeros((2, 3)), np.zeros((2, 3)))
    assert sf.zeros([]).shape == ()
    assert_close(sf.ones(4, dtype=sf.int32), np.ones(4, dtype=np.int32))
    assert sf.full((2,), 7).dtype is sf.int64 and sf.full((2,), 7.0).dtype is sf.float32
    assert sf.full((2,), True).dtype is sf.bool
    assert_close(sf.full((2, 2), 1.5, dtype=sf.float64), np.full((2, 2), 1.5))
    x = sf.arange(6.0).reshape(2, 3)
    assert_close(sf.zeros_like(x), np.zeros((2, 3)))
    assert_close(sf.ones_like(x, dtype=sf.int64), np.ones((2, 3), dtype=np.int64))
    assert_close(sf.full_like(x, 2), np.full((2, 3), 2.0))
    assert sf.empty(3).shape == (3,) and sf.empty_like(x).shape == (2, 3)
    assert sf.arange(5).dtype is sf.int64
    assert_close(sf.arange(5), np.arange(5))
    assert_close(sf.arange(1, 7, 2), np.arange(1, 7, 2))
    assert_close(sf.arange(0.0, 1.0, 0.25), np.arange(0.0, 1.0, 0.25))
    assert_close(sf.arange(5, 0, -1), np.arange(5, 0, -1))
    assert_close(sf.eye(3), np.eye(3))
    assert_close(sf.eye(2, 4, dtype=sf.float64), np.eye(2, 4))
    assert_close(sf.linspace(0, 1, 5), np.linspace(0, 1, 5))
    with pytest.raises(sf.InvalidArgumentError, match="sf_arange"):
        sf.arange(0, 1, 0)


def test_random_is_seeded():
    sf.manual_seed(42)
    a = sf.rand(3, 4)
    b = sf.randn(5)
    sf.manual_seed(42)
    assert values(sf.rand(3, 4)).tolist() == values(a).tolist()
    assert values(sf.randn(5)).tolist() == values(b).tolist()
    u = values(sf.rand(10000, dtype=sf.float64))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    n = values(sf.randn(10000))
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    assert sf.rand_like(a).shape == (3, 4) and sf.randn_like(b, dtype=sf.float64).dtype is sf.float64
    r = values(sf.randint(3, 7, (1000,)))
    assert r.min() == 3 and r.max() == 6 and r.dtype == np.int64
    assert values(sf.randint(5, (10,))).max() < 5
    p = sf.full((10000,), 0.3)
    assert abs(values(sf.bernoulli(p)).mean() - 0.3) < 0.03
    assert abs(values(sf.bernoulli(sf.zeros(1000), 0.7)).mean() - 0.7) < 0.05
    with pytest.raises(sf.DTypeError):
        sf.rand(3, dtype=sf.int64)


# ------------------------------------------------------------------------------------------------
# Elementwise ops and operators
# ------------------------------------------------------------------------------------------------

UNARY = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "abs": np.abs, "sign": np.sign, "relu": lambda x: np.maximum(x, 0),
    "floor": np.floor, "ceil": np.ceil, "round": np.round, "silu": lambda x: x / (1 + np.exp(-x)),
    "square": np.square, "reciprocal": lambda x: 1 / x, "log2": np.log2, "log10": np.log10,
    "negative": np.negative, "absolute": np.abs,
}
POSITIVE_ONLY = {"log", "log1p", "sqrt", "rsqrt", "log2", "log10"}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [sf.float32, sf.float64])
def test_unary(name, dtype, rng):
    x = rng.uniform(0.1, 2.0, (3, 4)) if name in POSITIVE_ONLY else rng.uniform(-2, 2, (3, 4))
    x = x.astype(dtype.numpy)
    t = sf.tensor(x)
    tol = 1e-5 if dtype is sf.float32 else 1e-12
    assert_close(getattr(sf, name)(t), UNARY[name](x), rtol=tol, atol=tol)
    if name != "silu":  # torch has no Tensor.silu
        assert_close(getattr(t, name)(), UNARY[name](x), rtol=tol, atol=tol)
    assert getattr(sf, name)(t).dtype is dtype


def test_integer_and_bool_unary_rules():
    i = sf.tensor([-2, 0, 3], dtype=sf.int32)
    assert sf.neg(i).dtype is sf.int32 and sf.abs(i).tolist() == [2, 0, 3]
    assert sf.exp(i).dtype is sf.float32  # others promote to float32
    assert sf.sign(sf.tensor([True, False])).dtype is sf.bool
    with pytest.raises(sf.DTypeError, match="sf_neg"):
        -sf.tensor([True])


def test_gelu():
    x = np.linspace(-3, 3, 13)
    erf = np.vectorize(math.erf)
    assert_close(sf.gelu(sf.tensor(x)), 0.5 * x * (1 + erf(x / np.sqrt(2))), atol=1e-6)
    approx = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    assert_close(sf.gelu(sf.tensor(x), approximate="tanh"), approx, atol=1e-6)
    with pytest.raises(ValueError):
        sf.gelu(sf.tensor(x), approximate="fast")


BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal, "subtract": np.subtract,
    "multiply": np.multiply, "divide": np.divide, "true_divide": np.divide, "arctan2": np.arctan2,
    "less": np.less, "greater": np.greater, "less_equal": np.less_equal, "greater_equal": np.greater_equal,
    "not_equal": np.not_equal,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting(name, rng):
    a = rng.uniform(0.5, 2, (3, 1, 4))
    b = rng.uniform(0.5, 2, (5, 1))
    if name in ("eq", "ne"):
        b = np.round(b) + 0 * b
        a = np.round(a)
    got = getattr(sf, name)(sf.tensor(a, dtype=sf.float64), sf.tensor(b, dtype=sf.float64))
    assert_close(got, BINARY[name](a, b), rtol=1e-12)
    assert_close(getattr(sf.tensor(a, dtype=sf.float64), name)(2.0), BINARY[name](a, 2.0), rtol=1e-12)


def test_operators_with_python_scalars():
    x = sf.tensor([1.0, 2.0, 4.0])
    assert_close(x + 1, [2, 3, 5])
    assert_close(1 + x, [2, 3, 5])
    assert_close(x - 1, [0, 1, 3])
    assert_close(10 - x, [9, 8, 6])
    assert_close(x * 2, [2, 4, 8])
    assert_close(2 * x, [2, 4, 8])
    assert_close(x / 2, [0.5, 1, 2])
    assert_close(4 / x, [4, 2, 1])
    assert_close(x ** 2, [1, 4, 16])
    assert_close(2 ** x, [2, 4, 16])
    assert_close(x // 3, [0, 0, 1])
    assert_close(7 // x, [7, 3, 1])
    assert_close(x % 3, [1, 2, 1])
    assert_close(-x, [-1, -2, -4])
    assert +x is x
    assert_close(abs(-x), [1, 2, 4])
    assert (x > 1.5).tolist() == [False, True, True]
    assert (x == 2).tolist() == [False, True, False]
    assert (x != 2).tolist() == [True, False, True]
    assert (2 < x).tolist() == [False, False, True]
    assert (x <= 2).tolist() == [True, True, False]
    assert (x >= 2).tolist() == [False, True, True]
    assert (x == None) is False  # noqa: E711 - not a tensor op: NotImplemented -> identity comparison
    assert (x * 2).dtype is sf.float32  # a Python float keeps the tensor's float dtype
    d = sf.tensor([1.0], dtype=sf.float64)
    assert (d + 1).dtype is sf.float64 and (d * 2.5).dtype is sf.float64


def test_promotion_with_integers_and_bools():
    i32 = sf.tensor([1, 2, 3], dtype=sf.int32)
    assert (i32 + 1).dtype is sf.int32  # an int keeps the integer dtype (torch)
    assert (i32 * 1.5).dtype is sf.float32  # a float gives the default float dtype
    assert (i32 + sf.tensor([1], dtype=sf.int64)).dtype is sf.int64
    assert (i32 / 2).dtype is sf.float32  # true division
    assert (i32 + sf.tensor([1.0], dtype=sf.float64)).dtype is sf.float64
    b = sf.tensor([True, False])
    assert (b + 1).dtype is sf.int64 and (b + 1).tolist() == [2, 1]
    assert (b & sf.tensor([True, True])).tolist() == [True, False]
    assert (b | sf.tensor([False, False])).tolist() == [True, False]
    assert (b ^ sf.tensor([True, True])).tolist() == [False, True]
    assert (~b).tolist() == [False, True]
    assert (b & True).tolist() == [True, False]
    with pytest.raises(TypeError):
        i32 & i32
    assert (i32 // 2).tolist() == [0, 1, 1] and (i32 // 2).dtype is sf.int32
    assert sf.div(sf.tensor([-7, 7]), 2, rounding_mode="trunc").tolist() == [-3, 3]
    assert sf.div(sf.tensor([-7, 7]), 2, rounding_mode="floor").tolist() == [-4, 3]
    assert (sf.tensor([-7.0]) % 3).tolist() == [2.0]  # Python's sign convention, as torch.remainder


def test_add_sub_alpha_and_misc_elementwise():
    a, b = sf.tensor([1.0, 2.0]), sf.tensor([10.0, 20.0])
    assert_close(sf.add(a, b, alpha=2), [21, 42])
    assert_close(sf.sub(a, b, alpha=0.5), [-4, -8])
    assert_close(sf.clamp(sf.tensor([-2.0, 0.5, 3.0]), min=0, max=1), [0, 0.5, 1])
    assert_close(sf.clamp(sf.tensor([-2.0, 0.5, 3.0]), max=1), [-2, 0.5, 1])
    assert_close(sf.tensor([-2.0, 3.0]).clip(-1, 1), [-1, 1])
    nan = sf.tensor([1.0, float("nan"), float("inf")])
    assert sf.isnan(nan).tolist() == [False, True, False]
    assert sf.isinf(nan).tolist() == [False, False, True]
    assert sf.isfinite(nan).tolist() == [True, False, False]
    assert sf.logical_not(sf.tensor([1, 0])).tolist() == [False, True]
    assert sf.logical_and(sf.tensor([1, 1]), sf.tensor([0, 2])).tolist() == [False, True]
    assert sf.logical_or(sf.tensor([1, 0]), sf.tensor([0, 0])).tolist() == [True, False]
    assert sf.logical_xor(sf.tensor([1, 0]), sf.tensor([1, 1])).tolist() == [False, True]
    assert sf.allclose(a, a + 1e-9) and not sf.allclose(a, b)
    assert sf.isclose(a, sf.tensor([1.0, 2.1])).tolist() == [True, False]
    assert sf.equal(a, sf.tensor([1.0, 2.0])) and not sf.equal(a, b)


def test_where():
    c = sf.tensor([True, False, True])
    assert_close(sf.where(c, sf.tensor([1.0, 2.0, 3.0]), 0.0), [1, 0, 3])
    assert_close(sf.where(c, 1.0, sf.zeros(3)), [1, 0, 1])
    assert_close(sf.tensor([1.0, 2.0, 3.0]).where(c, -1.0), [1, -1, 3])
    assert_close(sf.where(sf.tensor([[True], [False]]), sf.ones(3), sf.zeros(2, 1)), [[1, 1, 1], [0, 0, 0]])
    assert sf.where(sf.tensor([1, 0]), 1, 2).tolist() == [1, 2]


# ------------------------------------------------------------------------------------------------
# Reductions
# ------------------------------------------------------------------------------------------------

REDUCTIONS = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min,
              "logsumexp": lambda x, axis=None, keepdims=False: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2), 1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions(name, dim, keepdim, rng):
    x = rng.uniform(0.5, 1.5, (2, 3, 4))
    t = sf.tensor(x, dtype=sf.float64)
    got = getattr(t, name)(dim, keepdim=keepdim)
    expected = REDUCTIONS[name](x, axis=dim, keepdims=keepdim)
    assert_close(got, expected, rtol=1e-12)
    assert_close(getattr(sf, name)(t, dim=dim, keepdim=keepdim), expected, rtol=1e-12)


def test_statistics_and_arg_reductions(rng):
    x = rng.normal(size=(4, 5))
    t = sf.tensor(x, dtype=sf.float64)
    assert_close(t.var(), x.var(ddof=1), rtol=1e-12)
    assert_close(t.var(1), x.var(1, ddof=1), rtol=1e-12)
    assert_close(t.var(0, keepdim=True), x.var(0, ddof=1, keepdims=True), rtol=1e-12)
    assert_close(t.var(False), x.var(), rtol=1e-12)  # torch's var(unbiased=False)
    assert_close(t.var(1, correction=0), x.var(1), rtol=1e-12)
    assert_close(t.std(0), x.std(0, ddof=1), rtol=1e-12)
    assert_close(sf.std(t, unbiased=False), x.std(), rtol=1e-12)
    assert t.argmax().item() == x.argmax()
    assert t.argmin(1).tolist() == x.argmin(1).tolist()
    assert t.argmax(0, keepdim=True).shape == (1, 5)
    values_, indices = t.max(1)
    assert_close(values_, x.max(1), rtol=1e-12)
    assert indices.tolist() == x.argmax(1).tolist()
    assert t.min(0).indices.tolist() == x.argmin(0).tolist()
    assert t.max().item() == x.max() and sf.min(t).item() == x.min()
    assert_close(sf.max(t, sf.zeros(5, dtype=sf.float64)), np.maximum(x, 0))
    assert sf.sum(sf.tensor([1, 2], dtype=sf.int32)).dtype is sf.int64
    assert sf.sum(t, dtype=sf.float32).dtype is sf.float32
    assert sf.tensor([True, False]).all().item() is False and sf.tensor([True, False]).any().item() is True
    assert sf.all(sf.ones(2, 3), dim=1).tolist() == [True, True]
    with pytest.raises(sf.DTypeError, match="sf_mean"):
        sf.tensor([1, 2]).mean()


def test_softmax_and_log_softmax(rng):
    x = rng.normal(size=(3, 4))
    e = np.exp(x - x.max(1, keepdims=True))
    s = e / e.sum(1, keepdims=True)
    t = sf.tensor(x, dtype=sf.float64)
    assert_close(sf.softmax(t, 1), s, rtol=1e-12)
    assert_close(t.log_softmax(-1), np.log(s), rtol=1e-12)
    assert sf.softmax(sf.tensor(x), 0, dtype=sf.float64).dtype is sf.float64


# ------------------------------------------------------------------------------------------------
# Movement and indexing
# ------------------------------------------------------------------------------------------------


def test_movement(rng):
    x = rng.normal(size=(2, 3, 4))
    t = sf.tensor(x, dtype=sf.float64)
    assert_close(t.reshape(6, 4), x.reshape(6, 4))
    assert_close(t.reshape((4, -1)), x.reshape(4, -1))
    assert_close(sf.reshape(t, (-1,)), x.reshape(-1))
    assert_close(t.view(3, 8), x.reshape(3, 8))
    assert_close(t.view_as(sf.zeros(24)), x.reshape(24))
    assert_close(t.permute(2, 0, 1), x.transpose(2, 0, 1))
    assert_close(sf.permute(t, (1, 2, 0)), x.transpose(1, 2, 0))
    assert_close(t.transpose(0, 2), x.swapaxes(0, 2))
    assert_close(t.T, x.T)
    assert_close(t.mT, x.swapaxes(-1, -2))
    assert_close(sf.tensor(x[0]).t(), x[0].T)
    assert_close(t.unsqueeze(1), x[:, None])
    assert_close(t.unsqueeze(-1), x[..., None])
    assert_close(t.unsqueeze(0).squeeze(0), x)
    assert_close(sf.zeros(1, 3, 1).squeeze(), np.zeros(3))
    assert_close(sf.zeros(1, 3, 1).squeeze((0, 2)), np.zeros(3))
    assert sf.zeros(1, 3).squeeze(1).shape == (1, 3)  # a non-1 dim is kept, as torch
    assert_close(sf.tensor(x[:, :1]).expand(2, 5, 4), np.broadcast_to(x[:, :1], (2, 5, 4)))
    assert_close(sf.tensor(x[:, :1]).expand(-1, 3, -1), np.broadcast_to(x[:, :1], (2, 3, 4)))
    assert_close(sf.broadcast_to(sf.tensor([1.0, 2.0]), (3, 2)), np.broadcast_to([1.0, 2.0], (3, 2)))
    assert_close(t.flip(0), x[::-1])
    assert_close(sf.flip(t, (1, 2)), x[:, ::-1, ::-1])
    assert_close(t.flatten(), x.reshape(-1))
    assert_close(t.flatten(1), x.reshape(2, 12))
    assert_close(t.unflatten(2, (2, 2)), x.reshape(2, 3, 2, 2))
    assert_close(sf.movedim(t, 0, -1), np.moveaxis(x, 0, -1))
    assert_close(sf.movedim(t, (0, 1), (2, 0)), np.moveaxis(x, (0, 1), (2, 0)))
    assert_close(t.narrow(2, 1, 2), x[:, :, 1:3])
    assert_close(t.select(1, -1), x[:, -1])
    parts = t.split(2, dim=2)
    assert len(parts) == 2 and all(p.shape == (2, 3, 2) for p in parts)
    assert [p.shape[1] for p in sf.split(t, [1, 2], 1)] == [1, 2]
    assert [c.shape[2] for c in t.chunk(3, 2)] == [2, 2]
    assert [u.shape for u in t.unbind(1)] == [(2, 4)] * 3
    assert_close(sf.cat([t, t], 1), np.concatenate([x, x], 1))
    assert_close(sf.concat((t, t)), np.concatenate([x, x]))
    assert_close(sf.stack([t, t], -1), np.stack([x, x], -1))
    assert_close(sf.hstack([sf.ones(2), sf.zeros(3)]), np.hstack([np.ones(2), np.zeros(3)]))
    assert_close(sf.vstack([sf.ones(2), sf.zeros(2)]), np.vstack([np.ones(2), np.zeros(2)]))
    assert sf.cat([sf.ones(1, dtype=sf.int32), sf.ones(1, dtype=sf.float64)]).dtype is sf.float64
    a, b = sf.broadcast_tensors(sf.ones(3, 1), sf.zeros(4))
    assert a.shape == b.shape == (3, 4)
    assert_close(t.detach(), x)
    assert_close(t.clone(), x)
    assert t.contiguous() is t and t.cpu() is t


INDICES = [
    0, -1, 1, (0, 1), (1, -1, 2), slice(None), slice(1, None), slice(None, 2), slice(None, None, 2),
    (slice(None), slice(1, None, 2)), (Ellipsis, 0), (0, Ellipsis), (None,), (None, 0), (slice(None), None, 1),
    (Ellipsis, None), (1, slice(0, 3, 2), None, -2), (slice(-2, None), Ellipsis, slice(None, None, 3)),
    (slice(5, 10),), (slice(-100, 100),), Ellipsis, (None, Ellipsis, None),
]


@pytest.mark.parametrize("index", INDICES, ids=[repr(i) for i in INDICES])
def test_indexing_matches_numpy(index):
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    t = sf.tensor(x)
    assert_close(t[index], x[index])


def test_indexing_with_tensors_and_errors():
    x = np.arange(12.0).reshape(3, 4)
    t = sf.tensor(x)
    assert_close(t[sf.tensor([2, 0])], x[[2, 0]])
    assert_close(t[:, [1, 3]], x[:, [1, 3]])
    assert_close(t[sf.tensor([[0, 1], [2, 2]])], x[np.array([[0, 1], [2, 2]])])
    assert_close(t[sf.tensor([True, False, True])], x[[True, False, True]])
    assert_close(t[sf.tensor(1)], x[1])
    assert_close(t[np.int64(2)], x[2])
    with pytest.raises(IndexError):
        t[3]
    with pytest.raises(IndexError):
        t[0, 0, 0]
    with pytest.raises(IndexError):
        t[..., ...]
    with pytest.raises(ValueError, match="step"):
        t[::-1]
    with pytest.raises(IndexError):
        t["a"]
    with pytest.raises(TypeError, match="immutable"):
        t[0] = 1


def test_contraction_and_indexing_ops(rng):
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    ta, tb = sf.tensor(a, dtype=sf.float64), sf.tensor(b, dtype=sf.float64)
    assert_close(ta @ tb, a @ b, rtol=1e-12)
    assert_close(sf.matmul(ta, tb), a @ b, rtol=1e-12)
    assert_close(sf.mm(ta, tb), a @ b, rtol=1e-12)
    v = rng.normal(size=4)
    tv = sf.tensor(v, dtype=sf.float64)
    assert_close(ta @ tv, a @ v, rtol=1e-12)
    assert_close(sf.mv(ta, tv), a @ v, rtol=1e-12)
    assert_close(v @ sf.tensor(b, dtype=sf.float64), v @ b, rtol=1e-12)  # numpy on the left: __rmatmul__
    assert_close(sf.dot(tv, tv), v @ v, rtol=1e-12)
    assert_close(sf.inner(tv, tv), v @ v, rtol=1e-12)
    assert_close(sf.outer(tv, tv), np.outer(v, v), rtol=1e-12)
    batch = rng.normal(size=(2, 3, 4))
    assert_close(sf.bmm(sf.tensor(batch), sf.tensor(np.swapaxes(batch, 1, 2))),
                 batch @ np.swapaxes(batch, 1, 2), rtol=1e-5)
    with pytest.raises(sf.ShapeError, match="sf_matmul"):
        ta @ ta
    with pytest.raises(ValueError):
        sf.mm(tv, tv)
    index = sf.tensor([[0, 2], [1, 0], [3, 3]])
    assert_close(sf.gather(ta, 1, index), np.take_along_axis(a, values(index), 1))
    assert_close(sf.index_select(ta, 1, sf.tensor([3, 0])), a[:, [3, 0]])
    src = sf.ones(3, 2, dtype=sf.float64)
    expected = a.copy()
    np.add.at(expected, (np.arange(3)[:, None], values(index)), 1.0)
    assert_close(sf.scatter_add(ta, 1, index, src), expected)


# ------------------------------------------------------------------------------------------------
# Conversion, metadata, repr
# ------------------------------------------------------------------------------------------------


def test_metadata_and_conversion():
    t = sf.arange(6.0).reshape(2, 3)
    assert t.shape == (2, 3) and isinstance(t.shape, tuple)
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-1) == 3
    assert t.ndim == 2 and t.dim() == 2 and t.numel() == 6 and sf.numel(t) == 6 and len(t) == 2
    assert t.dtype is sf.float32 and t.device == "cpu" and t.element_size() == 4 and t.nbytes == 24
    assert t.is_floating_point() and sf.is_floating_point(t) and sf.is_tensor(t) and not sf.is_tensor(1)
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert sf.tensor(2.5).item() == 2.5 and isinstance(sf.tensor(3).item(), int)
    assert sf.tensor([True]).item() is True
    assert float(sf.tensor(1.5)) == 1.5 and int(sf.tensor(7)) == 7
    assert [1, 2, 3][sf.tensor(1)] == 2  # __index__
    assert bool(sf.tensor([1.0])) and not bool(sf.tensor(0))
    with pytest.raises(ValueError):
        bool(sf.ones(2))
    with pytest.raises(ValueError):
        sf.ones(2).item()
    with pytest.raises(TypeError):
        len(sf.tensor(1.0))
    assert [row.tolist() for row in t] == [[0, 1, 2], [3, 4, 5]]
    assert t.to(sf.int64).dtype is sf.int64 and t.to(sf.float32) is t and t.to("cpu") is t
    assert t.to(sf.zeros(1, dtype=sf.float64)).dtype is sf.float64
    assert t.double().dtype is sf.float64 and t.long().dtype is sf.int64 and t.int().dtype is sf.int32
    assert t.bool().dtype is sf.bool and t.float() is t and t.type(sf.float64).dtype is sf.float64
    assert sf.tensor([1.7, -1.7]).long().tolist() == [1, -1]  # truncation toward zero
    assert np.asarray(t).tolist() == t.tolist()
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.new_zeros(2).dtype is sf.float32 and t.new_ones((1, 2)).shape == (1, 2)
    assert t.new_full((2,), 3).tolist() == [3.0, 3.0] and t.new_tensor([1, 2]).dtype is sf.float32
    assert f"{sf.tensor(1.25):.1f}" == "1.2"
    assert hash(t) == hash(t) and t in {t}
    restored = pickle.loads(pickle.dumps(t))
    assert restored.tolist() == t.tolist() and restored.dtype is t.dtype
    assert not t.requires_grad


class TorchLikeDevice:
    """What swiftfunc sees of a torch.device: .type and .index."""

    def __init__(self, type, index=None):  # noqa: A002
        self.type, self.index = type, index


OTHER_DEVICES = ["cuda", "cuda:0", "cuda:1", "meta", "mps", sf.device("cuda", 1), TorchLikeDevice("cuda", 0),
                 TorchLikeDevice("mps"), 0]
CPU_DEVICES = [None, "cpu", "cpu:0", sf.device("cpu"), sf.device("cpu", 0), TorchLikeDevice("cpu")]


def device_name(device):
    """How an error names `device` (an int is torch's accelerator index)."""
    if isinstance(device, int):
        return f"cuda:{device}"
    return str(sf.device(device))


def test_tensor_device_is_the_cpu_like_torch():
    d = sf.ones(2).device
    assert isinstance(d, sf.device) and d.type == "cpu" and d.index is None
    assert str(d) == "cpu" and repr(d) == "device(type='cpu')"
    assert d == sf.device("cpu") and d == "cpu" and d != "cuda" and d != sf.device("cpu", 0) and d != 0
    assert hash(d) == hash("cpu") and {d: 1}["cpu"] == 1
    assert pickle.loads(pickle.dumps(d)) == d
    cuda = sf.device("cuda", 1)  # any device can be named, as in torch; only the CPU holds tensors
    assert (cuda.type, cuda.index, str(cuda), repr(cuda)) == ("cuda", 1, "cuda:1", "device(type='cuda', index=1)")
    assert sf.device("cuda:1") == cuda and sf.device(TorchLikeDevice("cuda", 1)) == cuda
    assert sf.device("cpu:0").index == 0
    with pytest.raises(sf.DeviceError, match="CPU device index"):
        sf.device("cpu:1")  # torch: "CPU device index must be -1 or zero"
    with pytest.raises(sf.DeviceError, match="invalid device string"):
        sf.device("cuda:x")
    with pytest.raises(TypeError):
        sf.device(1.5)
    with pytest.raises(AttributeError):
        d.type = "cuda"


def test_device_error_is_what_torch_and_array_api_users_catch():
    assert issubclass(sf.DeviceError, sf.Error) and sf.DeviceError.status == 4
    assert issubclass(sf.DeviceError, RuntimeError)  # torch: RuntimeError for an unavailable device
    assert issubclass(sf.DeviceError, BufferError)  # array API from_dlpack: BufferError for an unsupported device
    assert issubclass(sf.DeviceError, ValueError)  # as before


CREATION = {
    "tensor": lambda device: sf.tensor([1.0, 2.0], device=device),
    "Tensor": lambda device: sf.Tensor([1.0, 2.0], device=device),
    "asarray": lambda device: sf.asarray(np.arange(3.0), device=device),
    "as_tensor": lambda device: sf.as_tensor([1, 2], device=device),
    "from_dlpack": lambda device: sf.from_dlpack(np.arange(3.0), device=device),
    "zeros": lambda device: sf.zeros(2, 3, device=device),
    "ones": lambda device: sf.ones((2,), device=device),
    "empty": lambda device: sf.empty(2, device=device),
    "full": lambda device: sf.full((2,), 7, device=device),
    "arange": lambda device: sf.arange(5, device=device),
    "eye": lambda device: sf.eye(3, device=device),
    "linspace": lambda device: sf.linspace(0, 1, 5, device=device),
    "rand": lambda device: sf.rand(3, device=device),
    "randn": lambda device: sf.randn(3, device=device),
    "randint": lambda device: sf.randint(0, 10, (4,), device=device),
    "zeros_like": lambda device: sf.zeros_like(sf.ones(2), device=device),
    "ones_like": lambda device: sf.ones_like(sf.ones(2), device=device),
    "empty_like": lambda device: sf.empty_like(sf.ones(2), device=device),
    "full_like": lambda device: sf.full_like(sf.ones(2), 3.0, device=device),
    "rand_like": lambda device: sf.rand_like(sf.ones(2), device=device),
    "randn_like": lambda device: sf.randn_like(sf.ones(2), device=device),
    "new_zeros": lambda device: sf.ones(2).new_zeros(3, device=device),
    "new_ones": lambda device: sf.ones(2).new_ones(3, device=device),
    "new_full": lambda device: sf.ones(2).new_full((3,), 2.0, device=device),
    "new_tensor": lambda device: sf.ones(2).new_tensor([1, 2], device=device),
}


@pytest.mark.parametrize("name", CREATION)
def test_creation_refuses_other_devices_by_name(name):
    make = CREATION[name]
    for device in OTHER_DEVICES:
        with pytest.raises(sf.DeviceError, match=f"device '{device_name(device)}' is not available"):
            make(device)
    sf.manual_seed(5)
    expected = make(None)
    assert expected.device == "cpu"
    for device in CPU_DEVICES:
        sf.manual_seed(5)
        made = make(device)
        assert made.device == "cpu" and made.dtype is expected.dtype
        np.testing.assert_array_equal(made.numpy(), expected.numpy())


def test_to_takes_torchs_forms():
    x = np.arange(6.0).reshape(2, 3)
    t = sf.tensor(x, dtype=sf.float32)
    for device in CPU_DEVICES:
        assert t.to(device) is t
    np.testing.assert_array_equal(t.to("cpu", sf.float64).numpy(), x)
    assert t.to("cpu", sf.float64).dtype is sf.float64 and t.to(sf.device("cpu"), sf.int64).dtype is sf.int64
    assert t.to(dtype=sf.float64).dtype is sf.float64 and t.to(device="cpu") is t
    assert t.to(device="cpu:0", dtype=sf.int32).dtype is sf.int32
    assert t.to("cpu", dtype=sf.float64).dtype is sf.float64
    other = sf.zeros(1, dtype=sf.int64)
    assert t.to(other).dtype is sf.int64 and t.to(other).tolist() == x.astype(np.int64).tolist()
    assert t.to(sf.float32) is t and t.to(sf.float32, copy=False) is t
    copied = t.to(sf.float32, copy=True)  # copy=True: a new tensor even when nothing changes
    assert copied is not t and copied.numpy().ctypes.data != t.numpy().ctypes.data
    np.testing.assert_array_equal(copied.numpy(), t.numpy())
    assert t.to(sf.float32, False, True) is not t  # to(dtype, non_blocking, copy)
    assert t.to("cpu", sf.float32, False, True) is not t  # to(device, dtype, non_blocking, copy)
    assert t.to(t, copy=True) is not t and t.to(t) is t
    assert t.to(np.float64).dtype is sf.float64 and t.to("float64").dtype is sf.float64  # dtype names, as elsewhere
    for device in OTHER_DEVICES:
        name = device_name(device)
        with pytest.raises(sf.DeviceError, match=f"device '{name}' is not available"):
            t.to(device)
        with pytest.raises(RuntimeError, match=f"'{name}'"):
            t.to(device, sf.float64)
        with pytest.raises(sf.DeviceError, match=f"'{name}'"):
            t.to(device=device, dtype=sf.float64)
    with pytest.raises(sf.DeviceError, match="invalid device string"):
        t.to("nonsense:x")
    with pytest.raises(TypeError, match="at most 4 positional"):
        t.to("cpu", sf.float32, False, False, None)


def test_repr_shows_values():
    assert repr(sf.tensor([1.0, 2.5])) == "tensor([1.0, 2.5])"
    assert repr(sf.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(sf.tensor([1.0], dtype=sf.float64)) == "tensor([1.], dtype=swiftfunc.float64)"
    assert repr(sf.tensor([1, 2], dtype=sf.int32)) == "tensor([1, 2], dtype=swiftfunc.int32)"
    assert repr(sf.tensor(True)) == "tensor(True)"
    assert "size=(0, 3)" in repr(sf.zeros(0, 3))
    assert "\n" in repr(sf.zeros(2, 2)) and str(sf.zeros(1)) == repr(sf.zeros(1))


def test_ops_take_python_data_where_tensors_go():
    """Python data in a tensor argument is converted, and the converted tensor stays alive for the call
    (a temporary's handle was released before the library read it: wrong values or a crash)."""
    data = np.linspace(-1.0, 1.0, 50_000)
    for _ in range(20):
        assert_close(sf.exp(data.tolist()), np.exp(data).astype(np.float32))
        assert sf.reshape([1, 2, 3, 4], (2, 2)).tolist() == [[1, 2], [3, 4]]
        assert sf.matmul([[1.0, 2.0]], [[3.0], [4.0]]).tolist() == [[11.0]]
        assert sf.sum([1, 2, 3], dtype=sf.float64).item() == 6.0
        assert sf.softmax([0.0, 0.0], 0, dtype=sf.float64).tolist() == [0.5, 0.5]
        assert sf.gather([[1, 2], [3, 4]], 1, [[1], [0]]).tolist() == [[2], [3]]


def test_errors_carry_the_library_message():
    with pytest.raises(sf.ShapeError) as info:
        sf.ones(2, 3) + sf.ones(4)
    assert "sf_add" in str(info.value) and info.value.status == 2
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)
    assert isinstance(info.value, sf.Error)
    with pytest.raises(sf.InvalidArgumentError, match="sf_sum"):
        sf.ones(2).sum(3)
    with pytest.raises(sf.DTypeError) as info:
        sf.matmul(sf.ones(2, dtype=sf.int64), sf.ones(2, dtype=sf.int64))
    assert isinstance(info.value, TypeError) and info.value.status == 3
    with pytest.raises(TypeError):
        sf.ones(2) + "a"
    with pytest.raises(TypeError):
        sf.sin("x")


def test_aliases():
    x, y = sf.tensor([7.0, -7.0]), sf.tensor([2.0, 2.0])
    assert sf.floor_divide(x, y).tolist() == [3.0, -4.0] and x.floor_divide(2).tolist() == [3.0, -4.0]
    assert sf.remainder(x, y).tolist() == [1.0, 1.0] and x.remainder(3).tolist() == [1.0, 2.0]
    assert sf.ger(x, y).shape == (2, 2)
    m = sf.arange(6.0).reshape(2, 3)
    assert sf.swapdims(m, 0, 1).shape == (3, 2) and m.swapdims(0, 1).tolist() == m.T.tolist()
    assert m.expand_as(sf.zeros(4, 2, 3)).shape == (4, 2, 3)
    assert m.reshape_as(sf.zeros(3, 2)).shape == (3, 2)
    assert m.nelement() == 6
    sf.seed(3)
    a = sf.rand(2).tolist()
    sf.manual_seed(3)
    assert sf.rand(2).tolist() == a


def test_every_public_function_is_tested():
    """Each public function and Tensor method is called somewhere in this suite (by name, or by its
    name as a string in a parametrized table)."""
    import glob
    import os
    import re
    import types

    source = "".join(open(f).read() for f in glob.glob(os.path.join(os.path.dirname(__file__), "test_*.py")))

    def used(name):
        return re.search(r"((sf|F)?\." + name + r"\(|\"" + name + r"\")", source)

    functions = [n for n, o in vars(sf).items() if not n.startswith("_") and callable(o)
                 and not isinstance(o, (type, types.ModuleType))]
    methods = [n for n in dir(sf.Tensor) if not n.startswith("_") and callable(getattr(sf.Tensor, n))]
    assert [n for n in functions if not used(n)] == []
    assert [n for n in methods if not used(n)] == []
    assert [n for n in sf.func.__all__ if not re.search(r"\b" + n + r"\(", source)] == []  # imported by name
    assert [n for n in sf.nn.functional.__all__ if not used(n)] == []


@pytest.mark.parametrize("dtype", [sf.float32, sf.float64])
def test_matmul_with_an_operand_constant_along_the_contraction(dtype):
    # An expanded operand (stride 0 along k) takes the rank-1 path; values as numpy's product.
    rng = np.random.default_rng(3)
    b = rng.normal(size=(5, 4))
    u = rng.normal(size=(3, 1))
    left = sf.tensor(u, dtype=dtype).expand(3, 5)
    right = sf.tensor(b, dtype=dtype)
    tol = 1e-5 if dtype is sf.float32 else 1e-12
    np.testing.assert_allclose(np.asarray((left @ right).tolist()), np.broadcast_to(u, (3, 5)) @ b, rtol=tol, atol=tol)
    v = rng.normal(size=(1, 4))
    a = rng.normal(size=(3, 5))
    got = sf.tensor(a, dtype=dtype) @ sf.tensor(v, dtype=dtype).expand(5, 4)
    np.testing.assert_allclose(np.asarray(got.tolist()), a @ np.broadcast_to(v, (5, 4)), rtol=tol, atol=tol)
    # grad of sum(A @ B): the cotangent is an expanded one; d/dA = 1 B^T, d/dB = A^T 1.
    ga, gb = sf.func.grad(lambda x, y: (x @ y).sum(), argnums=(0, 1))(sf.tensor(a, dtype=dtype), right)
    ones = np.ones((3, 4))
    np.testing.assert_allclose(np.asarray(ga.tolist()), ones @ b.T, rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(gb.tolist()), a.T @ ones, rtol=tol, atol=tol)
