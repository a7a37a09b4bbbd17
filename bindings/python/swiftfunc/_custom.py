"""Custom differentiable functions from Python callables, over sf_custom_function_new.

Three front ends share this module: `swiftfunc.func.custom_vjp` and `custom_jvp` (JAX's style) and
`swiftfunc.autograd.Function` (torch's style). Each call of one of them makes an sf_custom_function
whose callbacks (forward, vjp, jvp, batch) are ctypes thunks shared by every custom function:
`user_data` is a key into `_function._registry`, mapping it to a `_Rules` object that holds the
Python callables and the per-call structure (non-Tensor arguments, the output pytree, where each
residual comes from). Exceptions raised in the callbacks travel as in `_function` (the original
exception object reaches the caller).

Counts: the C function is made with SF_CUSTOM_COUNTS_AT_RETURN, so the forward (and the batching
rule) report their outputs and residuals in lists as they return: the forward runs once per call.

Defaults (those of the libraries users come from): rules written with swiftfunc ops are
differentiable again (torch differentiates a backward made of torch ops; JAX differentiates custom
rules), so the C function gets SF_CUSTOM_RULES_USE_OPS. A rule that reads data (numpy) is marked
with `once_differentiable` (torch's name): then the rules are host kernels, differentiable once.
Inside any rule, and inside fwd, a call of the same custom function evaluates its primal function
(JAX's idiom `def f_fwd(x): return f(x), x`).

Residuals (custom_vjp's `res`): leaves that are (the very objects of) an input or an output are
passed to the VJP as that input or output, so that a VJP written with swiftfunc ops can be
differentiated again through them; other Tensor and numpy leaves are C residuals (saved data, not
differentiable again); other Python objects are kept as they are from the latest forward run.
"""
import ctypes

import numpy as np

from . import _capi
from ._capi import lib
import threading

from ._errors import TransformError
from ._function import Function, _FREE, _registry, append, evaluate_and_make, register, run_callback, stash
from ._ops import asarray, zeros_like
from ._pytree import broadcast_prefix, tree_flatten
from ._tensor import Tensor, borrow

__all__ = ["custom_vjp", "custom_jvp", "once_differentiable"]


def once_differentiable(fn):
    """Marks a custom function's rule as reading data (e.g. through `.numpy()`): the rules are then
    host kernels, called with concrete tensors and differentiable once (torch's
    torch.autograd.function.once_differentiable; differentiating them again raises TransformError)."""
    target = getattr(fn, "__func__", fn)  # also when applied on top of @staticmethod
    target._swiftfunc_once_differentiable = True
    return fn


def _once_differentiable(*rules):
    """Whether any of the rules is marked once_differentiable."""
    return any(getattr(getattr(r, "__func__", r), "_swiftfunc_once_differentiable", False) for r in rules if r)


_local = threading.local()


def _active():
    """The custom functions whose rule or forward runs on this thread (calls of them inside it
    evaluate the primal function)."""
    try:
        return _local.active
    except AttributeError:
        _local.active = []
        return _local.active


class _Running:
    """`with _Running(owner, what, rules):` marks owner's rule as running; an unmarked (ops) rule that
    reads a traced value gets a message saying what to do."""

    __slots__ = ("owner", "what", "rules")

    def __init__(self, owner, what, rules):
        self.owner, self.what, self.rules = owner, what, rules

    def __enter__(self):
        _active().append(self.owner)

    def __exit__(self, kind, exc, tb):
        _active().pop()
        if kind is TransformError and self.rules.use_ops and "cannot be exported" in str(exc):
            raise TransformError(f"custom function '{self.rules.name}': its {self.what} read the data of a traced "
                                 f"value ({exc}). Rules are differentiated again by default, so they see traced "
                                 f"values under transforms; a rule that reads data (e.g. with .numpy()) must be "
                                 f"marked with @swiftfunc.autograd.function.once_differentiable (it is then "
                                 f"differentiable once).") from exc
        return False


def running_inside(owner):
    """Whether a rule (or the forward) of `owner` is running on this thread."""
    return owner in _active()


def _as_tensor(value, what):
    """A rule's result as a Tensor (numpy arrays and numbers are converted, zero-copy when possible)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic, int, float, bool)):
        return asarray(value)
    raise TypeError(f"{what} must be a Tensor or a numpy array, got {type(value).__name__}")


class _Rules:
    """One call's custom function: subclasses implement forward/vjp/jvp/batch on flat Tensor lists."""

    has_vjp = has_jvp = has_batch = False

    def __init__(self, name, args, use_ops):
        self.name = name
        # The Tensor arguments are not kept: the C function holds these rules (through user_data)
        # until its last user (e.g. a tape node) dies, and a traced argument kept here would keep
        # that tape alive — a reference cycle through C that no collector can see.
        self.positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.args = tuple(None if isinstance(a, Tensor) else a for a in args)
        self.counts = None  # (n_outputs, n_residuals) of the latest forward run
        self.use_ops = use_ops
        self.out_spec = None

    # ---- arguments ---------------------------------------------------------------------------

    def full_args(self, tensors):
        """The positional arguments with the Tensor ones replaced by `tensors`."""
        full = list(self.args)
        for position, t in zip(self.positions, tensors):
            full[position] = t
        return tuple(full)

    def per_arg(self, tensors, fill=None):
        """One entry per positional argument: `tensors` at the Tensor ones, `fill` elsewhere."""
        full = [fill] * len(self.args)
        for position, t in zip(self.positions, tensors):
            full[position] = t
        return tuple(full)

    def tensor_entries(self, values, what, like):
        """From one value per positional argument, the entries of the Tensor arguments as Tensors
        (None -> zeros shaped like `like[k]`)."""
        if not isinstance(values, (tuple, list)):
            values = (values,)
        if len(values) != len(self.args):
            raise RuntimeError(f"custom function '{self.name}': {what} returned {len(values)} values, expected "
                               f"{len(self.args)} (one per input)")
        result = []
        for k, position in enumerate(self.positions):
            value = values[position]
            result.append(zeros_like(like[k]) if value is None else _as_tensor(value, f"{self.name}: {what} {position}"))
        return result

    # ---- outputs -----------------------------------------------------------------------------

    def flatten_outputs(self, out, what="forward"):
        leaves, spec = tree_flatten(out)
        if not leaves:
            raise RuntimeError(f"custom function '{self.name}': {what} returned no tensor")
        return [_as_tensor(leaf, f"custom function '{self.name}': an output of {what}") for leaf in leaves], spec

    def split(self, tensors, *counts):
        parts, start = [], 0
        for c in counts:
            parts.append(tensors[start:start + c])
            start += c
        parts.append(tensors[start:])
        return parts

    # ---- the C function ----------------------------------------------------------------------

    def make(self):
        """The sf_custom_function of these rules (a new reference, as a Function)."""
        desc = _capi.CustomFunctionDesc()
        desc.version = _capi.CUSTOM_FUNCTION_DESC_VERSION
        desc.flags = _capi.CUSTOM_COUNTS_AT_RETURN | (_capi.CUSTOM_RULES_USE_OPS if self.use_ops else 0)
        desc.name = self.name.encode("utf-8", "replace")
        desc.n_inputs = len(self.positions)
        desc.forward_list = _FORWARD
        if self.has_vjp:
            desc.vjp = _VJP
        if self.has_jvp:
            desc.jvp = _JVP
        if self.has_batch:
            desc.batch_list = _BATCH
        desc.user_data = register(self)
        desc.free_user_data = _FREE
        out = ctypes.c_void_p()
        lib.sf_custom_function_new(ctypes.byref(desc), ctypes.byref(out))  # frees the key on failure
        return Function(out.value, len(self.positions), _capi.OUTPUTS_AT_RETURN)


def _forward(user_data, inputs, n_inputs, outputs, residuals):
    try:
        rules = _registry[user_data]
        produced, saved = rules.forward([borrow(inputs[i]) for i in range(n_inputs)])
        rules.counts = (len(produced), len(saved))
        append(outputs, produced, f"custom function '{rules.name}': forward")
        append(residuals, saved, f"custom function '{rules.name}': forward")
        return 0
    except BaseException as exc:  # noqa: B036 - every exception must reach the caller
        return stash(exc)


def _vjp(user_data, inputs, n_inputs, outputs, n_outputs):
    return run_callback(lambda: _registry[user_data].vjp, inputs, n_inputs, outputs, n_outputs)


def _jvp(user_data, inputs, n_inputs, outputs, n_outputs):
    return run_callback(lambda: _registry[user_data].jvp, inputs, n_inputs, outputs, n_outputs)


def _batch(user_data, inputs, in_dims, n_inputs, batch_size, outputs, residuals):
    try:
        rules = _registry[user_data]
        args = [borrow(inputs[i]) for i in range(n_inputs)]
        dims = [None if in_dims[i] == _capi.NOT_MAPPED else in_dims[i] for i in range(n_inputs)]
        results, result_dims = rules.batch(args, dims, batch_size)
        rules.counts = (len(results), 0)
        for r, d in zip(results, result_dims):
            if not isinstance(r, Tensor):
                raise TypeError(f"custom function '{rules.name}': its batching rule must return Tensors")
            lib.sf_tensor_list_append_mapped(outputs, r._h, _capi.NOT_MAPPED if d is None else d)
        return 0
    except BaseException as exc:  # noqa: B036 - every exception must reach the caller
        return stash(exc)


_FORWARD = _capi.CUSTOM_FORWARD_LIST_CALLBACK(_forward)
_VJP = _capi.CALLBACK(_vjp)
_JVP = _capi.CALLBACK(_jvp)
_BATCH = _capi.CUSTOM_BATCH_LIST_CALLBACK(_batch)
# Custom functions may be released at interpreter shutdown: keep the thunks alive for good.
for _thunk in (_FORWARD, _VJP, _JVP, _BATCH):
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(_thunk))


def _normalize_dims(dims, values, name):
    result = []
    for d, v in zip(dims, values):
        if d is None:
            result.append(None)
            continue
        if not isinstance(d, int) or isinstance(d, bool) or not -v.ndim <= d < v.ndim:
            raise ValueError(f"custom function '{name}': its vmap rule gave out_dim {d!r} for an output of rank {v.ndim}")
        result.append(d % v.ndim)
    return result


def call(args, rules):
    """Calls the custom function `rules` describe on the Tensor arguments in args; returns its outputs."""
    return rules.make()([a for a in args if isinstance(a, Tensor)])


def _check_args(args, name):
    if not any(isinstance(a, Tensor) for a in args):
        raise TypeError(f"custom function '{name}': at least one positional argument must be a swiftfunc Tensor")


# -------------------------------------------------------------------------------------------------
# JAX style: custom_vjp
# -------------------------------------------------------------------------------------------------


class _VJPRules(_Rules):
    has_vjp = True

    def __init__(self, owner, args):
        use_ops = owner.rules_use_ops
        super().__init__(owner.__name__, args, not _once_differentiable(owner.bwd) if use_ops is None else use_ops)
        self.owner = owner
        self.recipe = None
        self.res_spec = None

    def forward(self, tensors):
        with _Running(self.owner, "fwd", self):
            pair = self.owner.fwd(*self.full_args(tensors))
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"custom_vjp '{self.name}': fwd must return a pair (output, residuals), got "
                            f"{type(pair).__name__}")
        out, res = pair
        outputs, self.out_spec = self.flatten_outputs(out, "fwd")
        leaves, self.res_spec = tree_flatten(res)
        recipe, residuals = [], []
        for leaf in leaves:
            found = next((("in", k) for k, t in enumerate(tensors) if leaf is t), None)
            found = found or next((("out", k) for k, t in enumerate(outputs) if leaf is t), None)
            if found:
                recipe.append(found)
            elif isinstance(leaf, (Tensor, np.ndarray)):
                recipe.append(("res", len(residuals), isinstance(leaf, np.ndarray)))
                residuals.append(_as_tensor(leaf, "a residual"))
            else:
                recipe.append(("static", leaf))
        self.recipe = recipe
        return outputs, residuals

    def vjp(self, tensors):
        n_outputs, n_residuals = self.counts
        inputs, outputs, residuals, cotangents = self.split(tensors, len(self.positions), n_outputs, n_residuals)
        leaves = []
        for entry in self.recipe:
            if entry[0] == "in":
                leaves.append(inputs[entry[1]])
            elif entry[0] == "out":
                leaves.append(outputs[entry[1]])
            elif entry[0] == "res":
                r = residuals[entry[1]]
                leaves.append(r.numpy() if entry[2] and not self.use_ops else r)
            else:
                leaves.append(entry[1])
        with _Running(self.owner, "bwd", self):
            result = self.owner.bwd(self.res_spec.unflatten(leaves), self.out_spec.unflatten(cotangents))
        if not isinstance(result, (tuple, list)):
            raise TypeError(f"custom_vjp '{self.name}': bwd must return a tuple with one cotangent per positional "
                            f"argument, got {type(result).__name__}")
        return self.tensor_entries(result, "bwd", inputs)


class custom_vjp:  # noqa: N801 - named like jax.custom_vjp
    """A function with a custom VJP rule, in JAX's style:

        @custom_vjp
        def f(x): ...                       # documents the function; swiftfunc calls fwd instead
        def f_fwd(x): return y, residuals   # the output and what bwd needs
        def f_bwd(residuals, g): return (x_cotangent,)  # one entry per positional argument
        f.defvjp(f_fwd, f_bwd)

    Positional Tensor arguments are the differentiable inputs; other arguments are passed through
    unchanged (their cotangent entry must be None). fwd runs on concrete tensors and may run numpy
    code (`x.numpy()` is a zero-copy view; numpy results are accepted); fwd may call f itself (the
    call evaluates f's own body). residuals: a pytree of Tensors, numpy arrays and plain Python
    values; numpy arrays come back to bwd as numpy arrays.

    As in JAX, bwd is differentiated again by default (grad of grad, hessian): it is called like
    any function, with traced values under transforms, so it must use swiftfunc ops. A bwd that
    reads data (numpy) is marked `@swiftfunc.autograd.function.once_differentiable`: it is then a
    host kernel, differentiable once (differentiating it again raises TransformError).
    `rules_use_ops=True/False` overrides the choice. Forward mode (jvp, jacfwd) raises
    UnsupportedError (no JVP rule, as in JAX); vmap loops over the batch.
    """

    def __init__(self, fun=None, *, rules_use_ops=None, name=None):
        self.fun = fun
        self.rules_use_ops = None if rules_use_ops is None else bool(rules_use_ops)
        self.fwd = self.bwd = None
        if fun is not None:
            self._named(fun, name)
        else:
            self.__name__ = name or "custom_vjp"

    def _named(self, fun, name):
        self.__name__ = name or getattr(fun, "__name__", "custom_vjp")
        self.__doc__ = getattr(fun, "__doc__", None)
        self.__wrapped__ = fun

    def defvjp(self, fwd, bwd):
        """Sets the rules: fwd(*args) -> (output, residuals); bwd(residuals, g) -> cotangents."""
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args):
        if self.fun is None:  # used as @custom_vjp(rules_use_ops=...)
            if len(args) != 1 or not callable(args[0]):
                raise TypeError("custom_vjp(...) expects the function to decorate")
            self.fun = args[0]
            self._named(args[0], None if self.__name__ == "custom_vjp" else self.__name__)
            return self
        if self.fwd is None:
            raise AttributeError(f"No VJP defined for custom_vjp function {self.__name__} using defvjp.")
        _check_args(args, self.__name__)
        if running_inside(self):  # fwd or bwd calling the function itself: its primal function
            return self.fun(*args)
        rules = _VJPRules(self, args)
        outputs = call(args, rules)  # runs the forward, which sets out_spec
        return rules.out_spec.unflatten(outputs)


# -------------------------------------------------------------------------------------------------
# JAX style: custom_jvp
# -------------------------------------------------------------------------------------------------


class _JVPRules(_Rules):
    has_jvp = True

    def __init__(self, owner, args):
        use_ops = owner.rules_use_ops
        super().__init__(owner.__name__, args, not _once_differentiable(owner.jvp_rule, owner.vmap_rule)
                         if use_ops is None else use_ops)
        self.owner = owner
        self.has_vjp = self.use_ops
        self.has_batch = owner.vmap_rule is not None

    def forward(self, tensors):
        with _Running(self.owner, "forward", self):
            outputs, self.out_spec = self.flatten_outputs(self.owner.fun(*self.full_args(tensors)))
        return outputs, []

    def tangent_out(self, inputs, tangents, like):
        with _Running(self.owner, "jvp rule", self):
            result = self.owner.jvp_rule(self.full_args(inputs), self.per_arg(tangents))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"custom_jvp '{self.name}': the jvp rule must return (primal_out, tangent_out)")
        leaves, _ = tree_flatten(result[1])
        if len(leaves) != len(like):
            raise RuntimeError(f"custom_jvp '{self.name}': the jvp rule returned {len(leaves)} tangents for "
                               f"{len(like)} outputs")
        return [zeros_like(o) if t is None else _as_tensor(t, f"custom_jvp '{self.name}': a tangent")
                for t, o in zip(leaves, like)]

    def jvp(self, tensors):
        inputs, outputs, tangents = self.split(tensors, len(self.positions), self.counts[0])
        return self.tangent_out(inputs, tangents, outputs)

    def vjp(self, tensors):
        # Reverse mode from an ops-based JVP rule: the rule is linear in the tangents, so its VJP
        # with respect to them (at zero tangents) is the transpose we need.
        inputs, outputs, cotangents = self.split(tensors, len(self.positions), self.counts[0])
        rule = Function.from_python(lambda t: self.tangent_out(inputs, t, outputs), len(inputs))
        _, pullback = evaluate_and_make(lib.sf_vjp_list, rule, [zeros_like(x) for x in inputs])
        return Function(pullback, len(outputs), len(inputs))(cotangents)

    def batch(self, tensors, dims, batch_size):
        with _Running(self.owner, "vmap rule", self):
            out, out_dims = self.owner.vmap_rule(batch_size, self.per_arg(dims), *self.full_args(tensors))
        outputs, self.out_spec = self.flatten_outputs(out, "the vmap rule")
        per_leaf = broadcast_prefix(out_dims, self.out_spec, "out_dims")
        return outputs, _normalize_dims(per_leaf, outputs, self.name)


class custom_jvp:  # noqa: N801 - named like jax.custom_jvp
    """A function with a custom JVP rule, in JAX's style:

        @custom_jvp
        def f(x): ...                                  # the forward (may run numpy code)
        @f.defjvp
        def f_jvp(primals, tangents):                  # tuples, one entry per positional argument
            (x,), (t,) = primals, tangents
            return f(x), t * slope(x)                  # (primal_out, tangent_out)

    jvp/jacfwd use the rule (its primal_out is ignored: the forward's output is used; a call of f
    inside the rule evaluates f's own body). As in JAX, the rule is written with swiftfunc ops by
    default and reverse mode (grad, vjp, jacrev, hessian) transposes it (it is linear in the
    tangents). A rule that reads data is marked
    `@swiftfunc.autograd.function.once_differentiable`: it is then a host kernel, and reverse mode
    raises UnsupportedError. `rules_use_ops=True/False` overrides the choice. `f.defvmap(rule)` sets a batching
    rule `rule(batch_size, in_dims, *args) -> (output, out_dims)`; without one vmap loops.
    """

    def __init__(self, fun=None, *, rules_use_ops=None, name=None):
        self.fun = fun
        self.rules_use_ops = None if rules_use_ops is None else bool(rules_use_ops)
        self.jvp_rule = None
        self.vmap_rule = None
        self.__name__ = name or getattr(fun, "__name__", "custom_jvp")
        if fun is not None:
            self.__doc__ = getattr(fun, "__doc__", None)
            self.__wrapped__ = fun

    def defjvp(self, jvp_rule):
        """Sets the rule jvp_rule(primals, tangents) -> (primal_out, tangent_out); returns it (decorator)."""
        self.jvp_rule = jvp_rule
        return jvp_rule

    def defvmap(self, vmap_rule):
        """Sets the batching rule vmap_rule(batch_size, in_dims, *args) -> (output, out_dims)."""
        self.vmap_rule = vmap_rule
        return vmap_rule

    def __call__(self, *args):
        if self.fun is None:  # used as @custom_jvp(rules_use_ops=...)
            if len(args) != 1 or not callable(args[0]):
                raise TypeError("custom_jvp(...) expects the function to decorate")
            self.fun = args[0]
            if self.__name__ == "custom_jvp":
                self.__name__ = getattr(args[0], "__name__", "custom_jvp")
            self.__doc__ = getattr(args[0], "__doc__", None)
            self.__wrapped__ = args[0]
            return self
        if self.jvp_rule is None:
            raise AttributeError(f"No JVP defined for custom_jvp function {self.__name__} using defjvp.")
        _check_args(args, self.__name__)
        if running_inside(self):  # a rule calling the function itself: its primal function
            return self.fun(*args)
        rules = _JVPRules(self, args)
        outputs = call(args, rules)  # runs the forward, which sets out_spec
        return rules.out_spec.unflatten(outputs)
