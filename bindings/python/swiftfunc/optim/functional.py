"""Optimizers as pure functions (torchopt's / optax's functional form), usable inside transforms and jit.

    opt = swiftfunc.optim.functional.adam(lr=1e-3)
    state = opt.init(params)                        # params: any pytree of tensors (a dict, a list, ...)
    params, state = opt.update(params, grads, state)

`update` computes new parameters and a new state from the old ones and the gradients (same pytree
structure as params) and changes nothing: it can run inside swiftfunc.func.jit (a whole training step
staged once), under vmap (an ensemble of optimizers) or under grad (meta-learning through the update).
The state is a dict of tensors (the step count is a 0-d float32 tensor, as in torch), so it crosses
transforms like params do.

The per-tensor rules `sgd_rule` and `adam_rule` are torch.optim's single-tensor algorithms, written once:
the classes in swiftfunc.optim (SGD, Adam, AdamW) call them too.
"""
import collections
import math

from .. import _ops
from .._ops.inplace import lerp
from .._pytree import tree_flatten, tree_unflatten
from .._tensor import Tensor, float32, float64

__all__ = ["FunctionalOptimizer", "sgd", "adam", "adamw", "sgd_rule", "adam_rule"]


def sgd_rule(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
             maximize=False, first=None):
    """One torch.optim.SGD step of one tensor: (new param, new momentum buffer).

    d = -grad if maximize else grad; d += weight_decay * param; with momentum, the buffer becomes d on
    the first step and momentum * buffer + (1 - dampening) * d after it, and d becomes d + momentum *
    buffer (nesterov) or the buffer; param -= lr * d. The first step is momentum_buffer None, or `first`
    (a bool tensor, for a traced step count)."""
    d = _ops.neg(grad) if maximize else grad
    if weight_decay != 0:
        d = _ops.add(d, param, alpha=weight_decay)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = d
        else:
            later = _ops.add(_ops.mul(momentum_buffer, momentum), d, alpha=1 - dampening)
            momentum_buffer = later if first is None else _ops.where(first, d, later)
        d = _ops.add(d, momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    return _ops.add(param, d, alpha=-lr), momentum_buffer


def adam_rule(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, *, lr, beta1, beta2, eps, weight_decay=0.0,
              amsgrad=False, maximize=False, decoupled_weight_decay=False):
    """One torch.optim.Adam / AdamW step of one tensor: (param, exp_avg, exp_avg_sq, max_exp_avg_sq).

    `step` is the step number after this update (1 on the first): a Python number or a 0-d tensor
    (traced inside jit); either way the bias corrections are computed in float64, as torch's default
    path does. The formulas are torch's: g = -grad if maximize else grad; weight
    decay adds weight_decay * param to g (Adam) or scales param by 1 - lr * weight_decay (AdamW);
    m = lerp(m, g, 1 - beta1); v = beta2 * v + (1 - beta2) * g * g; with amsgrad v_max = max(v_max, v)
    is used for v; param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)."""
    g = _ops.neg(grad) if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param = _ops.mul(param, 1 - lr * weight_decay)
        else:
            g = _ops.add(g, param, alpha=weight_decay)
    exp_avg = lerp(exp_avg, g, 1 - beta1)
    exp_avg_sq = _ops.add(_ops.mul(exp_avg_sq, beta2), _ops.mul(_ops.mul(g, 1 - beta2), g))
    if isinstance(step, Tensor):
        # in float64, then rounded once to the parameter's dtype: 1 - 0.999^t in float32 would lose ~1e-5
        # to cancellation (torch's capturable path does lose it)
        t = step.to(float64)
        step_size = (lr / (1 - beta1 ** t)).to(param.dtype)
        bias_correction2_sqrt = _ops.sqrt(1 - beta2 ** t).to(param.dtype)
    else:
        step_size = lr / (1 - beta1 ** step)
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    if amsgrad:
        max_exp_avg_sq = _ops.maximum(max_exp_avg_sq, exp_avg_sq)
        second = max_exp_avg_sq
    else:
        second = exp_avg_sq
    denom = _ops.add(_ops.div(_ops.sqrt(second), bias_correction2_sqrt), eps)
    param = _ops.add(param, _ops.mul(_ops.div(exp_avg, denom), -step_size))  # torch's addcdiv_(value=-step_size)
    return param, exp_avg, exp_avg_sq, max_exp_avg_sq


FunctionalOptimizer = collections.namedtuple("FunctionalOptimizer", ["init", "update"])
FunctionalOptimizer.__doc__ = """A pure optimizer: init(params) -> state; update(params, grads, state) ->
(new params, new state). Params and grads are pytrees of tensors with the same structure."""


def _leaves(tree, what):
    leaves, spec = tree_flatten(tree)
    for leaf in leaves:
        if not isinstance(leaf, Tensor):
            raise TypeError(f"optim.functional: {what} must be a pytree of Tensors, found {type(leaf).__name__}")
    return leaves, spec


def _matching(params, grads):
    p, spec = _leaves(params, "params")
    g, grad_spec = _leaves(grads, "grads")
    if grad_spec != spec:
        raise ValueError(f"optim.functional: grads have another structure than params ({grad_spec} vs {spec})")
    return p, g, spec


def _zeros(tree):
    leaves, spec = _leaves(tree, "params")
    return tree_unflatten([_ops.zeros_like(x) for x in leaves], spec)


def _step_counter():
    return _ops.zeros((), dtype=float32)


def _check_lr(lr, eps=0.0, weight_decay=0.0, momentum=0.0, betas=(0.0, 0.0)):
    """torch's argument checks (ValueError with torch's messages); shared with the optimizer classes."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= momentum:
        raise ValueError(f"Invalid momentum value: {momentum}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def check_sgd(lr, momentum, dampening, weight_decay, nesterov):
    _check_lr(lr, weight_decay=weight_decay, momentum=momentum)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")


def sgd(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *, maximize=False):
    """torch.optim.SGD as a FunctionalOptimizer (same arguments and defaults). The state holds the step
    count and, with momentum, the momentum buffers (zeros before the first step, which sets them to the
    first update as torch does)."""
    check_sgd(lr, momentum, dampening, weight_decay, nesterov)
    options = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                   maximize=maximize)

    def init(params):
        state = {"step": _step_counter()}
        if momentum != 0:
            state["momentum_buffer"] = _zeros(params)
        return state

    def update(params, grads, state):
        p, g, spec = _matching(params, grads)
        step = state["step"]
        # With dampening 0 the zero buffer already gives the first update (momentum * 0 + d = d); otherwise
        # the first step is told apart on the (possibly traced) counter.
        first = _ops.eq(step, 0.0) if momentum != 0 and dampening != 0 else None
        buffers = tree_flatten(state["momentum_buffer"])[0] if momentum != 0 else [None] * len(p)
        new_p, new_b = [], []
        for param, grad, buf in zip(p, g, buffers):
            param, buf = sgd_rule(param, grad, buf, first=first, **options)
            new_p.append(param)
            new_b.append(buf)
        new_state = {"step": _ops.add(step, 1.0)}
        if momentum != 0:
            new_state["momentum_buffer"] = tree_unflatten(new_b, spec)
        return tree_unflatten(new_p, spec), new_state

    return FunctionalOptimizer(init, update)


def check_adam(lr, betas, eps, weight_decay):
    _check_lr(lr, eps=eps, weight_decay=weight_decay, betas=betas)


def _adam(lr, betas, eps, weight_decay, amsgrad, maximize, decoupled):
    check_adam(lr, betas, eps, weight_decay)
    options = dict(lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                   maximize=maximize, decoupled_weight_decay=decoupled)

    def init(params):
        state = {"step": _step_counter(), "exp_avg": _zeros(params), "exp_avg_sq": _zeros(params)}
        if amsgrad:
            state["max_exp_avg_sq"] = _zeros(params)
        return state

    def update(params, grads, state):
        p, g, spec = _matching(params, grads)
        step = _ops.add(state["step"], 1.0)
        m, v = tree_flatten(state["exp_avg"])[0], tree_flatten(state["exp_avg_sq"])[0]
        vmax = tree_flatten(state["max_exp_avg_sq"])[0] if amsgrad else [None] * len(p)
        results = [adam_rule(*args, step, **options) for args in zip(p, g, m, v, vmax)]
        new_p, new_m, new_v, new_vmax = (tree_unflatten([r[i] for r in results], spec) for i in range(4))
        new_state = {"step": step, "exp_avg": new_m, "exp_avg_sq": new_v}
        if amsgrad:
            new_state["max_exp_avg_sq"] = new_vmax
        return new_p, new_state

    return FunctionalOptimizer(init, update)


def adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *, maximize=False):
    """torch.optim.Adam as a FunctionalOptimizer (same arguments and defaults)."""
    return _adam(lr, betas, eps, weight_decay, amsgrad, maximize, False)


def adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, maximize=False):
    """torch.optim.AdamW (decoupled weight decay, default 1e-2) as a FunctionalOptimizer."""
    return _adam(lr, betas, eps, weight_decay, amsgrad, maximize, True)
