"""In-place Tensor methods (the object takes a new value; views keep the old one; traced values refuse),
the grad/requires_grad/data attributes, and nn.init against torch's formulas (and torch when it imports)."""
import math
import warnings

import numpy as np
import pytest

import swiftfunc as sf
from conftest import optional_module
from swiftfunc.func import grad, jit, vmap

torch = optional_module("torch")
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def v(t):
    return t._copy_values()


A = np.array([[1.5, -2.0, 0.25], [3.0, 0.5, -1.0]])
B = np.array([[0.5, 4.0, -1.0], [2.0, -0.5, 3.0]])

# (method, args, kwargs, numpy result from A)
CASES = [
    ("add_", (sf.tensor(B),), {}, A + B),
    ("add_", (sf.tensor(B),), {"alpha": -2.5}, A - 2.5 * B),
    ("add_", (2,), {}, A + 2),
    ("sub_", (sf.tensor(B),), {"alpha": 0.5}, A - 0.5 * B),
    ("mul_", (sf.tensor(B),), {}, A * B),
    ("mul_", (3.0,), {}, A * 3),
    ("div_", (sf.tensor(B),), {}, A / B),
    ("div_", (sf.tensor(B),), {"rounding_mode": "floor"}, np.floor(A / B)),
    ("pow_", (2,), {}, A ** 2),
    ("clamp_", (-1.0, 1.0), {}, np.clip(A, -1, 1)),
    ("clamp_", (), {"min": 0.0}, np.maximum(A, 0)),
    ("clip_", (), {"max": 0.0}, np.minimum(A, 0)),
    ("clamp_min_", (0.3,), {}, np.maximum(A, 0.3)),
    ("clamp_max_", (0.3,), {}, np.minimum(A, 0.3)),
    ("addcmul_", (sf.tensor(B), sf.tensor(B)), {"value": 0.5}, A + 0.5 * B * B),
    ("addcdiv_", (sf.tensor(B), sf.tensor(A)), {"value": -2.0}, A - 2.0 * B / A),
    ("lerp_", (sf.tensor(B), 0.25), {}, A + 0.25 * (B - A)),
    ("lerp_", (sf.tensor(B), 0.75), {}, A + 0.75 * (B - A)),
    ("lerp_", (sf.tensor(B), 1.0), {}, B),
    ("zero_", (), {}, np.zeros_like(A)),
    ("fill_", (7.5,), {}, np.full_like(A, 7.5)),
    ("fill_", (sf.tensor(-1.0),), {}, np.full_like(A, -1.0)),
    ("copy_", (sf.tensor(B),), {}, B),
    ("copy_", (sf.tensor([1.0, 2.0, 3.0]),), {}, np.broadcast_to([1.0, 2.0, 3.0], A.shape)),
    ("copy_", (sf.tensor(B, dtype=sf.float32),), {}, B.astype(np.float32).astype(np.float64)),
    ("neg_", (), {}, -A),
    ("abs_", (), {}, np.abs(A)),
    ("exp_", (), {}, np.exp(A)),
    ("sqrt_", (), {}, np.sqrt(np.abs(A))),
    ("tanh_", (), {}, np.tanh(A)),
    ("sigmoid_", (), {}, 1 / (1 + np.exp(-A))),
    ("relu_", (), {}, np.maximum(A, 0)),
    ("square_", (), {}, A ** 2),
    ("floor_", (), {}, np.floor(A)),
    ("ceil_", (), {}, np.ceil(A)),
    ("round_", (), {}, np.round(A)),
    ("sign_", (), {}, np.sign(A)),
    ("sin_", (), {}, np.sin(A)),
    ("cos_", (), {}, np.cos(A)),
    ("reciprocal_", (), {}, 1 / A),
    ("log_", (), {}, np.log(np.abs(A))),
    ("rsqrt_", (), {}, 1 / np.sqrt(np.abs(A))),
]
POSITIVE_ONLY = ("sqrt_", "log_", "rsqrt_")  # these run on |A|


@pytest.mark.parametrize("name, args, kwargs, expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_inplace_method_gives_the_object_the_new_value(name, args, kwargs, expected):
    x = sf.tensor(np.abs(A) if name in POSITIVE_ONLY else A)
    view, alias = x[0], x
    before = v(x).copy()
    result = getattr(x, name)(*args, **kwargs)
    assert result is x and alias is x  # returns self; every name bound to the object sees the new value
    assert x.dtype is sf.float64 and x.shape == A.shape
    np.testing.assert_allclose(v(x), expected, rtol=1e-12)
    np.testing.assert_array_equal(v(view), before[0])  # a view taken before keeps the old value
    if torch is not None:
        t = torch.tensor(np.abs(A) if name in POSITIVE_ONLY else A)
        targs = [torch.from_numpy(v(a)) if isinstance(a, sf.Tensor) else a for a in args]
        if name == "fill_" and isinstance(args[0], sf.Tensor):
            targs = [torch.tensor(args[0].item(), dtype=torch.float64)]
        getattr(t, name)(*targs, **kwargs)
        np.testing.assert_allclose(v(x), t.numpy(), rtol=1e-12)


def test_inplace_on_a_parameter_updates_the_module():
    model = sf.nn.Linear(3, 2)
    weight = model.weight
    weight.mul_(0.0).add_(1.0)
    assert model.weight is weight and isinstance(weight, sf.nn.Parameter) and weight.requires_grad
    np.testing.assert_array_equal(v(model(sf.ones(1, 3)) - model.bias), [[3.0, 3.0]])
    snapshot = model.state_dict()["weight"]
    weight.zero_()
    np.testing.assert_array_equal(v(snapshot), np.ones((2, 3)))  # state_dict values are snapshots


def test_views_and_bases_do_not_follow_each_other():
    """The documented difference from torch: tensors are values, so in-place methods change one object."""
    x = sf.tensor([1.0, 2.0, 3.0])
    d, r, t = x.detach(), x.reshape(3, 1), x[1:]
    x.add_(10)
    for other, old in ((d, [1, 2, 3]), (r, [[1], [2], [3]]), (t, [2, 3])):
        np.testing.assert_array_equal(v(other), old)
    t.zero_()
    np.testing.assert_array_equal(v(x), [11, 12, 13])  # in torch x would now be [11, 0, 0]


def test_inplace_keeps_shape_and_dtype_as_torch():
    x = sf.zeros(3)
    with pytest.raises(RuntimeError, match=r"shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        x.add_(sf.ones(2, 3))
    i = sf.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        i.mul_(1.5)
    assert i.add_(2) is i and i.dtype is sf.int64 and i.tolist() == [3, 4, 5]
    f = sf.zeros(2)
    f.add_(sf.ones(2, dtype=sf.float64))  # float64 into float32 is allowed (same category), as in torch
    assert f.dtype is sf.float32 and f.tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="floating point"):
        i.uniform_()
    with pytest.raises(RuntimeError, match="0-dimension"):
        f.fill_(sf.ones(2))


@pytest.mark.parametrize("transform", ["grad", "vmap", "jit"])
def test_inplace_on_a_traced_value_is_a_transform_error_naming_the_method(transform):
    def f(x):
        x.mul_(2.0)
        return x.sum()

    wrapped = {"grad": grad(f), "vmap": vmap(f), "jit": jit(f)}[transform]
    with pytest.raises(sf.TransformError, match=r"Tensor\.mul_.*traced value.*x = x\.mul\("):
        wrapped(sf.ones(2, 3))

    def g(x):
        return x.sum() + x.clone().zero_().sum()  # a value computed from a traced input is traced too

    with pytest.raises(sf.TransformError, match=r"Tensor\.zero_"):
        grad(g)(sf.ones(3))


def test_storing_a_traced_value_in_an_outside_tensor_is_refused():
    outside = sf.zeros(3)

    def f(x):
        outside.copy_(x)
        return x.sum()

    with pytest.raises(sf.TransformError, match=r"Tensor\.copy_: cannot store a traced value"):
        grad(f)(sf.ones(3))
    np.testing.assert_array_equal(v(outside), [0, 0, 0])

    def h(x):
        local = sf.zeros(3)
        local.add_(1.0)  # a concrete tensor made inside the function may be updated
        return (x * local).sum()

    np.testing.assert_array_equal(v(grad(h)(sf.ones(3))), [1, 1, 1])


def test_random_fills_have_the_requested_distribution():
    sf.manual_seed(1)
    u = sf.empty(200, 100).uniform_(-2.0, 3.0)
    n = sf.empty(200, 100, dtype=sf.float64).normal_(1.5, 0.5)
    values = v(u)
    assert values.min() >= -2.0 and values.max() < 3.0
    assert abs(values.mean() - 0.5) < 0.05 and abs(values.var() - 25 / 12) < 0.05
    assert abs(v(n).mean() - 1.5) < 0.01 and abs(v(n).std() - 0.5) < 0.01
    b = sf.zeros(10000).bernoulli_(0.3)
    assert set(np.unique(v(b))) <= {0.0, 1.0} and abs(v(b).mean() - 0.3) < 0.02
    ints = sf.zeros(10000, dtype=sf.int64).bernoulli_(sf.full((10000,), 0.7))
    assert ints.dtype is sf.int64 and set(np.unique(v(ints))) <= {0, 1} and abs(v(ints).mean() - 0.7) < 0.02
    sf.manual_seed(2)
    first = v(sf.zeros(5).uniform_())
    sf.manual_seed(2)
    np.testing.assert_array_equal(v(sf.zeros(5).uniform_()), first)  # reproducible from the seed


def test_requires_grad_grad_and_data_attributes():
    x = sf.ones(2)
    assert x.requires_grad is False and x.grad is None and x.is_leaf
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    assert sf.nn.Parameter(sf.ones(1)).requires_grad
    assert not sf.nn.Parameter(sf.ones(1), requires_grad=False).requires_grad
    x.grad = sf.full((2,), 3.0)
    assert x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="different size"):
        x.grad = sf.ones(3)
    with pytest.raises(RuntimeError, match="different type"):
        x.grad = sf.ones(2, dtype=sf.float64)
    with pytest.raises(TypeError, match="Tensor or None"):
        x.grad = [1.0, 2.0]
    del x.grad
    assert x.grad is None
    assert x.data.tolist() == [1.0, 1.0] and x.detach_() is x
    x.data = sf.arange(4.0)  # torch allows a new shape through .data
    assert x.shape == (4,) and x.tolist() == [0.0, 1.0, 2.0, 3.0]
    model = sf.nn.Linear(2, 2).requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


# -------------------------------------------------------------------------------------------------
# nn.init
# -------------------------------------------------------------------------------------------------


def test_calculate_gain_is_torchs():
    expected = {"linear": 1, "conv2d": 1, "sigmoid": 1, "tanh": 5 / 3, "relu": math.sqrt(2),
                "leaky_relu": math.sqrt(2 / (1 + 0.01 ** 2)), "selu": 0.75}
    for name, gain in expected.items():
        assert sf.nn.init.calculate_gain(name) == pytest.approx(gain, rel=1e-15)
    assert sf.nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        sf.nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        sf.nn.init.calculate_gain("leaky_relu", "x")
    if torch is not None:
        for name in ("linear", "conv1d", "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"):
            assert sf.nn.init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
        assert sf.nn.init.calculate_gain("leaky_relu", 0.3) == torch.nn.init.calculate_gain("leaky_relu", 0.3)


@pytest.mark.parametrize("shape", [(5, 3), (7, 2, 3, 3), (4, 6, 5), (1, 1)])
def test_fan_in_and_fan_out(shape):
    receptive = int(np.prod(shape[2:]))
    fans = sf.nn.init._calculate_fan_in_and_fan_out(sf.zeros(shape))
    assert fans == (shape[1] * receptive, shape[0] * receptive)
    if torch is not None:
        assert fans == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        sf.nn.init.xavier_uniform_(sf.zeros(3))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        sf.nn.init.kaiming_uniform_(sf.zeros(3, 3), mode="fan_avg")


SHAPE = (300, 200, 3)  # fan_in 600, fan_out 900; 180000 samples


def _bounds():
    fan_in, fan_out = 600, 900
    leaky = math.sqrt(2 / (1 + 5))  # a = sqrt(5), torch's Linear default
    return {
        "xavier_uniform_": (dict(gain=2.0), "uniform", 2.0 * math.sqrt(6 / (fan_in + fan_out))),
        "xavier_normal_": (dict(gain=0.5), "normal", 0.5 * math.sqrt(2 / (fan_in + fan_out))),
        "kaiming_uniform_": (dict(a=math.sqrt(5)), "uniform", leaky * math.sqrt(3 / fan_in)),
        "kaiming_uniform_relu": (dict(mode="fan_out", nonlinearity="relu"), "uniform",
                                 math.sqrt(2) * math.sqrt(3 / fan_out)),
        "kaiming_normal_": (dict(), "normal", math.sqrt(2 / (1 + 0.01 ** 2)) / math.sqrt(fan_in)),
        "kaiming_normal_tanh": (dict(mode="fan_out", nonlinearity="tanh"), "normal", 5 / 3 / math.sqrt(fan_out)),
    }


@pytest.mark.parametrize("case", list(_bounds()))
def test_variance_scaling_initializers_follow_torchs_formulas(case):
    kwargs, kind, scale = _bounds()[case]
    name = case if case.endswith("_") else case.rsplit("_", 1)[0] + "_"
    w = sf.nn.Parameter(sf.empty(SHAPE))
    assert getattr(sf.nn.init, name)(w, **kwargs) is w and isinstance(w, sf.nn.Parameter)
    values = v(w)
    if kind == "uniform":  # U(-bound, bound): the extremes approach the bound, the std is bound / sqrt(3)
        assert np.abs(values).max() <= scale * (1 + 1e-6) and np.abs(values).max() > scale * 0.999
        assert values.std() == pytest.approx(scale / math.sqrt(3), rel=0.01)
    else:
        assert values.std() == pytest.approx(scale, rel=0.01) and abs(values.mean()) < 0.01 * scale
    if torch is not None:
        tw = torch.empty(SHAPE)
        getattr(torch.nn.init, name)(tw, **kwargs)
        assert values.std() == pytest.approx(tw.std().item(), rel=0.02)
        if kind == "uniform":
            assert np.abs(values).max() == pytest.approx(tw.abs().max().item(), rel=0.002)


def test_constant_initializers_and_init_through_apply():
    w = sf.empty(2, 3)
    assert sf.nn.init.ones_(w) is w and v(w).tolist() == [[1.0] * 3] * 2
    assert sf.nn.init.zeros_(w) is w and not v(w).any()
    sf.nn.init.constant_(w, 0.25)
    assert (v(w) == 0.25).all()
    sf.nn.init.eye_(w)
    np.testing.assert_array_equal(v(w), np.eye(2, 3))
    sf.nn.init.uniform_(w, 2.0, 2.5)
    assert v(w).min() >= 2.0 and v(w).max() < 2.5
    sf.nn.init.normal_(w, mean=10.0, std=0.001)
    assert np.abs(v(w) - 10).max() < 0.01

    def init_weights(m):
        if isinstance(m, sf.nn.Linear):
            sf.nn.init.xavier_uniform_(m.weight)
            sf.nn.init.zeros_(m.bias)

    model = sf.nn.Sequential(sf.nn.Linear(4, 8), sf.nn.ReLU(), sf.nn.Linear(8, 2))
    params = list(model.parameters())
    assert model.apply(init_weights) is model
    assert list(model.parameters()) == params  # the same Parameter objects, with new values
    assert not v(model[0].bias).any() and not v(model[2].bias).any()
    assert np.abs(v(model[0].weight)).max() <= math.sqrt(6 / 12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sf.nn.init.kaiming_uniform_(sf.empty(0, 3))
    assert "zero-element" in str(caught[0].message)


def test_augmented_assignment_is_in_place_on_concrete_tensors_and_works_on_traced_values():
    model = sf.nn.Linear(2, 1)
    w0, b0 = v(model.weight), v(model.bias)
    for p in model.parameters():
        p.grad = sf.ones_like(p)
    with sf.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad  # torch's manual SGD step: updates the module's Parameters
    before = model.weight
    np.testing.assert_allclose(v(model.weight), w0 - 0.5)
    np.testing.assert_allclose(v(model(sf.zeros(1, 2))), (b0 - 0.5).reshape(1, 1))
    x = model.weight
    x *= 0.0
    x += 2.0
    x /= 4.0
    x -= 0.25
    assert model.weight is before and v(model.weight).tolist() == [[0.25, 0.25]]
    with pytest.raises(RuntimeError, match="can't be cast"):
        i = sf.tensor([1])
        i /= 2

    def f(x):
        h = x * 2.0
        h += 1.0  # on a traced value: out of place, as the name's new value
        h *= x
        return h.sum()

    t = sf.tensor([1.0, 2.0], dtype=sf.float64)
    np.testing.assert_allclose(v(grad(f)(t)), 4 * v(t) + 1)


def test_from_numpy_shares_memory_and_in_place_methods_never_write_into_it():
    a = np.arange(6.0).reshape(2, 3)
    t = sf.from_numpy(a)
    assert t.dtype is sf.float64 and t.shape == (2, 3)
    a[0, 0] = 100.0  # shared, as torch.from_numpy
    assert t[0, 0].item() == 100.0
    t.mul_(2.0)
    assert a[0, 0] == 100.0 and t[0, 0].item() == 200.0  # swiftfunc never writes into numpy's memory
    assert sf.from_numpy(np.array([1, 2], dtype=np.int32)).dtype is sf.int32
    assert sf.from_numpy(np.arange(4.0)[::2]).tolist() == [0.0, 2.0]
    with pytest.raises(TypeError, match="float16"):
        sf.from_numpy(np.zeros(2, dtype=np.float16))
    with pytest.raises(TypeError, match="expected np.ndarray"):
        sf.from_numpy([1.0, 2.0])
    if torch is not None:
        with pytest.raises(TypeError, match="expected np.ndarray"):
            torch.from_numpy([1.0, 2.0])


def test_trunc_normal_has_the_truncated_distribution():
    w = sf.nn.init.trunc_normal_(sf.empty(400, 250, dtype=sf.float64))
    values = v(w)
    assert values.min() >= -2.0 and values.max() <= 2.0 and values.min() < -1.95 and values.max() > 1.95
    # the standard normal truncated to [-2, 2]: variance 1 - 2 * 2 phi(2) / (Phi(2) - Phi(-2))
    phi = math.exp(-2.0) / math.sqrt(2 * math.pi)
    z = math.erf(2 / math.sqrt(2))
    assert values.std() == pytest.approx(math.sqrt(1 - 4 * phi / z), rel=0.01)
    shifted = v(sf.nn.init.trunc_normal_(sf.empty(100000), mean=1.0, std=0.5, a=0.0, b=1.5))
    assert shifted.min() >= 0.0 and shifted.max() <= 1.5
    assert abs(np.median(shifted) - 0.9144) < 0.01  # 1 + 0.5 Phi^-1((Phi(-2) + Phi(1)) / 2)
    if torch is not None:
        reference = torch.nn.init.trunc_normal_(torch.empty(100000), mean=1.0, std=0.5, a=0.0, b=1.5).numpy()
        assert shifted.mean() == pytest.approx(reference.mean(), abs=0.01)
        assert shifted.std() == pytest.approx(reference.std(), abs=0.01)
