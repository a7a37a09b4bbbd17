"""swiftfunc.nn: modules, named parameters, seeded init, nn.functional against numpy (and torch when
installed), functional_call and stack_module_state."""
import collections
import math

import numpy as np
import pytest

import swiftfunc as sf
import swiftfunc.nn as nn
import swiftfunc.nn.functional as F
from swiftfunc.func import functional_call, grad, stack_module_state, vmap
from conftest import optional_module

torch = optional_module("torch")


def v(t):
    return t._copy_values()


def t64(array):
    return sf.tensor(np.asarray(array), dtype=sf.float64)


# ------------------------------------------------------------------------------------------------
# nn.functional
# ------------------------------------------------------------------------------------------------


def test_activations(rng):
    x = rng.normal(size=(3, 4))
    t = t64(x)
    np.testing.assert_allclose(v(F.relu(t)), np.maximum(x, 0))
    np.testing.assert_allclose(v(F.sigmoid(t)), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(v(F.tanh(t)), np.tanh(x))
    np.testing.assert_allclose(v(F.silu(t)), x / (1 + np.exp(-x)))
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(v(F.gelu(t)), 0.5 * x * (1 + erf(x / np.sqrt(2))), atol=1e-12)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(v(F.softmax(t, dim=1)), e / e.sum(1, keepdims=True))
    np.testing.assert_allclose(v(F.log_softmax(t, dim=-1)), np.log(e / e.sum(1, keepdims=True)))
    with pytest.raises(ValueError):
        F.softmax(t)


def test_losses(rng):
    logits = rng.normal(size=(5, 3))
    target = np.array([0, 2, 1, 1, 0])
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    per = -log_p[np.arange(5), target]
    lt, tt = t64(logits), sf.tensor(target)
    np.testing.assert_allclose(F.cross_entropy(lt, tt).item(), per.mean())
    np.testing.assert_allclose(v(F.cross_entropy(lt, tt, reduction="none")), per)
    np.testing.assert_allclose(F.cross_entropy(lt, tt, reduction="sum").item(), per.sum())
    probabilities = np.eye(3)[target] * 0.8 + 0.2 / 3
    np.testing.assert_allclose(F.cross_entropy(lt, t64(probabilities)).item(), -(probabilities * log_p).sum(1).mean())
    np.testing.assert_allclose(F.cross_entropy(lt[0], tt[0]).item(), per[0])
    with pytest.raises(NotImplementedError):
        F.cross_entropy(lt, tt, label_smoothing=0.1)
    with pytest.raises(ValueError):
        F.cross_entropy(lt, tt, reduction="avg")
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    np.testing.assert_allclose(F.mse_loss(t64(a), t64(b)).item(), ((a - b) ** 2).mean())
    np.testing.assert_allclose(v(F.mse_loss(t64(a), t64(b), reduction="none")), (a - b) ** 2)
    assert nn.CrossEntropyLoss()(lt, tt).item() == pytest.approx(per.mean())
    assert nn.MSELoss(reduction="sum")(t64(a), t64(b)).item() == pytest.approx(((a - b) ** 2).sum())


def reference_conv2d(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    oh = (x.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (x.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for i in range(oh):
            for j in range(ow):
                patch = x[:, g * cg:(g + 1) * cg, i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                          j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, oc, i, j] = (patch * w[oc]).sum((1, 2, 3)) + (b[oc] if b is not None else 0)
    return out


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2), ((2, 1), (0, 1), 1, 1)])
def test_conv2d(stride, padding, dilation, groups, rng):
    x = rng.normal(size=(2, 4, 7, 6))
    w = rng.normal(size=(6, 4 // groups, 3, 2))
    b = rng.normal(size=6)
    pair = lambda p: (p, p) if isinstance(p, int) else p  # noqa: E731
    expected = reference_conv2d(x, w, b, pair(stride), pair(padding), pair(dilation), groups)
    got = F.conv2d(t64(x), t64(w), t64(b), stride, padding, dilation, groups)
    np.testing.assert_allclose(v(got), expected, rtol=1e-10, atol=1e-10)
    assert F.conv2d(t64(x[0]), t64(w), None, stride, padding, dilation, groups).shape == expected.shape[1:]


def test_conv2d_string_padding(rng):
    x, w = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(3, 2, 3, 2))
    same = F.conv2d(t64(x), t64(w), padding="same")
    assert same.shape == (1, 3, 5, 5)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 1)))
    np.testing.assert_allclose(v(same), reference_conv2d(padded, w, None, (1, 1), (0, 0), (1, 1), 1), atol=1e-10)
    assert F.conv2d(t64(x), t64(w), padding="valid").shape == (1, 3, 3, 4)
    with pytest.raises(ValueError):
        F.conv2d(t64(x), t64(w), padding="full")


def test_layer_norm_linear_dropout_pad(rng):
    x = rng.normal(size=(3, 4, 5))
    mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    w, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    np.testing.assert_allclose(v(F.layer_norm(t64(x), (4, 5), t64(w), t64(b), eps=1e-5)),
                               (x - mean) / np.sqrt(var + 1e-5) * w + b, rtol=1e-10)
    np.testing.assert_allclose(v(F.layer_norm(t64(x), 5)),
                               (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5), rtol=1e-10)
    weight, bias = rng.normal(size=(2, 5)), rng.normal(size=2)
    np.testing.assert_allclose(v(F.linear(t64(x), t64(weight), t64(bias))), x @ weight.T + bias, rtol=1e-12)
    np.testing.assert_allclose(v(F.linear(t64(x), t64(weight))), x @ weight.T, rtol=1e-12)
    ones = sf.ones(10000)
    dropped = v(F.dropout(ones, 0.25))
    assert set(np.unique(dropped)) <= {0.0, np.float32(1 / 0.75)} and abs((dropped == 0).mean() - 0.25) < 0.03
    assert F.dropout(ones, 0.25, training=False) is not None and v(F.dropout(ones, 0.5, False)).min() == 1
    with pytest.raises(sf.InvalidArgumentError):
        F.dropout(ones, 1.5)
    np.testing.assert_array_equal(v(F.pad(t64(x), (1, 2))), np.pad(x, ((0, 0), (0, 0), (1, 2))))
    np.testing.assert_array_equal(v(F.pad(t64(x), (0, 0, 1, 0), value=3.0)),
                                  np.pad(x, ((0, 0), (1, 0), (0, 0)), constant_values=3.0))
    np.testing.assert_array_equal(v(F.pad(t64(x), (-1, -1))), x[..., 1:-1])
    with pytest.raises(NotImplementedError):
        F.pad(t64(x), (1, 1), mode="reflect")
    assert F.one_hot(sf.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert F.one_hot(sf.tensor([1, 3])).shape == (2, 4)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_functional_against_torch(rng):
    import torch.nn.functional as TF

    x = rng.normal(size=(2, 3, 6, 6))
    w = rng.normal(size=(4, 3, 3, 3))
    tx, tw = torch.tensor(x), torch.tensor(w)
    np.testing.assert_allclose(v(F.conv2d(t64(x), t64(w), stride=2, padding=1)),
                               TF.conv2d(tx, tw, stride=2, padding=1).numpy(), rtol=1e-10)
    np.testing.assert_allclose(v(F.gelu(t64(x), approximate="tanh")), TF.gelu(tx, approximate="tanh").numpy(), rtol=1e-10)
    np.testing.assert_allclose(v(F.layer_norm(t64(x), (6, 6))), TF.layer_norm(tx, (6, 6)).numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(v(F.pad(t64(x), (1, 2, 0, 1))), TF.pad(tx, (1, 2, 0, 1)).numpy())


# ------------------------------------------------------------------------------------------------
# Modules
# ------------------------------------------------------------------------------------------------


def make_model():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh())


def test_module_registration_and_names():
    sf.manual_seed(0)
    model = make_model()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [p.shape for p in model.parameters()] == [(8, 4), (8,), (3, 8), (3,)]
    assert all(isinstance(p, nn.Parameter) and isinstance(p, sf.Tensor) for p in model.parameters())
    assert [name for name, _ in model.named_modules()] == ["", "0", "1", "2", "3"]
    assert len(list(model.children())) == 4 and len(model) == 4 and isinstance(model[0], nn.Linear)
    assert isinstance(model[1:3], nn.Sequential)
    bound = 1 / math.sqrt(4)
    w = v(model[0].weight)
    assert np.abs(w).max() <= bound and w.std() > bound / 4  # torch's U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert "Linear(in_features=4, out_features=8, bias=True)" in repr(model)
    linear = nn.Linear(3, 2, bias=False)
    assert linear.bias is None and [n for n, _ in linear.named_parameters()] == ["weight"]
    named = nn.Sequential(collections.OrderedDict(first=nn.Linear(2, 2), act=nn.GELU()))
    assert [n for n, _ in named.named_parameters()] == ["first.weight", "first.bias"]
    model.register_buffer("scale", sf.ones(3))
    assert [n for n, _ in model.named_buffers()] == ["scale"] and set(model.state_dict()) >= {"scale", "0.bias"}


def test_seeded_init_is_reproducible():
    sf.manual_seed(7)
    a = make_model()
    sf.manual_seed(7)
    b = make_model()
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and v(pa).tolist() == v(pb).tolist()
    c = make_model()
    assert v(c[0].weight).tolist() != v(a[0].weight).tolist()


def test_custom_module_train_eval_and_state_dict():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.norm = nn.LayerNorm(2 * 4 * 4)
            self.drop = nn.Dropout(0.5)
            self.head = nn.Linear(32, 3)
            self.flatten = nn.Flatten()

        def forward(self, x):
            h = self.flatten(F.relu(self.conv(x)))
            return self.head(self.drop(self.norm(h)))

    net = Net()
    x = sf.randn(5, 1, 4, 4)
    assert net(x).shape == (5, 3)
    assert net.training and net.drop.training
    net.eval()
    assert not net.drop.training
    np.testing.assert_array_equal(v(net(x)), v(net(x)))  # no dropout in eval mode
    state = net.state_dict()
    assert list(state)[:2] == ["conv.weight", "conv.bias"]
    other = Net().eval()
    other.load_state_dict(state)
    np.testing.assert_array_equal(v(other(x)), v(net(x)))
    with pytest.raises(RuntimeError, match="Missing key"):
        other.load_state_dict({"conv.weight": state["conv.weight"]})
    with pytest.raises(AttributeError):
        net.nothing  # noqa: B018


def test_module_to_and_float_double_like_torch():
    sf.manual_seed(3)
    model = make_model()
    model[0].register_buffer("running", sf.ones(8))
    model[0].register_buffer("steps", sf.tensor([4]))  # an integer buffer keeps its dtype, as in torch
    tied = nn.Sequential(model, nn.Linear(3, 8))
    tied[1].weight = model[2].weight  # one Parameter in two modules (the shape does not matter: never called)
    x = np.random.default_rng(0).normal(size=(5, 4))
    before = {name: v(p) for name, p in tied.state_dict().items()}
    expected = v(model(sf.tensor(x, dtype=sf.float32)))
    params = list(tied.parameters())

    assert tied.to("cpu") is tied and tied.to(sf.device("cpu")) is tied and tied.cpu() is tied
    assert all(a is b for a, b in zip(tied.parameters(), params))
    assert tied.to(sf.float32) is tied and all(a is b for a, b in zip(tied.parameters(), params))

    assert tied.to(sf.float64) is tied  # in place, returning the module
    for name, value in tied.state_dict().items():
        expected_dtype = sf.int64 if name.endswith("steps") else sf.float64
        assert value.dtype is expected_dtype, name
        np.testing.assert_array_equal(v(value), before[name].astype(expected_dtype.numpy))
    assert all(isinstance(p, nn.Parameter) for p in tied.parameters())
    assert tied[1].weight is model[2].weight  # still shared
    assert len(list(tied.parameters())) == len(params)
    np.testing.assert_allclose(v(model(sf.tensor(x, dtype=sf.float64))), expected, rtol=1e-5, atol=1e-6)

    assert tied.float() is tied and model[0].weight.dtype is sf.float32 and model[0].running.dtype is sf.float32
    assert tied.double() is tied and model[0].weight.dtype is sf.float64 and model[0].steps.dtype is sf.int64
    assert tied.to("cpu", sf.float32) is tied and model[2].bias.dtype is sf.float32
    assert tied.to(dtype=sf.float64) is tied and model[2].bias.dtype is sf.float64
    assert tied.to(device="cpu:0", dtype=sf.float32) is tied and model[2].bias.dtype is sf.float32
    assert tied.to(sf.zeros(1, dtype=sf.float64)) is tied and model[2].bias.dtype is sf.float64  # to(tensor)
    with pytest.raises(TypeError, match="floating point"):
        tied.to(sf.int64)  # torch: "nn.Module.to only accepts floating point or complex dtypes"
    for device in ("cuda", "cuda:0", "mps", sf.device("cuda", 1)):
        with pytest.raises(sf.DeviceError, match=f"device '{sf.device(device)}' is not available"):
            tied.to(device)
        with pytest.raises(RuntimeError, match=f"'{sf.device(device)}'"):
            tied.to(device, sf.float32)
        assert model[2].bias.dtype is sf.float64  # nothing converted
    # The meta device (the ensembling tutorial's template module): accepted, values kept.
    before = v(model[2].bias)
    for device in ("meta", "meta:0", sf.device("meta")):
        assert tied.to(device) is tied and model[2].bias.dtype is sf.float64
        assert tied.to(device=device) is tied
    np.testing.assert_array_equal(v(model[2].bias), before)
    assert tied.to("meta", sf.float32) is tied and model[2].bias.dtype is sf.float32
    with pytest.raises(sf.DeviceError, match="device 'meta' is not available"):
        sf.zeros(2).to("meta")
    for make in (lambda d: nn.Linear(2, 3, device=d), lambda d: nn.Conv2d(1, 2, 3, device=d),
                 lambda d: nn.LayerNorm(4, device=d)):
        with pytest.raises(sf.DeviceError, match="device 'cuda' is not available"):
            make("cuda")
        assert make("cpu").weight.dtype is sf.float32


def test_functional_call_and_grad():
    sf.manual_seed(1)
    model = make_model()
    x, y = sf.randn(6, 4), sf.randn(6, 3)
    params = {k: p.detach() for k, p in model.named_parameters()}
    np.testing.assert_array_equal(v(functional_call(model, params, (x,))), v(model(x)))
    zeros = {k: sf.zeros_like(p) for k, p in params.items()}
    np.testing.assert_array_equal(v(functional_call(model, zeros, x)), np.zeros((6, 3)))
    np.testing.assert_array_equal(v(model(x)), v(functional_call(model, params, x)))  # the module is unchanged
    split = [{k: p for k, p in params.items() if k.startswith("0")}, {k: p for k, p in params.items() if k.startswith("2")}]
    np.testing.assert_array_equal(v(functional_call(model, split, (x,))), v(model(x)))
    with pytest.raises(ValueError, match="multiple"):
        functional_call(model, [params, params], (x,))
    with pytest.raises(RuntimeError, match="missing"):
        functional_call(model, {"0.weight": params["0.weight"]}, (x,), strict=True)

    def loss(params, x, y):
        return F.mse_loss(functional_call(model, params, (x,)), y)

    grads = grad(loss)(params, x, y)
    assert set(grads) == set(params)
    eps = 1e-3
    bumped = dict(params)
    bias = v(params["2.bias"]).copy()
    bias[1] += eps
    bumped["2.bias"] = sf.tensor(bias)
    numeric = (loss(bumped, x, y).item() - loss(params, x, y).item()) / eps
    assert v(grads["2.bias"])[1] == pytest.approx(numeric, rel=2e-2, abs=1e-4)
    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    assert per_sample["0.weight"].shape == (6, 8, 4)
    np.testing.assert_allclose(v(per_sample["0.weight"]).mean(0), v(grads["0.weight"]), rtol=1e-4, atol=1e-6)


def test_stack_module_state_ensemble():
    sf.manual_seed(2)
    models = [make_model() for _ in range(4)]
    params, buffers = stack_module_state(models)
    assert buffers == {} and params["0.weight"].shape == (4, 8, 4)
    x = sf.randn(5, 4)
    base = make_model()

    def run(p, x):
        return functional_call(base, p, (x,))

    ensemble = vmap(run, in_dims=(0, None))(params, x)
    for i, m in enumerate(models):
        np.testing.assert_allclose(v(ensemble[i]), v(m(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="same class"):
        stack_module_state([make_model(), nn.Linear(2, 2)])
    with pytest.raises(RuntimeError, match="at least one"):
        stack_module_state([])
    with pytest.raises(RuntimeError, match="training"):
        stack_module_state([make_model(), make_model().eval()])
