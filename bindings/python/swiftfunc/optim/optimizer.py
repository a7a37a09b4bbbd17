"""torch.optim.Optimizer: parameter groups, per-parameter state, zero_grad, state_dict / load_state_dict;
and `assign_grads`, which gives a module's parameters the gradients computed by swiftfunc.func.

swiftfunc has no tape, so nothing fills `.grad` by itself: compute the gradients with
swiftfunc.func.grad (over functional_call) and assign them, then step:

    params = dict(model.named_parameters())
    grads = swiftfunc.func.grad(lambda p: loss_fn(functional_call(model, p, (x,)), y))(params)
    swiftfunc.optim.assign_grads(model, grads)      # what loss.backward() did
    optimizer.step()                                 # updates model's Parameters in place
"""
import collections
import copy
import warnings

from .. import _ops
from .._tensor import Tensor
from ..autograd.grad_mode import enable_grad

__all__ = ["Optimizer", "assign_grads", "required"]


class _RequiredParameter:
    """The default of a hyperparameter that each group must give (torch.optim.optimizer.required)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def assign_grads(module, grads, *, accumulate=False):
    """Sets `.grad` of a module's parameters from a dict of gradients by dotted name (the dict that
    swiftfunc.func.grad returns for dict(module.named_parameters())), as loss.backward() would fill
    them. Parameters missing from `grads` keep their .grad; a name that is not a parameter of the module
    raises KeyError. accumulate=True adds to an existing .grad instead, as repeated backward() calls do.
    Returns the module."""
    params = dict(module.named_parameters(remove_duplicate=False))
    unknown = [name for name in grads if name not in params]
    if unknown:
        raise KeyError(f"assign_grads: {type(module).__name__} has no parameter(s) {unknown}")
    for name, g in grads.items():
        p = params[name]
        if g is not None and not isinstance(g, Tensor):
            g = _ops.tensor(g)
        if accumulate and g is not None and p.grad is not None:
            g = _ops.add(p.grad, g)
        p.grad = g
    return module


class Optimizer:
    """Base class of optimizers (torch.optim.Optimizer): `param_groups` is a list of dicts, each with its
    'params' and its hyperparameters (defaults filled in); `state` maps each parameter to its state dict.
    Subclasses implement step()."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = collections.defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Adds a group of parameters (a dict with 'params' and optional hyperparameters; missing ones take
        the optimizer's defaults), e.g. to train layers unfrozen later."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        group = dict(param_group)
        if params and all(isinstance(p, tuple) and len(p) == 2 for p in params):  # model.named_parameters()
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error", stacklevel=3)
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Resets the .grad of every parameter: to None (default) or to zeros (set_to_none=False)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else _ops.zeros_like(p.grad)

    def step(self, closure=None):
        raise NotImplementedError

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # -- state_dict --------------------------------------------------------------------------------------

    def state_dict(self):
        """{'state': {index: per-parameter state}, 'param_groups': [hyperparameters and 'params': [indices]]},
        parameters numbered in group order (torch's format). Tensors are immutable, so it needs no copies."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restores hyperparameters and per-parameter state saved by state_dict() (of this or an equal
        optimizer; torch's tensors are copied). Floating point state takes each parameter's dtype."""
        groups, saved_groups = self.param_groups, state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        by_index = {i: p for g, s in zip(groups, saved_groups) for i, p in zip(s["params"], g["params"])}
        self.state = collections.defaultdict(dict)
        for i, values in state_dict["state"].items():
            if i in by_index:
                p = by_index[i]
                self.state[p] = {k: _state_value(p, k, v) for k, v in values.items()}
        self.param_groups = [dict(copy.deepcopy({k: v for k, v in s.items() if k != "params"}), params=g["params"])
                             for g, s in zip(groups, saved_groups)]


def _state_value(param, key, value):
    """A loaded state entry: tensors (also torch's, copied) as swiftfunc tensors, floating ones in the
    parameter's dtype except the step count (torch's rule)."""
    if value is None or isinstance(value, (int, float, bool)):
        return value
    if not isinstance(value, Tensor):
        value = _ops.tensor(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    if key != "step" and value.dtype.is_floating_point and param.dtype.is_floating_point:
        value = value.to(param.dtype)
    return value
