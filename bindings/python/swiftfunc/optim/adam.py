"""torch.optim.Adam and AdamW over swiftfunc.optim.functional.adam_rule."""
from .. import _ops
from .._tensor import float32
from .functional import adam_rule, check_adam
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (torch.optim.Adam: same arguments, defaults and update, amsgrad and maximize included). Reads
    each parameter's .grad (see swiftfunc.optim.assign_grads) and updates the parameters in place; the state
    of a parameter is 'step' (a 0-d float32 tensor), 'exp_avg', 'exp_avg_sq' (and 'max_exp_avg_sq')."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        check_adam(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      foreach=foreach, maximize=maximize, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def step(self, closure=None):
        """One update of every parameter that has a .grad; returns closure() when given."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = _ops.zeros((), dtype=float32)
                    state["exp_avg"] = _ops.zeros_like(p)
                    state["exp_avg_sq"] = _ops.zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = _ops.zeros_like(p)
                # the count is a tensor in the state (torch's format); the bias corrections use it as a
                # Python number, in float64, as torch's default (non-capturable) path does
                step = state["step"].item() + 1
                state["step"] = _ops.full((), step, dtype=float32)
                new, state["exp_avg"], state["exp_avg_sq"], vmax = adam_rule(
                    _ops.detach(p), p.grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"), step,
                    lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                    amsgrad=group["amsgrad"], maximize=group["maximize"],
                    decoupled_weight_decay=group["decoupled_weight_decay"])
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = vmax
                p.copy_(new)
        return loss


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (param *= 1 - lr * weight_decay before the update), default
    weight_decay 1e-2 (torch.optim.AdamW)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
