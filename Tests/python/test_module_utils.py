"""nn.Module's utilities as torch has them: state_dict / load_state_dict (order, persistence, identity,
errors), to/double/float keeping the Parameter objects, train/eval, apply, named_buffers, zero_grad,
requires_grad_, get_submodule/get_parameter/get_buffer; compared with torch when it imports."""
import numpy as np
import pytest

import swiftfunc as sf
from conftest import optional_module

torch = optional_module("torch")
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def v(t):
    return t._copy_values()


def build(nn):
    """The same model in swiftfunc.nn or torch.nn: nested modules, buffers (one non-persistent)."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.register_buffer("count", (sf if nn is sf.nn else torch).zeros(1))
            self.register_buffer("scratch", (sf if nn is sf.nn else torch).ones(2), persistent=False)

        def forward(self, x):
            return self.lin(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = Block()
            self.head = nn.Linear(3, 1)
            self.register_buffer("scale", (sf if nn is sf.nn else torch).full((1,), 2.0))

        def forward(self, x):
            return self.head(self.first(x)) * self.scale

    return Net()


def test_state_dict_order_persistence_and_snapshots():
    net = build(sf.nn)
    keys = ["scale", "first.count", "first.lin.weight", "first.lin.bias", "head.weight", "head.bias"]
    state = net.state_dict()
    assert sorted(state) == sorted(keys) and "first.scratch" not in state
    assert list(state)[:1] == ["scale"]  # a module's own parameters and buffers come before its children's
    assert [n for n, _ in net.named_buffers()] == ["scale", "first.count", "first.scratch"]
    assert not isinstance(state["head.weight"], sf.nn.Parameter)
    kept = net.state_dict(keep_vars=True)
    assert kept["head.weight"] is net.head.weight
    prefixed = net.state_dict(prefix="model.")
    assert list(prefixed) == ["model." + k for k in state]
    if torch is not None:
        assert list(state) == list(build(torch.nn).state_dict())


def test_load_state_dict_keeps_objects_dtypes_and_checks_like_torch():
    net = build(sf.nn)
    weight = net.head.weight
    net.double()
    assert net.head.weight is weight and weight.dtype is sf.float64
    new = {k: sf.full(t.shape, 0.5) for k, t in net.state_dict().items()}  # float32 values
    result = net.load_state_dict(new)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert net.head.weight is weight and weight.dtype is sf.float64 and (v(weight) == 0.5).all()
    assert net.first.count.dtype is sf.float64
    partial = {"head.bias": sf.zeros(1), "extra": sf.zeros(1)}
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "scale".*\n.*Unexpected key\(s\) in '
                                           r'state_dict: "extra"'):
        net.load_state_dict(partial)
    result = net.load_state_dict(partial, strict=False)
    assert "scale" in result.missing_keys and result.unexpected_keys == ["extra"]
    assert v(net.head.bias).tolist() == [0.0]
    with pytest.raises(RuntimeError, match=r"size mismatch for head.bias: copying a param with shape \[2\] from "
                                           r"checkpoint, the shape in current model is \[1\]"):
        net.load_state_dict({"head.bias": sf.zeros(2)}, strict=False)
    replacement = sf.ones(1, 3)
    net.load_state_dict({"head.weight": replacement}, strict=False, assign=True)
    assert net.head.weight is not weight and isinstance(net.head.weight, sf.nn.Parameter)
    assert net.head.weight.dtype is sf.float32  # assign=True takes the loaded tensor as it is


@needs_torch
def test_state_dict_round_trips_with_torch():
    sf.manual_seed(0)
    net, tnet = build(sf.nn), build(torch.nn)
    tnet.load_state_dict({k: torch.from_numpy(v(t).copy()) for k, t in net.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(v(net(sf.tensor(x))), tnet(torch.tensor(x)).detach().numpy(), rtol=1e-6)
    with torch.no_grad():
        for p in tnet.parameters():
            p.mul_(-1.5)
    net.load_state_dict(tnet.state_dict())  # torch tensors are copied, never shared
    with torch.no_grad():
        tnet.head.bias.fill_(100.0)
    assert v(net.head.bias)[0] != 100.0
    net.load_state_dict(tnet.state_dict())
    np.testing.assert_allclose(v(net(sf.tensor(x))), tnet(torch.tensor(x)).detach().numpy(), rtol=1e-6)


def test_train_eval_apply_zero_grad_requires_grad():
    net = build(sf.nn)
    assert net.eval() is net and not net.training and not net.first.lin.training
    assert net.train() is net and net.first.training
    with pytest.raises(ValueError, match="boolean"):
        net.train("no")
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "Block", "Linear", "Net"]  # children first, as torch
    for p in net.parameters():
        p.grad = sf.ones_like(p)
    net.zero_grad(set_to_none=False)
    assert all(not v(p.grad).any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.requires_grad_(False) is net and not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())


def test_get_submodule_parameter_buffer():
    net = build(sf.nn)
    assert net.get_submodule("first.lin") is net.first.lin and net.get_submodule("") is net
    assert net.get_parameter("first.lin.weight") is net.first.lin.weight
    assert net.get_buffer("first.count") is net.first.count
    with pytest.raises(AttributeError, match="no parameter `count`"):
        net.get_parameter("first.count")
    with pytest.raises(AttributeError, match="nothing"):
        net.get_submodule("first.nothing")


def test_to_converts_in_place_and_devices_other_than_cpu_raise():
    net = build(sf.nn)
    params, buffers = list(net.parameters()), list(net.buffers())
    net.head.weight.grad = sf.ones(1, 3)
    assert net.to(sf.float64) is net and net.type(sf.float32) is net and net.double() is net
    assert list(net.parameters()) == params and list(net.buffers()) == buffers
    assert all(t.dtype is sf.float64 for t in params + buffers)
    assert net.head.weight.grad.dtype is sf.float64  # the gradient follows, as in torch
    assert net.float() is net and all(t.dtype is sf.float32 for t in params + buffers)
    with pytest.raises(sf.DeviceError, match="cuda"):
        net.cuda()
    with pytest.raises(sf.DeviceError, match="cuda:1"):
        net.to("cuda:1")


def test_deepcopy_and_pickle_keep_parameters():
    import copy
    import pickle

    model = sf.nn.Linear(2, 2)
    model.bias.requires_grad_(False)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert isinstance(clone.weight, sf.nn.Parameter) and clone.weight is not model.weight
        assert clone.weight.requires_grad and not clone.bias.requires_grad
        np.testing.assert_array_equal(v(clone.weight), v(model.weight))
        clone.weight.zero_()
        assert v(model.weight).any()  # independent copies
    assert repr(model.weight).startswith("Parameter containing:")
