"""swiftfunc.optim: SGD, Adam and AdamW against numpy re-implementations of torch's documented algorithms
(always) and against torch.optim (when torch imports), over many steps; parameter groups, state_dict,
zero_grad, assign_grads; the functional form inside jit, vmap and grad."""
import math

import numpy as np
import pytest

import swiftfunc as sf
from conftest import optional_module
from swiftfunc.func import functional_call, grad, jit, vmap
from swiftfunc.optim import functional as FO

torch = optional_module("torch")
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def v(t):
    return t._copy_values()


# -------------------------------------------------------------------------------------------------
# numpy references, written from the algorithm boxes of torch.optim's documentation
# -------------------------------------------------------------------------------------------------


class NumpySGD:
    def __init__(self, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
        self.lr, self.mu, self.tau, self.wd, self.nesterov, self.maximize = (lr, momentum, dampening, weight_decay,
                                                                              nesterov, maximize)
        self.b = None

    def step(self, theta, g):
        g = -g if self.maximize else g
        if self.wd:
            g = g + self.wd * theta
        if self.mu:
            self.b = g if self.b is None else self.mu * self.b + (1 - self.tau) * g
            g = g + self.mu * self.b if self.nesterov else self.b
        return theta - self.lr * g


class NumpyAdam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
                 decoupled=False):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.amsgrad, self.maximize, self.decoupled = amsgrad, maximize, decoupled
        self.t, self.m, self.v, self.vmax = 0, 0.0, 0.0, 0.0

    def step(self, theta, g):
        self.t += 1
        g = -g if self.maximize else g
        if self.wd:
            if self.decoupled:
                theta = theta - self.lr * self.wd * theta
            else:
                g = g + self.wd * theta
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1 ** self.t)
        if self.amsgrad:
            self.vmax = np.maximum(self.vmax, self.v)
            v_hat = self.vmax / (1 - self.b2 ** self.t)
        else:
            v_hat = self.v / (1 - self.b2 ** self.t)
        return theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def numpy_grad(theta, target):
    """The gradient of sum(sin(theta) * theta + (theta - target)^2 / 2): depends on theta (nonconvex)."""
    return np.cos(theta) * theta + np.sin(theta) + (theta - target)


def sf_grad(p, target):
    return sf.cos(p) * p + sf.sin(p) + (p - target)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.02, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, weight_decay=0.05)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
]


def _numpy_optimizer(name, options):
    if name == "SGD":
        return NumpySGD(**options)
    return NumpyAdam(**{**({"weight_decay": 1e-2} if name == "AdamW" else {}), **options}, decoupled=name == "AdamW")


@pytest.mark.parametrize("name, options", CASES)
def test_optimizer_matches_numpy_reference_over_many_steps(name, options):
    rng = np.random.default_rng(7)
    theta0, target = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    p = sf.nn.Parameter(sf.tensor(theta0, dtype=sf.float64))
    opt = getattr(sf.optim, name)([p], **options)
    ref, theta = _numpy_optimizer(name, options), theta0
    t = sf.tensor(target, dtype=sf.float64)
    for _ in range(60):
        p.grad = sf_grad(p, t)
        opt.step()
        theta = ref.step(theta, numpy_grad(theta, target))
    np.testing.assert_allclose(v(p), theta, rtol=1e-11, atol=1e-12)
    assert np.abs(theta - theta0).max() > 0.1  # the steps moved it: the comparison is not vacuous


@needs_torch
@pytest.mark.parametrize("name, options", CASES)
def test_optimizer_matches_torch_optim(name, options):
    rng = np.random.default_rng(8)
    theta0, target = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    p = sf.nn.Parameter(sf.tensor(theta0))
    tp = torch.nn.Parameter(torch.tensor(theta0))
    opt, topt = getattr(sf.optim, name)([p], **options), getattr(torch.optim, name)([tp], **options)
    t, tt = sf.tensor(target), torch.tensor(target)
    for _ in range(100):
        p.grad = sf_grad(p, t)
        tp.grad = (torch.cos(tp) * tp + torch.sin(tp) + (tp - tt)).detach()
        opt.step()
        topt.step()
    np.testing.assert_allclose(v(p), tp.detach().numpy(), rtol=2e-5, atol=2e-6)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert list(ours["state"]) == list(theirs["state"])
    for key, value in theirs["state"].get(0, {}).items():
        assert key in ours["state"][0]
        # near the optimum the buffers are differences of small gradients: compared on the gradients' scale
        np.testing.assert_allclose(v(ours["state"][0][key]), value.numpy(), rtol=1e-4, atol=1e-4)
    assert ours["param_groups"] == [{k: g[k] for k in g} for g in theirs["param_groups"]]


def test_defaults_and_argument_errors_are_torchs():
    p = sf.nn.Parameter(sf.zeros(2))
    assert sf.optim.SGD([p]).defaults["lr"] == 1e-3
    adam, adamw = sf.optim.Adam([p]), sf.optim.AdamW([p])
    assert (adam.defaults["lr"], adam.defaults["betas"], adam.defaults["eps"], adam.defaults["weight_decay"]) == (
        1e-3, (0.9, 0.999), 1e-8, 0)
    assert adamw.defaults["weight_decay"] == 1e-2 and adamw.defaults["decoupled_weight_decay"]
    for make, message in [(lambda: sf.optim.SGD([p], lr=-1), "Invalid learning rate"),
                          (lambda: sf.optim.SGD([p], momentum=-0.5), "Invalid momentum"),
                          (lambda: sf.optim.SGD([p], momentum=0.9, nesterov=True, dampening=0.1), "Nesterov"),
                          (lambda: sf.optim.SGD([p], nesterov=True), "Nesterov"),
                          (lambda: sf.optim.Adam([p], betas=(1.0, 0.9)), "beta parameter at index 0"),
                          (lambda: sf.optim.Adam([p], betas=(0.9, -0.1)), "beta parameter at index 1"),
                          (lambda: sf.optim.Adam([p], eps=-1), "epsilon"),
                          (lambda: sf.optim.AdamW([p], weight_decay=-1), "weight_decay"),
                          (lambda: sf.optim.SGD([]), "empty parameter list"),
                          (lambda: sf.optim.SGD([{"params": [p]}, {"params": [p]}]), "more than one")]:
        with pytest.raises(ValueError, match=message):
            make()
    with pytest.raises(TypeError, match="iterable of Tensors"):
        sf.optim.SGD(p)
    with pytest.raises(TypeError, match="ordered collections"):
        sf.optim.SGD([{"params": {p}}])
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        sf.optim.SGD([p, 3.0])


def test_parameter_groups_have_their_own_hyperparameters():
    a, b = sf.nn.Parameter(sf.ones(2)), sf.nn.Parameter(sf.ones(3))
    opt = sf.optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["momentum"] == 0.0
    a.grad, b.grad = sf.ones(2), sf.ones(3)
    opt.step()
    np.testing.assert_allclose(v(a), [0.9, 0.9])
    np.testing.assert_allclose(v(b), [0.5, 0.5, 0.5])
    c = sf.nn.Parameter(sf.ones(1))
    opt.add_param_group({"params": [c], "lr": 2.0})
    c.grad = sf.ones(1)
    opt.step()
    np.testing.assert_allclose(v(c), [-1.0])
    with pytest.raises(ValueError, match="more than one"):
        opt.add_param_group({"params": [a]})
    named = sf.optim.Adam(sf.nn.Linear(2, 1).named_parameters())
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]


def test_parameters_without_grad_are_skipped_and_zero_grad():
    a, b = sf.nn.Parameter(sf.ones(2)), sf.nn.Parameter(sf.ones(2))
    opt = sf.optim.Adam([a, b], lr=0.1)
    a.grad = sf.ones(2)
    opt.step()
    np.testing.assert_allclose(v(a), [0.9, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(v(b), [1.0, 1.0])
    assert b not in opt.state and len(opt.state_dict()["state"]) == 1
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(v(a.grad), [0.0, 0.0])
    assert b.grad is None
    opt.zero_grad()
    assert a.grad is None


def test_state_dict_round_trip_continues_identically():
    def run(opt, p, steps):
        for _ in range(steps):
            p.grad = sf_grad(p, sf.zeros_like(p))
            opt.step()

    p = sf.nn.Parameter(sf.tensor([0.5, -1.5, 2.0], dtype=sf.float64))
    opt = sf.optim.Adam([p], lr=0.1, amsgrad=True)
    run(opt, p, 5)
    saved, snapshot = opt.state_dict(), p.detach()
    run(opt, p, 5)
    q = sf.nn.Parameter(snapshot)
    other = sf.optim.Adam([q], lr=0.7)
    other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["params"] == [q]
    run(other, q, 5)
    np.testing.assert_array_equal(v(q), v(p))
    with pytest.raises(ValueError, match="number of parameter groups"):
        other.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size"):
        other.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1], "lr": 0.1}]})


@needs_torch
def test_load_state_dict_from_torch():
    tp = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    tp.grad = torch.tensor([1.0, -1.0])
    topt.step()
    p = sf.nn.Parameter(sf.tensor(tp.detach().numpy()))
    opt = sf.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict(topt.state_dict())
    tp.grad, p.grad = torch.tensor([0.5, 0.5]), sf.tensor([0.5, 0.5])
    topt.step()
    opt.step()
    np.testing.assert_allclose(v(p), tp.detach().numpy(), rtol=1e-6)


def test_closure_is_called_and_its_loss_returned():
    p = sf.nn.Parameter(sf.tensor([3.0]))
    opt = sf.optim.SGD([p], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss, g = (p * p).sum(), grad(lambda x: (x * x).sum())(p)
        p.grad = g
        calls.append(sf.is_grad_enabled())
        return loss

    assert opt.step(closure).item() == 9.0 and calls == [True]
    np.testing.assert_allclose(v(p), [1.5])


# -------------------------------------------------------------------------------------------------
# Training a module: grad over functional_call, assign_grads, step
# -------------------------------------------------------------------------------------------------


def _mlp():
    return sf.nn.Sequential(sf.nn.Linear(3, 8), sf.nn.Tanh(), sf.nn.Linear(8, 1)).double()


def test_assign_grads_and_module_training_match_numpy_adam():
    sf.manual_seed(4)
    model = _mlp()
    rng = np.random.default_rng(0)
    x, y = sf.tensor(rng.normal(size=(16, 3))), sf.tensor(rng.normal(size=(16, 1)))
    names = [n for n, _ in model.named_parameters()]
    refs = {n: NumpyAdam(lr=0.01) for n in names}
    theta = {n: v(p) for n, p in model.named_parameters()}
    opt = sf.optim.Adam(model.parameters(), lr=0.01)

    def loss_fn(params):
        return sf.nn.functional.mse_loss(functional_call(model, params, (x,)), y)

    losses = []
    for _ in range(30):
        params = dict(model.named_parameters())
        grads = grad(loss_fn)(params)
        sf.optim.assign_grads(model, grads)
        for n in names:  # the reference gets the same gradients, at its own (numpy) parameters
            np.testing.assert_allclose(v(params[n]), theta[n], rtol=1e-12, atol=1e-13)
            theta[n] = refs[n].step(theta[n], v(grads[n]))
        opt.step()
        losses.append(loss_fn(dict(model.named_parameters())).item())
    for n, p in model.named_parameters():
        np.testing.assert_allclose(v(p), theta[n], rtol=1e-12, atol=1e-13)
    assert losses[-1] < 0.8 * losses[0]
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_assign_grads_accumulates_and_checks_names_and_shapes():
    model = sf.nn.Linear(2, 1)
    sf.optim.assign_grads(model, {"weight": sf.ones(1, 2)})
    assert model.bias.grad is None
    sf.optim.assign_grads(model, {"weight": sf.ones(1, 2)}, accumulate=True)
    np.testing.assert_array_equal(v(model.weight.grad), [[2.0, 2.0]])
    with pytest.raises(KeyError, match="nothing"):
        sf.optim.assign_grads(model, {"nothing": sf.ones(1)})
    with pytest.raises(RuntimeError, match="different size"):
        sf.optim.assign_grads(model, {"bias": sf.ones(3)})
    with pytest.raises(RuntimeError, match="different type"):
        sf.optim.assign_grads(model, {"bias": sf.ones(1, dtype=sf.float64)})


@needs_torch
def test_module_training_matches_torch_backward_and_adamw():
    sf.manual_seed(5)
    model = sf.nn.Sequential(sf.nn.Linear(4, 16), sf.nn.ReLU(), sf.nn.Linear(16, 2))
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    tmodel.load_state_dict({k: torch.tensor(v(p)) for k, p in model.state_dict().items()})
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 4)).astype(np.float32), rng.normal(size=(32, 2)).astype(np.float32)
    opt, topt = sf.optim.AdamW(model.parameters(), lr=0.01), torch.optim.AdamW(tmodel.parameters(), lr=0.01)
    def loss_fn(params):
        return sf.nn.functional.mse_loss(functional_call(model, params, (sf.tensor(x),)), sf.tensor(y))

    for _ in range(40):
        opt.zero_grad()
        sf.optim.assign_grads(model, grad(loss_fn)(dict(model.named_parameters())))
        opt.step()
        topt.zero_grad()
        torch.nn.functional.mse_loss(tmodel(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
    for (name, p), (tname, tp) in zip(model.named_parameters(), tmodel.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(v(p), tp.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_optimizer_follows_module_to_and_load_state_dict():
    """Module.double() and load_state_dict keep the Parameter objects, so an optimizer built before them
    still updates the module (as in torch)."""
    model = sf.nn.Linear(2, 2)
    opt = sf.optim.SGD(model.parameters(), lr=1.0)
    model.double()
    model.load_state_dict({"weight": sf.zeros(2, 2), "bias": sf.zeros(2)})
    assert model.weight.dtype is sf.float64  # load_state_dict keeps the parameter's dtype
    model.weight.grad, model.bias.grad = sf.ones(2, 2, dtype=sf.float64), sf.ones(2, dtype=sf.float64)
    opt.step()
    np.testing.assert_array_equal(v(model(sf.zeros(1, 2, dtype=sf.float64))), [[-1.0, -1.0]])


# -------------------------------------------------------------------------------------------------
# The functional form: pure, inside jit, vmap and grad
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, options", CASES)
def test_functional_form_matches_the_classes_inside_jit(name, options):
    rng = np.random.default_rng(3)
    params = {"a": sf.tensor(rng.normal(size=(3,))), "b": [sf.tensor(rng.normal(size=(2, 2)))]}
    target = sf.zeros((), dtype=sf.float64)
    make = {"SGD": FO.sgd, "Adam": FO.adam, "AdamW": FO.adamw}[name]
    opt = make(**options)
    state = opt.init(params)

    @jit
    def train_step(params, state):
        grads = grad(lambda p: (sf.sin(p["a"]) * p["a"] + (p["a"] - target) ** 2 / 2).sum()
                     + (sf.sin(p["b"][0]) * p["b"][0] + (p["b"][0] - target) ** 2 / 2).sum())(params)
        return opt.update(params, grads, state)

    ps = {"a": sf.nn.Parameter(params["a"]), "b": sf.nn.Parameter(params["b"][0])}
    classic = getattr(sf.optim, name)([ps["a"], ps["b"]], **options)
    for _ in range(25):
        params, state = train_step(params, state)
        for p in ps.values():
            p.grad = sf_grad(p, target)
        classic.step()
    assert train_step.trace_count() == 1  # one trace, then replays: the update is pure
    np.testing.assert_allclose(v(params["a"]), v(ps["a"]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(v(params["b"][0]), v(ps["b"]), rtol=1e-10, atol=1e-12)
    assert state["step"].item() == 25.0
    for key, value in classic.state[ps["a"]].items():
        if key != "step":
            np.testing.assert_allclose(v(state[key]["a"]), v(value), rtol=1e-10, atol=1e-12)


def test_functional_update_is_pure_and_checks_structure():
    opt = FO.adam(lr=0.1)
    params = [sf.ones(2)]
    state = opt.init(params)
    new_params, new_state = opt.update(params, [sf.ones(2)], state)
    np.testing.assert_array_equal(v(params[0]), [1.0, 1.0])  # inputs unchanged
    assert state["step"].item() == 0.0 and new_state["step"].item() == 1.0
    np.testing.assert_allclose(v(new_params[0]), [0.9, 0.9], rtol=1e-6)
    with pytest.raises(ValueError, match="structure"):
        opt.update(params, (sf.ones(2),), state)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        FO.sgd(lr=-0.1)


def test_functional_update_under_vmap_is_an_ensemble_of_optimizers():
    opt = FO.sgd(lr=0.1, momentum=0.9, dampening=0.5)
    rng = np.random.default_rng(2)
    p0, g1, g2 = (rng.normal(size=(4, 3)) for _ in range(3))
    state = vmap(opt.init)(sf.tensor(p0))
    p, state = vmap(opt.update)(sf.tensor(p0), sf.tensor(g1), state)
    p, state = vmap(opt.update)(p, sf.tensor(g2), state)
    ref = [NumpySGD(lr=0.1, momentum=0.9, dampening=0.5) for _ in range(4)]
    expected = np.stack([r.step(r.step(p0[i], g1[i]), g2[i]) for i, r in enumerate(ref)])
    np.testing.assert_allclose(v(p), expected, rtol=1e-12)


def test_grad_through_a_functional_update_meta_learning():
    """d/d(theta) of a loss after one SGD update (as MAML differentiates through the inner step), against
    the closed form: theta' = theta - lr * f'(theta) with f = sum(theta^3) / 3, so
    d sum(theta'^2)/d theta = 2 theta' (1 - 2 lr theta)."""
    lr = 0.1
    opt = FO.sgd(lr=lr)
    theta = sf.tensor([0.3, -0.7, 1.1], dtype=sf.float64)

    def outer(theta):
        inner_grads = grad(lambda t: (t ** 3).sum() / 3)(theta)
        new, _ = opt.update(theta, inner_grads, opt.init(theta))
        return (new ** 2).sum()

    t = v(theta)
    updated = t - lr * t ** 2
    np.testing.assert_allclose(v(grad(outer)(theta)), 2 * updated * (1 - 2 * lr * t), rtol=1e-12)


def test_adam_rule_with_a_traced_step_counter_matches_the_python_count():
    p, g = sf.tensor([1.0, -2.0], dtype=sf.float64), sf.tensor([0.3, 0.4], dtype=sf.float64)
    m, s = sf.zeros(2, dtype=sf.float64), sf.zeros(2, dtype=sf.float64)
    options = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    a = FO.adam_rule(p, g, m, s, None, 3, **options)
    b = FO.adam_rule(p, g, m, s, None, sf.tensor(3.0), **options)
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_allclose(v(x), v(y), rtol=1e-15)
    p32, g32 = p.float(), g.float()  # float32: the bias corrections are still computed in float64
    c = FO.adam_rule(p32, g32, m.float(), s.float(), None, sf.tensor(3.0), **options)
    d = FO.adam_rule(p32, g32, m.float(), s.float(), None, 3, **options)
    np.testing.assert_array_equal(v(c[0]), v(d[0]))
    expected_step = 0.1 / (1 - 0.9 ** 3) * math.sqrt(1 - 0.999 ** 3)
    m1, s1 = 0.1 * v(g), 0.001 * v(g) ** 2
    np.testing.assert_allclose(v(a[0]), v(p) - expected_step * m1 / (np.sqrt(s1) + 1e-8 * math.sqrt(1 - 0.999 ** 3)),
                               rtol=1e-12)


# -------------------------------------------------------------------------------------------------
# nn.utils: gradient clipping and parameter vectors
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torchs_formula(norm_type, max_norm):
    rng = np.random.default_rng(5)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    params = [sf.nn.Parameter(sf.zeros(g.shape, dtype=sf.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = sf.tensor(g)
    flat = np.concatenate([g.ravel() for g in grads])
    if norm_type == math.inf:
        expected_norm = np.abs(flat).max()
    else:
        expected_norm = (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    total = sf.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert total.item() == pytest.approx(expected_norm, rel=1e-12)
    scale = min(1.0, max_norm / (expected_norm + 1e-6))
    for p, g in zip(params, grads):
        np.testing.assert_allclose(v(p.grad), g * scale, rtol=1e-12)
    if torch is not None:
        tparams = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
        for p, g in zip(tparams, grads):
            p.grad = torch.tensor(g)
        ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
        assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(v(p.grad), tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_and_parameter_vectors():
    model = sf.nn.Linear(3, 2)
    model.weight.grad = sf.tensor([[-2.0, 0.5, 3.0], [0.1, -0.2, 1.5]])
    sf.nn.utils.clip_grad_value_(model.parameters(), 1.0)
    np.testing.assert_allclose(v(model.weight.grad), [[-1.0, 0.5, 1.0], [0.1, -0.2, 1.0]], rtol=1e-7)
    assert model.bias.grad is None and sf.nn.utils.clip_grad_norm_(model.bias, 1.0).item() == 0.0
    vec = sf.nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(v(vec), np.concatenate([v(model.weight).ravel(), v(model.bias)]))
    weight = model.weight
    sf.nn.utils.vector_to_parameters(sf.arange(8.0), model.parameters())
    assert model.weight is weight
    np.testing.assert_array_equal(v(model.weight), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(v(model.bias), [6, 7])
    with pytest.raises(RuntimeError, match="non-finite"):
        model.weight.grad = sf.tensor([[math.inf, 0, 0], [0, 0, 0]])
        sf.nn.utils.clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)
