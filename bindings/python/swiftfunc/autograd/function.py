"""torch.autograd.Function for swiftfunc: custom differentiable functions in torch's style.

    class NumpySoftplus(swiftfunc.autograd.Function):
        @staticmethod
        def forward(x):                              # host code: numpy on a zero-copy view
            a = x.numpy()
            return np.logaddexp(0.0, a)              # a numpy array or a Tensor
        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g.numpy() / (1 + np.exp(-x.numpy()))
        @staticmethod
        def jvp(ctx, t):                             # optional: forward mode
            (x,) = ctx.saved_tensors
            return t.numpy() / (1 + np.exp(-x.numpy()))
        @staticmethod
        def vmap(info, in_dims, x):                  # optional: batching rule
            return NumpySoftplus.forward(x), in_dims[0]

    y = NumpySoftplus.apply(x)                       # works under grad, jvp, vmap, ...

Differences from torch (all follow from swiftfunc's design, where every call is a pure function):
- Only the torch.func style is supported: forward(*args) without ctx, plus setup_context (torch.func
  requires the same). setup_context is a pure function of (inputs, output): swiftfunc runs it again
  inside backward/jvp on the values those rules receive (so saved tensors are always the right ones,
  also per element under vmap and as traced values for higher-order derivatives); it does not run
  after the forward itself. Keep it cheap; attributes set on ctx (ctx.dim = ...) work as in torch.
- `rules_use_ops = True` (class attribute) declares that setup_context, backward, jvp and vmap use
  swiftfunc ops only: they are then differentiated and batched like any function, so hessian and
  grad-of-grad work. The default (False) is host kernels: the rules may read data (`.numpy()`), are
  called with concrete tensors only, are differentiable once, and differentiating them again raises
  swiftfunc.TransformError naming the function — never a wrong derivative.
- vmap: without a `vmap` staticmethod, vmap loops over the batch (counted by
  swiftfunc.func.vmap_fallback_count()); `generate_vmap_rule` is accepted and makes no difference
  (the forward is host code that swiftfunc cannot batch by itself).
- The Tensor positional arguments are the inputs; others (numbers, strings, ...) are passed through;
  backward returns one entry per positional argument (None for non-Tensors or for zero). Outputs
  are a Tensor or a tuple of Tensors (numpy arrays are converted, zero-copy); there is no
  mark_dirty (tensors are immutable) and set_materialize_grads is always True (missing output
  gradients arrive as zeros).
"""
import inspect

from .._custom import (_Rules, _Running, _as_tensor, _check_args, _normalize_dims, _once_differentiable,
                       call, once_differentiable, running_inside)
from .._ops import zeros_like
from .._pytree import broadcast_prefix, tree_flatten

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """The ctx of setup_context/backward/jvp: saves tensors and carries attributes."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._saved_forward = None

    def save_for_backward(self, *tensors):
        """Saves tensors (or None) for backward; read them back with ctx.saved_tensors."""
        self._saved = tensors

    def save_for_forward(self, *tensors):
        """Saves tensors for jvp (torch's API; the same as save_for_backward here)."""
        self._saved = tensors

    @property
    def saved_tensors(self):
        return self._saved

    def mark_non_differentiable(self, *tensors):
        """Accepted for compatibility (their cotangents are simply not used)."""

    def set_materialize_grads(self, value):
        """Accepted for compatibility: missing gradients always arrive as zeros."""

    def mark_dirty(self, *tensors):
        raise RuntimeError("swiftfunc tensors are immutable: mark_dirty (in-place outputs) is not supported")


class VmapInfo:
    """The `info` argument of a vmap staticmethod: batch_size and randomness."""

    def __init__(self, batch_size):
        self.batch_size = batch_size
        self.randomness = "error"


class _FunctionRules(_Rules):
    def __init__(self, cls, args):
        use_ops = cls.rules_use_ops
        if use_ops is None:  # torch's default: rules are differentiable unless marked once_differentiable
            use_ops = not _once_differentiable(*(getattr(cls, name) for name in _RULES))
        super().__init__(cls.__name__, args, bool(use_ops))
        self.cls = cls
        self.has_vjp = _overrides(cls, "backward")
        self.has_jvp = _overrides(cls, "jvp")
        self.has_batch = _overrides(cls, "vmap")

    def context(self, inputs, outputs):
        ctx = FunctionCtx(tuple(i in self.positions and inputs[self.positions.index(i)].is_floating_point()
                                for i in range(len(self.args))))
        with _Running(self.cls, "setup_context", self):
            self.cls.setup_context(ctx, self.full_args(inputs), self.out_spec.unflatten(outputs))
        return ctx

    def forward(self, tensors):
        with _Running(self.cls, "forward", self):
            outputs, self.out_spec = self.flatten_outputs(self.cls.forward(*self.full_args(tensors)))
        return outputs, []

    def vjp(self, tensors):
        inputs, outputs, cotangents = self.split(tensors, len(self.positions), self.counts[0])
        ctx = self.context(inputs, outputs)
        with _Running(self.cls, "backward", self):
            grads = self.cls.backward(ctx, *cotangents)
        return self.tensor_entries(grads, "backward", inputs)

    def jvp(self, tensors):
        inputs, outputs, tangents = self.split(tensors, len(self.positions), self.counts[0])
        ctx = self.context(inputs, outputs)
        with _Running(self.cls, "jvp", self):
            result = self.cls.jvp(ctx, *self.per_arg(tangents))
        leaves, _ = tree_flatten(result)
        if len(leaves) != len(outputs):
            raise RuntimeError(f"custom function '{self.name}': jvp returned {len(leaves)} tangents for "
                               f"{len(outputs)} outputs")
        return [zeros_like(o) if t is None else _as_tensor(t, f"custom function '{self.name}': a tangent")
                for t, o in zip(leaves, outputs)]

    def batch(self, tensors, dims, batch_size):
        with _Running(self.cls, "vmap", self):
            result = self.cls.vmap(VmapInfo(batch_size), self.per_arg(dims), *self.full_args(tensors))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"custom function '{self.name}': vmap must return (output, out_dims)")
        outputs, self.out_spec = self.flatten_outputs(result[0], "vmap")
        per_leaf = broadcast_prefix(result[1], self.out_spec, "out_dims")
        return outputs, _normalize_dims(per_leaf, outputs, self.name)


#: The rules a subclass may define (once_differentiable on any of them makes them all host kernels).
_RULES = ("setup_context", "backward", "jvp", "vmap")


def _overrides(cls, name):
    return getattr(cls, name) is not getattr(Function, name)


class Function:
    """Base class of custom differentiable functions (torch.autograd.Function); see the module doc."""

    #: Whether setup_context/backward/jvp/vmap use swiftfunc ops only (then they are differentiated again).
    #: None (the default) means: yes, unless one of them is marked once_differentiable (torch's default).
    rules_use_ops = None
    #: Accepted for torch compatibility; vmap without a `vmap` staticmethod always loops.
    generate_vmap_rule = False

    def __init__(self, *args, **kwargs):
        raise RuntimeError("swiftfunc.autograd.Function is not instantiated: call the class's apply(*args)")

    @staticmethod
    def forward(*args):
        raise NotImplementedError("a swiftfunc.autograd.Function subclass must define forward(*args)")

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Default: saves nothing."""

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError

    @staticmethod
    def vmap(info, in_dims, *args):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        """Calls the function on args; under transforms it behaves as one differentiable operation."""
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply takes positional arguments only")
        if cls is Function:
            raise RuntimeError("call apply on a subclass of swiftfunc.autograd.Function")
        if running_inside(cls):  # a rule (or forward) calling the function itself: its forward
            return cls.forward(*args)
        try:
            parameters = list(inspect.signature(cls.forward).parameters)
        except (TypeError, ValueError):
            parameters = []
        if parameters[:1] == ["ctx"] and not _overrides(cls, "setup_context"):
            raise TypeError(f"{cls.__name__}: forward(ctx, ...) without setup_context is not supported; define "
                            f"forward(*args) and setup_context(ctx, inputs, output), as torch.func requires")
        _check_args(args, cls.__name__)
        rules = _FunctionRules(cls, args)
        outputs = call(args, rules)  # runs the forward, which sets out_spec
        return rules.out_spec.unflatten(outputs)
