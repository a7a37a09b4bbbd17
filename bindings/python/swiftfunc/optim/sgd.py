"""torch.optim.SGD over swiftfunc.optim.functional.sgd_rule."""
from .. import _ops
from .functional import check_sgd, sgd_rule
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum, weight decay and
    maximize (torch.optim.SGD: same arguments, defaults and update). Reads each parameter's .grad (see
    swiftfunc.optim.assign_grads) and updates the parameters in place; the state of a parameter is its
    'momentum_buffer' (with momentum)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        check_sgd(lr, momentum, dampening, weight_decay, nesterov)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def step(self, closure=None):
        """One update of every parameter that has a .grad; returns closure() when given."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                with_momentum = group["momentum"] != 0
                buffer = self.state[p].get("momentum_buffer") if with_momentum else None  # no state without
                new, buffer = sgd_rule(_ops.detach(p), p.grad, buffer, lr=group["lr"],
                                       momentum=group["momentum"], dampening=group["dampening"],
                                       weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                                       maximize=group["maximize"])
                if with_momentum:
                    self.state[p]["momentum_buffer"] = buffer
                p.copy_(new)
        return loss
