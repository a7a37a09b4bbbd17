"""torch.func over libswiftfunc: grad, grad_and_value, vjp, jvp, linearize, jacrev, jacfwd, hessian,
vmap, functional_call and stack_module_state, with torch.func's signatures, defaults and semantics.

How a call works: the positional arguments are flattened to pytree leaves; the Tensor leaves become
the flat inputs of an sf_function whose callback rebuilds the arguments, calls the Python function
and flattens its outputs (non-Tensor arguments and kwargs reach the function through the closure,
untransformed, as in torch.func). The C transform runs that function and the results are rebuilt
into pytrees. Transforms nest because a transformed function called inside another one's callback
simply makes and runs its own sf_function on the traced inputs it is given.

The number of Tensor outputs is learned when the Python function returns, as JAX learns an output
structure from its one trace: the sf_function is made with sf_function_new_at_return, transforms of
it report their outputs in lists (sf_call_list, sf_vjp_list, ...), and vmap asks for its out_dims
once the output structure is known (sf_vmap_at_return). So the function runs exactly once per call,
and its side effects and random draws happen once.

export, deserialize and load write a traced function to bytes and read it back (docs/export.md);
the output structure travels in the file's metadata as JSON.
"""
import ctypes
import functools
import json
import numbers

from . import _capi
from ._capi import int32s, lib
from ._custom import custom_jvp, custom_vjp
from ._function import Function, TensorList, evaluate_and_make, invoke, vmap_fallback_count
from ._ops import eye, movedim, stack, zeros, zeros_like
from ._pytree import LEAF, TreeSpec, broadcast_prefix, tree_flatten
from ._tensor import Tensor, wrap

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "linearize", "jacrev", "jacfwd", "hessian", "vmap",
           "functional_call", "stack_module_state", "custom_vjp", "custom_jvp", "vmap_fallback_count", "jit", "make_graph",
           "replace_all_batch_norm_modules_", "export", "deserialize", "load"]

_RANDOMNESS = {"error": _capi.RANDOMNESS_ERROR, "different": _capi.RANDOMNESS_DIFFERENT, "same": _capi.RANDOMNESS_SAME}

# -------------------------------------------------------------------------------------------------
# Flattening
# -------------------------------------------------------------------------------------------------


class _Args:
    """Positional arguments as pytree leaves; the Tensor leaves are the flat C inputs, in order."""

    __slots__ = ("specs", "leaves", "bounds", "positions", "key")

    def __init__(self, args):
        self.specs, self.leaves, self.bounds = [], [], []
        for arg in args:
            leaves, spec = tree_flatten(arg)
            self.bounds.append((len(self.leaves), len(self.leaves) + len(leaves)))
            self.leaves.extend(leaves)
            self.specs.append(spec)
        self.positions = [i for i, leaf in enumerate(self.leaves) if isinstance(leaf, Tensor)]
        self.key = (tuple(self.specs), tuple(self.positions))

    def inputs(self):
        return [self.leaves[i] for i in self.positions]

    def rebuild(self, tensors):
        leaves = list(self.leaves)
        for position, t in zip(self.positions, tensors):
            leaves[position] = t
        return tuple(spec.unflatten(leaves[a:b]) for spec, (a, b) in zip(self.specs, self.bounds))

    def flat_indices(self, argnums, name):
        """The C input indices of every leaf of the arguments in argnums (which must all be Tensors)."""
        index = {position: k for k, position in enumerate(self.positions)}
        result = []
        for n in argnums:
            a, b = self.bounds[n]
            for position in range(a, b):
                leaf = self.leaves[position]
                if not isinstance(leaf, Tensor):
                    raise ValueError(f"{name}: thing passed to transform API must be Tensor, got {type(leaf)} "
                                     f"in argument {n}")
                result.append(index[position])
        return result

    def group(self, argnums, values, as_tuple):
        """Per-leaf values of the arguments in argnums (flat_indices order) as those arguments' pytrees."""
        it = iter(values)
        trees = []
        for n in argnums:
            a, b = self.bounds[n]
            trees.append(self.specs[n].unflatten([next(it) for _ in range(b - a)]))
        return tuple(trees) if as_tuple else trees[0]


class _Out:
    """A pytree of outputs: its Tensor leaves go through C; other leaves are kept as they are."""

    __slots__ = ("spec", "leaves", "positions")

    def __init__(self, tree):
        self.leaves, self.spec = tree_flatten(tree)
        self.positions = [i for i, leaf in enumerate(self.leaves) if isinstance(leaf, Tensor)]

    def tensors(self):
        return [self.leaves[i] for i in self.positions]

    def skeleton(self):
        """The same structure without its Tensors (None in their places), for keeping: jit keeps one
        per traced signature, and keeping the traced outputs would keep the first call's values."""
        skeleton = _Out.__new__(_Out)
        tensors = set(self.positions)
        skeleton.spec, skeleton.positions = self.spec, self.positions
        skeleton.leaves = [None if i in tensors else leaf for i, leaf in enumerate(self.leaves)]
        return skeleton

    def require_tensors(self, message):
        if len(self.positions) != len(self.leaves):
            bad = next(leaf for leaf in self.leaves if not isinstance(leaf, Tensor))
            raise RuntimeError(message.format(type(bad)))

    def rebuild(self, tensors):
        leaves = list(self.leaves)
        for position, t in zip(self.positions, tensors):
            leaves[position] = t
        return self.spec.unflatten(leaves)

    def same_structure(self, other):
        """Whether both have one tree structure with Tensors at the same leaves and equal other leaves."""
        if self.spec != other.spec or self.positions != other.positions:
            return False
        tensors = set(self.positions)
        return all(_equal_leaves(a, b) for i, (a, b) in enumerate(zip(self.leaves, other.leaves)) if i not in tensors)


def _equal_leaves(a, b):
    """Whether two non-Tensor leaves are equal (identical, when == does not give a bool: arrays)."""
    try:
        return bool(a == b)
    except Exception:
        return a is b


# -------------------------------------------------------------------------------------------------
# Argument checks shared by the transforms
# -------------------------------------------------------------------------------------------------


def _argnums(argnums, n_args, name):
    """(normalized argnums tuple, whether a tuple was given), with torch's errors."""
    if isinstance(argnums, numbers.Integral) and not isinstance(argnums, bool):
        nums, as_tuple = (int(argnums),), False
    elif isinstance(argnums, tuple) and all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in argnums):
        if not argnums:
            raise RuntimeError(f"{name}: argnums must be non-empty")
        nums, as_tuple = tuple(int(a) for a in argnums), True
    else:
        raise RuntimeError(f"{name}: Expected argnums to be int or Tuple[int, ...], got: {type(argnums)}")
    normalized = []
    for a in nums:
        if not -n_args <= a < n_args:
            raise RuntimeError(f"{name}: Got argnums={argnums}, but only {n_args} positional inputs")
        normalized.append(a % n_args)
    if len(set(normalized)) != len(normalized):
        raise RuntimeError(f"{name}: argnums must be unique, got {argnums}")
    return tuple(normalized), as_tuple


def _check_argnums_type(argnums, name):
    if isinstance(argnums, numbers.Integral) and not isinstance(argnums, bool):
        return
    if isinstance(argnums, tuple) and argnums and all(isinstance(a, numbers.Integral) for a in argnums):
        return
    raise RuntimeError(f"{name}: Expected argnums to be int or Tuple[int, ...], got: {argnums!r}")


def _split_aux(out, has_aux, name):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{name}(f)(*args): output of function f should be a tuple: (output, aux) if has_aux is True")
    return out


def _randomness(randomness):
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    return _RANDOMNESS[randomness]


def _wraps(func, transform):
    def decorate(wrapper):
        try:
            functools.update_wrapper(wrapper, func)
        except (AttributeError, TypeError):
            pass
        name = getattr(func, "__name__", type(func).__name__)
        wrapper.__qualname__ = wrapper.__name__ = f"{transform}({name})"
        return wrapper

    return decorate


# -------------------------------------------------------------------------------------------------
# grad, grad_and_value
# -------------------------------------------------------------------------------------------------


def grad(func, argnums=0, has_aux=False):
    """The gradient of `func` (which returns a 0-d float tensor) with respect to the arguments in argnums.

    argnums is an int (the gradient has that argument's pytree structure) or a tuple (a tuple of them).
    With has_aux, func returns (output, aux) and the result is (gradient, aux).
    """
    _check_argnums_type(argnums, "grad")

    @_wraps(func, "grad")
    def wrapper(*args, **kwargs):
        gradients, _, aux = _grad_call(func, argnums, has_aux, False, "grad", args, kwargs)
        return (gradients, aux) if has_aux else gradients

    return wrapper


def grad_and_value(func, argnums=0, has_aux=False):
    """(gradient, value) of `func` — or (gradient, (value, aux)) with has_aux — computed in one pass."""
    _check_argnums_type(argnums, "grad_and_value")

    @_wraps(func, "grad_and_value")
    def wrapper(*args, **kwargs):
        gradients, value, aux = _grad_call(func, argnums, has_aux, True, "grad_and_value", args, kwargs)
        return (gradients, (value, aux)) if has_aux else (gradients, value)

    return wrapper


def _grad_call(func, argnums, has_aux, with_value, name, args, kwargs):
    nums, as_tuple = _argnums(argnums, len(args), name)
    flat = _Args(args)
    wrt = flat.flat_indices(nums, name)
    inputs = flat.inputs()
    state = {}

    def body(tensors):
        value, aux = _split_aux(func(*flat.rebuild(tensors), **kwargs), has_aux, name)
        if not isinstance(value, Tensor):
            raise RuntimeError(f"{name}(f)(*args): Expected f(*args) to return a Tensor, got {type(value)}")
        aux_out = _Out(aux)
        state["aux"] = aux_out
        # With has_aux the library needs at least one aux output: aux without Tensors gets a placeholder.
        return [value] + (aux_out.tensors() or ([_placeholder()] if has_aux else []))

    f = Function.from_python(body, len(inputs))
    if not wrt:  # nothing to differentiate (empty pytrees): the value alone
        outputs = f(inputs)
        gradients, value, aux = [], outputs[0], outputs[1:]
    else:
        cfn = lib.sf_grad_and_value if with_value else lib.sf_grad
        outputs = Function.made_by(cfn, f._h, int32s(wrt), len(wrt), has_aux)(inputs)
        k = len(wrt)
        gradients, value, aux = outputs[:k], (outputs[k] if with_value else None), outputs[k + (1 if with_value else 0):]
    gradients = flat.group(nums, gradients, as_tuple)
    return gradients, value, (state["aux"].rebuild(aux) if has_aux else None)


def _placeholder():
    return zeros(())


# -------------------------------------------------------------------------------------------------
# vjp
# -------------------------------------------------------------------------------------------------


def _all_tensors(flat, name):
    for leaf in flat.leaves:
        if not isinstance(leaf, Tensor):
            raise ValueError(f"{name}: thing passed to transform API must be Tensor, got {type(leaf)}")


def _value_and_aux(func, flat, has_aux, name, state):
    """The flat callback body shared by vjp, jvp, linearize, jacrev, jacfwd and hessian: value tensors
    then aux tensors; state["value"] and state["aux"] keep their structure."""
    def body(tensors):
        value, aux = _split_aux(func(*flat.rebuild(tensors)), has_aux, name)
        value_out, aux_out = _Out(value), _Out(aux)
        if not value_out.leaves:
            raise RuntimeError(f"{name}(f, ...): Expected f to be a function that has non-empty output (got {value!r})")
        value_out.require_tensors(f"{name}(f, ...): expected f(*primals) to return only tensors, got {{}}")
        state["value"], state["aux"] = value_out, aux_out
        return value_out.tensors() + aux_out.tensors()

    return body


class _VJPFunction:
    """The pullback returned by vjp: cotangents shaped like the outputs -> one cotangent per primal."""

    def __init__(self, pullback, flat, value_out, aux_tensors):
        self._pullback = pullback
        self._flat = flat
        self._value = value_out
        self._aux = aux_tensors

    def __call__(self, cotangents, retain_graph=True, create_graph=None):
        leaves, spec = tree_flatten(cotangents)
        if spec != self._value.spec:
            raise RuntimeError(f"Expected pytree structure of cotangents to be the same as pytree structure of "
                               f"outputs to the function. cotangents: {spec}, primal output: {self._value.spec}")
        for leaf in leaves:
            if not isinstance(leaf, Tensor):
                raise ValueError(f"vjp_fn: cotangents must be Tensors, got {type(leaf)}")
        seeds = leaves + [zeros_like(a) for a in self._aux]
        return self._flat.rebuild(self._pullback(seeds))  # one cotangent per primal (zeros for integer ones)


def _evaluate_and_make(c_function, func, flat, has_aux, name, state, arity):
    """sf_vjp_list and sf_linearize_list: run func once at the primals and return (output tensors,
    the Function the transform made, the number of value outputs); arity(n_inputs, n_outputs) gives
    the made function's (inputs, outputs)."""
    _all_tensors(flat, name)
    inputs = flat.inputs()
    f = Function.from_python(_value_and_aux(func, flat, has_aux, name, state), len(inputs))
    results, made = evaluate_and_make(c_function, f, inputs)
    return results, Function(made, *arity(len(inputs), len(results))), len(state["value"].positions)


def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn[, aux]): vjp_fn(cotangents) gives one cotangent per primal, as a tuple."""
    name = "vjp"
    flat = _Args(primals)
    state = {}
    results, pullback, n_value = _evaluate_and_make(lib.sf_vjp_list, func, flat, has_aux, name, state,
                                                    lambda n_in, n_out: (n_out, n_in))
    value, aux = results[:n_value], results[n_value:]
    vjp_fn = _VJPFunction(pullback, flat, state["value"], aux)
    output = state["value"].rebuild(value)
    if has_aux:
        return output, vjp_fn, state["aux"].rebuild(aux)
    return output, vjp_fn


# -------------------------------------------------------------------------------------------------
# jvp, linearize
# -------------------------------------------------------------------------------------------------


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """(func(*primals), the tangent of the output[, aux]) for tangents shaped like the primals."""
    name = "jvp"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{name}(f, primals, tangents): Expected primals to be a tuple. "
                           f"E.g. it should be valid to call f(*primals).")
    if not isinstance(tangents, tuple):
        raise RuntimeError(f"{name}(f, primals, tangents): Expected tangents to be a tuple")
    if strict:
        # torch.func raises when an output does not depend on the inputs; the library returns zero tangents for
        # those outputs, indistinguishable from a true zero, so strict mode cannot be honoured.
        raise NotImplementedError(f"{name}(f, primals, tangents, strict=True): strict=True is not supported by swiftfunc "
                                  f"(outputs independent of the inputs get zero tangents)")
    flat = _Args(primals)
    flat_tangents = _Args(tangents)
    if flat.specs != flat_tangents.specs:
        raise RuntimeError(f"{name}(f, primals, tangents): Expected primals and tangents to have the same python "
                           f"structure. For example, if primals is a tuple of 3 tensors, tangents also must be. "
                           f"Got primals with structure {flat.specs} and tangents with structure {flat_tangents.specs}")
    _all_tensors(flat, name)
    _all_tensors(flat_tangents, name)
    inputs, tangent_inputs = flat.inputs(), flat_tangents.inputs()
    state = {}
    f = Function.from_python(_value_and_aux(func, flat, has_aux, name, state), len(inputs))
    with TensorList() as outputs_list, TensorList() as tangents_list:
        invoke(lib.sf_jvp_list, f._h, _capi.handles(inputs), _capi.handles(tangent_inputs), len(inputs),
               outputs_list._h, tangents_list._h)
        outputs, out_tangents = outputs_list.tensors(), tangents_list.tensors()
    value_out = state["value"]
    n_value = len(value_out.positions)
    result = (value_out.rebuild(outputs[:n_value]), value_out.rebuild(out_tangents[:n_value]))
    if has_aux:
        return result + (state["aux"].rebuild(outputs[n_value:]),)
    return result


def linearize(func, *primals):
    """(func(*primals), jvp_fn): jvp_fn(*tangents) is the output tangent at these primals."""
    name = "linearize"
    flat = _Args(primals)
    inputs = flat.inputs()
    state = {}
    outputs, linear, _ = _evaluate_and_make(lib.sf_linearize_list, func, flat, False, name, state,
                                            lambda n_in, n_out: (n_in, n_out))
    value_out = state["value"]

    def jvp_fn(*tangents):
        flat_tangents = _Args(tangents)
        if flat_tangents.specs != flat.specs:
            raise RuntimeError(f"linearize: expected tangents with the structure of the primals {flat.specs}, "
                               f"got {flat_tangents.specs}")
        _all_tensors(flat_tangents, "linearize")
        for t, p in zip(flat_tangents.inputs(), inputs):
            if t.shape != p.shape or t.dtype is not p.dtype:
                raise RuntimeError(f"linearize: expected a tangent of shape {p.shape} and dtype {p.dtype}, "
                                   f"got shape {t.shape} and dtype {t.dtype}")
        return value_out.rebuild(linear(flat_tangents.inputs()))

    return value_out.rebuild(outputs), jvp_fn


# -------------------------------------------------------------------------------------------------
# jacrev, jacfwd, hessian
# -------------------------------------------------------------------------------------------------


def _jacobian_call(func, argnums, has_aux, name, args, make, composed):
    """Shared by jacrev and jacfwd: make(f, wrt) is the C transform of the flat function (without
    has_aux: one Jacobian per output tensor and argument leaf). With has_aux, composed(nums, as_tuple)
    computes (jacobian, aux) from vjp/jvp and vmap, since the output may hold several tensors
    besides its aux (the library's has_aux takes one value output)."""
    nums, as_tuple = _argnums(argnums, len(args), name)
    if has_aux:
        return composed(nums, as_tuple)
    flat = _Args(args)
    wrt = flat.flat_indices(nums, name)
    inputs = flat.inputs()
    state = {}
    f = Function.from_python(_value_and_aux(func, flat, False, name, state), len(inputs))
    outputs = make(f, wrt)(inputs)
    k = len(wrt)
    per_output = [flat.group(nums, outputs[i * k:(i + 1) * k], as_tuple) for i in range(len(outputs) // k)]
    return state["value"].rebuild(per_output)


def _selected(func, args, nums):
    """func as a function of the arguments in nums only (the others fixed), and those arguments."""
    def partial(*selected):
        full = list(args)
        for n, value in zip(nums, selected):
            full[n] = value
        return func(*full)

    return partial, tuple(args[n] for n in nums)


def _basis(leaf):
    """The identity as [numel, *leaf.shape]: one one-hot tangent/cotangent per element."""
    n = leaf.numel()
    return eye(n, dtype=leaf.dtype).reshape((n,) + leaf.shape)


def _jacrev_composed(func, args, nums, as_tuple, chunk_size):
    """jacrev with has_aux for several output tensors: vmap of vjp_fn over one-hot cotangents."""
    partial, primals = _selected(func, args, nums)
    out, vjp_fn, aux = vjp(partial, *primals, has_aux=True)
    leaves, spec = tree_flatten(out)
    rows = []
    for i, leaf in enumerate(leaves):
        def pull(cotangent, i=i):
            seeds = [cotangent if j == i else zeros_like(other) for j, other in enumerate(leaves)]
            return vjp_fn(spec.unflatten(seeds))

        per_arg = vmap(pull, chunk_size=chunk_size)(_basis(leaf))
        shaped = _map_tensors(lambda j, leaf=leaf: j.reshape(leaf.shape + j.shape[1:]), per_arg)
        rows.append(shaped if as_tuple else shaped[0])
    return spec.unflatten(rows), aux


def _jacfwd_composed(func, args, nums, as_tuple, randomness):
    """jacfwd with has_aux for several output tensors: vmap of jvp over one-hot tangents."""
    partial, primals = _selected(func, args, nums)
    inputs, input_spec = tree_flatten(primals)
    columns, aux, out_spec = [], None, None
    for j, leaf in enumerate(inputs):
        def push(tangent, j=j):
            tangents = [tangent if k == j else zeros_like(p) for k, p in enumerate(inputs)]
            _, out_tangent, aux = jvp(partial, primals, input_spec.unflatten(tangents), has_aux=True)
            return out_tangent, aux

        out_tangent, aux = vmap(push, out_dims=(0, None), randomness=randomness)(_basis(leaf))
        leaves, out_spec = tree_flatten(out_tangent)
        columns.append([movedim(t, 0, -1).reshape(t.shape[1:] + leaf.shape) for t in leaves])
    rows = []
    for i in range(out_spec.num_leaves):
        per_arg = input_spec.unflatten([column[i] for column in columns])
        rows.append(per_arg if as_tuple else per_arg[0])
    return out_spec.unflatten(rows), aux


def _map_tensors(fn, tree):
    leaves, spec = tree_flatten(tree)
    return spec.unflatten([fn(x) if isinstance(x, Tensor) else x for x in leaves])


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian of func with respect to the arguments in argnums, by reverse mode (vmap over vjp).

    The result nests [output pytree] x [argnums / argument pytree]; each entry has shape
    output.shape + input.shape. chunk_size computes at most that many rows per vmap.
    """
    _check_argnums_type(argnums, "jacrev")
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    def make(f, wrt):
        return Function.made_by(lib.sf_jacrev, f._h, int32s(wrt), len(wrt), False, chunk_size or 0)

    @_wraps(func, "jacrev")
    def wrapper(*args):
        def composed(nums, as_tuple):
            return _jacrev_composed(func, args, nums, as_tuple, chunk_size)

        return _jacobian_call(func, argnums, has_aux, "jacrev", args, make, composed)

    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian of func by forward mode (vmap over jvp); the same result structure as jacrev."""
    _check_argnums_type(argnums, "jacfwd")
    mode = _randomness(randomness)

    def make(f, wrt):
        return Function.made_by(lib.sf_jacfwd, f._h, int32s(wrt), len(wrt), False, mode)

    @_wraps(func, "jacfwd")
    def wrapper(*args):
        def composed(nums, as_tuple):
            return _jacfwd_composed(func, args, nums, as_tuple, randomness)

        return _jacobian_call(func, argnums, has_aux, "jacfwd", args, make, composed)

    return wrapper


def hessian(func, argnums=0):
    """The Hessian of func: jacfwd(jacrev(func, argnums), argnums)."""
    _check_argnums_type(argnums, "hessian")
    name = "hessian"

    @_wraps(func, "hessian")
    def wrapper(*args):
        nums, as_tuple = _argnums(argnums, len(args), name)
        flat = _Args(args)
        wrt = flat.flat_indices(nums, name)
        inputs = flat.inputs()
        state = {}
        f = Function.from_python(_value_and_aux(func, flat, False, name, state), len(inputs))
        outputs = Function.made_by(lib.sf_hessian, f._h, int32s(wrt), len(wrt))(inputs)
        k = len(wrt)
        per_output = []
        for i in range(len(outputs) // (k * k)):  # for each output tensor, k x k blocks
            block = outputs[i * k * k:(i + 1) * k * k]
            rows = [flat.group(nums, block[a * k:(a + 1) * k], as_tuple) for a in range(k)]
            per_output.append(flat.group(nums, rows, as_tuple))
        return state["value"].rebuild(per_output)

    return wrapper


# -------------------------------------------------------------------------------------------------
# vmap
# -------------------------------------------------------------------------------------------------


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """func mapped over a batch dim of its inputs (torch.func.vmap).

    in_dims: an int, or a tuple with one entry per positional argument, each an int, None (not mapped)
    or a pytree matching that argument. out_dims: an int or a pytree of int/None matching the output.
    kwargs are passed through unmapped. randomness: 'error', 'different' or 'same'. chunk_size: map at
    most that many elements at a time.
    """
    if not isinstance(in_dims, (int, tuple)) or isinstance(in_dims, bool):
        raise ValueError(f"vmap(func, in_dims={in_dims}, ...): expected `in_dims` to be int or a (potentially "
                         f"nested) tuple matching the structure of inputs, got: {type(in_dims)}.")
    mode = _randomness(randomness)
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @_wraps(func, "vmap")
    def wrapper(*args, **kwargs):
        return _vmap_call(func, in_dims, out_dims, mode, chunk_size, args, kwargs)

    return wrapper


def _in_dims_per_leaf(in_dims, args, flat):
    if isinstance(in_dims, int):
        per_arg = [in_dims] * len(args)
    else:
        if not isinstance(in_dims, tuple) or len(in_dims) != len(args):
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
                             f"structure of `inputs`. in_dims has structure {tree_flatten(in_dims)[1]} but inputs "
                             f"has structure {tuple(flat.specs)}.")
        per_arg = in_dims
    dims = []
    for prefix, spec in zip(per_arg, flat.specs):
        try:
            dims.extend(broadcast_prefix(prefix, spec, "in_dims"))
        except ValueError as error:
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
                             f"structure of `inputs`: {error}") from None
    return dims


def _vmap_call(func, in_dims, out_dims, mode, chunk_size, args, kwargs):
    flat = _Args(args)
    leaf_dims = _in_dims_per_leaf(in_dims, args, flat)
    c_in_dims, sizes = [], []
    for leaf, d in zip(flat.leaves, leaf_dims):
        if d is not None and not isinstance(d, int):
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): expected in_dims entries to be int or "
                             f"None, got {d!r}")
        if isinstance(leaf, Tensor):
            if d is None:
                c_in_dims.append(_capi.NOT_MAPPED)
                continue
            ndim = leaf.ndim
            if not -ndim <= d < ndim:
                raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but the "
                                 f"input is of dimensionality {ndim} so expected in_dim to satisfy "
                                 f"-{ndim} <= in_dim < {ndim}.")
            c_in_dims.append(d)
            sizes.append(leaf.shape[d])
        elif d is not None:
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but the input "
                             f"is of type {type(leaf)}. We cannot vmap over non-Tensor arguments, please use None "
                             f"as the respective in_dim")
    if not sizes:
        raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): at least one input must be a Tensor mapped "
                         f"over a dim (in_dims gives None for every Tensor input)")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                         f"{sizes} for the mapped dimension")
    inputs = flat.inputs()
    state = {}

    def layout(out):
        """(C out dims of the tensor outputs,) derived from out_dims and the output's structure."""
        try:
            per_leaf = broadcast_prefix(out_dims, out.spec, "out_dims")
        except ValueError as error:
            raise ValueError(f"vmap(f, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible with the "
                             f"structure of `outputs`: {error}") from None
        result = []
        for leaf, d in zip(out.leaves, per_leaf):
            if d is not None and not isinstance(d, int):
                raise ValueError(f"vmap: out_dims entries must be int or None, got {d!r}")
            if isinstance(leaf, Tensor):
                result.append(_capi.NOT_MAPPED if d is None else d)
            elif d is not None:
                raise ValueError(f"vmap(f, ...): `f` must only return Tensors, got type {type(leaf)}. Did you mean "
                                 f"to set out_dims= to None for output?")
        return tuple(result) or (_capi.NOT_MAPPED,)

    def body(tensors):
        out = _Out(func(*flat.rebuild(tensors), **kwargs))
        state["out"] = out
        # Only non-Tensor outputs: one placeholder keeps the function's arity >= 1.
        return out.tensors() or [_placeholder()]

    def out_dims_for(n_outputs):
        return layout(state["out"])

    f = Function.from_python(body, len(inputs))
    outputs = Function.vmapped(f, c_in_dims, out_dims_for, chunk_size or 0, mode)(inputs)
    out = state["out"]
    return out.rebuild(outputs[:len(out.positions)])


# -------------------------------------------------------------------------------------------------
# jit, make_graph
# -------------------------------------------------------------------------------------------------


def _static_key(value):
    """A non-Tensor leaf or static argument as part of a cache key (by value when hashable)."""
    try:
        hash(value)
        return (type(value), value)
    except TypeError:
        return (type(value), id(value))


_MIXED = object()  # _OutputStructures.single when traces gave different output structures


class _OutputStructures:
    """The output structure (`_Out.skeleton`) of each input signature a jitted function traced;
    usually all the same: then `single` holds it. The traced callback writes here; it must not refer
    to the `_Staged` that holds the C function (through C that would be a cycle Python cannot see)."""

    __slots__ = ("by_signature", "single")

    def __init__(self):
        self.by_signature, self.single = {}, None

    def add(self, signature, out):
        skeleton = out.skeleton()
        self.by_signature[signature] = skeleton
        if self.single is None:
            self.single = skeleton
        elif self.single is not _MIXED and not skeleton.same_structure(self.single):
            self.single = _MIXED


class _Staged:
    """One structure of a jitted function's arguments: its sf_jit function and the output structure
    of each input signature it traced."""

    __slots__ = ("function", "outputs")

    def __init__(self, func, flat, statics, kwargs):
        outputs = self.outputs = _OutputStructures()

        def body(tensors):
            out = _Out(func(*_with_statics(flat.rebuild(tensors), statics), **kwargs))
            outputs.add(_signature(tensors), out)
            return out.tensors() or [_placeholder()]  # only non-Tensor outputs: arity >= 1

        traced = Function.from_python(body, len(flat.positions))
        self.function = Function.made_by(lib.sf_jit, traced._h)

    def call(self, inputs):
        """The output pytree of the jitted function at the flat input Tensors. While every trace has
        given one output structure this is one sf_call with that many outputs (no list to fill and
        read); otherwise the structure is looked up by the inputs' shapes and dtypes."""
        outputs = self.outputs
        single = outputs.single
        if single is None or single is _MIXED:
            tensors = self.function(inputs)
        else:
            count = max(1, len(single.positions))
            results = (ctypes.c_void_p * count)()
            # The handle array is built here rather than by _capi.handles: `inputs` keeps the
            # Tensors alive through the call (a replay costs a few microseconds, so each one counts).
            handles = (ctypes.c_void_p * len(inputs))(*[t._h for t in inputs]) if inputs else None
            try:
                invoke(lib.sf_call, self.function._h, handles, len(inputs), results, count)
            except Exception:
                if outputs.single is single:
                    raise
                # New shapes were traced and gave another structure; their graph is cached now.
                tensors = self.function(inputs)
            else:
                if single.spec is LEAF and single.positions and outputs.single is single:
                    return wrap(results[0])  # one Tensor: nothing to rebuild
                tensors = [wrap(h) for h in results]
        out = outputs.single if outputs.single is not _MIXED else outputs.by_signature[_signature(inputs)]
        return out.rebuild(tensors[:len(out.positions)])


def _signature(tensors):
    """The shapes and dtypes of Tensors (what a jitted function's C cache is keyed by)."""
    return tuple((t.shape, t.dtype) for t in tensors)


def _with_statics(dynamic, statics):
    """The positional arguments: `statics` ({position: value}) in their places, `dynamic` around them."""
    args, rest = [], iter(dynamic)
    for position in range(len(dynamic) + len(statics)):
        args.append(statics[position] if position in statics else next(rest))
    return tuple(args)


def jit(func, static_argnums=()):
    """func staged (jax.jit): the first call with a given argument structure and Tensor shapes/dtypes
    traces func into a graph (it runs once, on abstract values); later calls replay the graph without
    running func. Non-Tensor arguments and kwargs are part of the cache key, as are the arguments in
    static_argnums (passed to func as they are). Reading a traced value's data while tracing (.item(),
    bool(), .numpy(), .tolist()) raises TransformError: the value depends on the inputs. A jitted
    function can be transformed (grad(jit(f)), vmap(jit(f))) and can stage transforms (jit(vmap(f))).
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    static_argnums = tuple(sorted(static_argnums))
    staged = {}

    @_wraps(func, "jit")
    def wrapper(*args, **kwargs):
        if not kwargs and not static_argnums:
            for arg in args:
                if type(arg) is not Tensor:
                    break
            else:  # the short path: positional Tensors only, keyed by their number
                entry = staged.get(len(args))
                if entry is None:
                    entry = staged[len(args)] = _Staged(func, _Args(args), {}, {})
                return entry.call(args)
        statics = {n % len(args): args[n] for n in static_argnums} if args else {}
        flat = _Args(tuple(a for i, a in enumerate(args) if i not in statics))
        leaves = tuple(_static_key(leaf) for leaf in flat.leaves if not isinstance(leaf, Tensor))
        key = (flat.key, leaves, tuple((n, _static_key(v)) for n, v in sorted(statics.items())),
               tuple((k, _static_key(v)) for k, v in sorted(kwargs.items())))
        entry = staged.get(key)
        if entry is None:
            entry = staged[key] = _Staged(func, flat, statics, kwargs)
        return entry.call(flat.inputs())

    def trace_count():
        """How many traces the jitted function has made (over all argument structures)."""
        total = 0
        for entry in staged.values():
            count = ctypes.c_uint64()
            lib.sf_jit_trace_count(entry.function._h, ctypes.byref(count))
            total += count.value
        return total

    wrapper.trace_count = trace_count
    return wrapper


class Graph:
    """The listing of a function's optimized graph (what make_graph returns); print it or str() it."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text

    __repr__ = __str__


def make_graph(func):
    """make_graph(f)(*args): the optimized graph f stages at these arguments (jax.make_jaxpr)."""
    def listing(*args, **kwargs):
        flat = _Args(args)
        state = {}

        def body(tensors):
            out = _Out(func(*flat.rebuild(tensors), **kwargs))
            state["out"] = out
            return out.tensors() or [_placeholder()]

        f = Function.from_python(body, len(flat.positions))
        inputs = flat.inputs()
        text = ctypes.c_void_p()
        invoke(lib.sf_function_graph, f._h, _capi.handles(inputs), len(inputs), ctypes.byref(text))
        try:
            return Graph(ctypes.string_at(text.value).decode("utf-8", "replace"))
        finally:
            lib.sf_string_free(text.value)

    return listing


# -------------------------------------------------------------------------------------------------
# Export (docs/export.md): a traced function as bytes that C, C++ or Python load without Python code
# -------------------------------------------------------------------------------------------------

_EXPORT_FORMAT = "swiftfunc.func.export/1"


def _spec_to_json(spec):
    """A TreeSpec as JSON data: "*" a leaf, null None, {"tuple"|"list": [...]}, {"dict": [[key, child]...]}.
    Namedtuples come back as tuples and OrderedDicts as dicts; dict keys must be str or int."""
    if spec.kind == "leaf":
        return "*"
    if spec.kind == "none":
        return None
    children = [_spec_to_json(c) for c in spec.children]
    if spec.kind in ("dict", "ordereddict"):
        for key in spec.context:
            if type(key) not in (str, int):
                raise TypeError(f"export: dict key {key!r} of the output is neither str nor int")
        return {"dict": [[key, child] for key, child in zip(spec.context, children)]}
    return {"list" if spec.kind == "list" else "tuple": children}


def _spec_from_json(data):
    if data == "*":
        return LEAF
    if data is None:
        return TreeSpec("none", None, ())
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError("deserialize: the stored output structure is malformed")
    (kind, children), = data.items()
    if kind == "dict":
        return TreeSpec("dict", tuple(k for k, _ in children), [_spec_from_json(c) for _, c in children])
    if kind not in ("tuple", "list"):
        raise ValueError(f"deserialize: unknown node kind {kind!r} in the stored output structure")
    return TreeSpec(kind, None, [_spec_from_json(c) for c in children])


class Exported:
    """A function traced at example arguments (what export(fn)(*args) returns): .serialize() gives its
    bytes, .save(path) writes them, .graph is the readable listing of the exported graph."""

    def __init__(self, data, graph):
        self._data = data
        self.graph = graph

    def serialize(self):
        """The exported bytes (load them with deserialize, sf_function_import or sf::load_function)."""
        return self._data

    def save(self, path):
        """Writes the bytes to `path` (load with load, sf_function_load or sf::load_function)."""
        with open(path, "wb") as file:
            file.write(self._data)


def export(func):
    """export(fn)(*example_args): fn traced at the example arguments' shapes and dtypes (a pytree of
    Tensors each), optimized and serialized with the Tensors it captures (weights become constants),
    and the structure of its output. Random draws and custom functions cannot be exported."""
    def trace(*args):
        flat = _Args(args)
        if len(flat.positions) != len(flat.leaves):
            bad = next(leaf for leaf in flat.leaves if not isinstance(leaf, Tensor))
            raise TypeError(f"export: every argument leaf must be a Tensor, got {type(bad)}")
        state = {}

        def body(tensors):
            out = _Out(func(*flat.rebuild(tensors)))
            out.require_tensors("export: every output leaf must be a Tensor, got {}")
            state["out"] = out
            return out.tensors()

        f = Function.from_python(body, len(flat.positions))
        inputs = flat.inputs()
        # The traced output structure is known after a trace: make_graph's trace gives it first.
        text = ctypes.c_void_p()
        invoke(lib.sf_function_graph, f._h, _capi.handles(inputs), len(inputs), ctypes.byref(text))
        try:
            graph = Graph(ctypes.string_at(text.value).decode("utf-8", "replace"))
        finally:
            lib.sf_string_free(text.value)
        metadata = json.dumps({"format": _EXPORT_FORMAT, "inputs": [_spec_to_json(s) for s in flat.specs],
                               "outputs": _spec_to_json(state["out"].spec)}).encode("utf-8")
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        invoke(lib.sf_function_export_with_metadata, f._h, _capi.handles(inputs), len(inputs), metadata, len(metadata),
               ctypes.byref(data), ctypes.byref(size))
        try:
            return Exported(ctypes.string_at(data.value, size.value), graph)
        finally:
            lib.sf_bytes_free(data.value)

    return trace


class Imported:
    """A loaded exported function: call it with arguments of the exported structure, shapes and dtypes;
    it returns the exported output structure. It is transformable (grad, vmap, jit)."""

    def __init__(self, function, inputs, output):
        self._function = function
        self._inputs = inputs
        self._output = output

    def __call__(self, *args):
        leaves, _ = tree_flatten(args)
        if len(leaves) != self._function.n_inputs:
            structure = f" (arguments {', '.join(map(repr, self._inputs))})" if self._inputs else ""
            raise TypeError(f"the exported function takes {self._function.n_inputs} Tensors{structure}, given {len(leaves)}")
        return self._output.unflatten(self._function(leaves))


def deserialize(data):
    """The function in exported bytes (see export); pytrees of its output are restored."""
    data = bytes(data)
    meta, size = ctypes.c_void_p(), ctypes.c_size_t()
    lib.sf_function_metadata(data, len(data), ctypes.byref(meta), ctypes.byref(size))
    try:
        raw = ctypes.string_at(meta.value, size.value)
    finally:
        lib.sf_bytes_free(meta.value)
    function = Function.made_by(lib.sf_function_import, data, len(data))
    try:
        info = json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        info = None
    if isinstance(info, dict) and info.get("format") == _EXPORT_FORMAT:
        inputs = [_spec_from_json(s) for s in info["inputs"]]
        output = _spec_from_json(info["outputs"])
    else:  # exported from C: flat inputs, a tuple of outputs (one output: the Tensor itself)
        inputs = None
        n = function.n_outputs
        output = LEAF if n == 1 else TreeSpec("tuple", None, [LEAF] * n)
    return Imported(function, inputs, output)


def load(path):
    """deserialize of the file at `path`."""
    with open(path, "rb") as file:
        return deserialize(file.read())


# -------------------------------------------------------------------------------------------------
# nn.Module utilities
# -------------------------------------------------------------------------------------------------


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """module(*args, **kwargs) with its parameters and buffers replaced by the given tensors.

    parameter_and_buffer_dicts: a dict of name -> Tensor, or a sequence of such dicts with disjoint keys.
    The module itself is left unchanged afterwards.
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        values = dict(parameter_and_buffer_dicts)
    else:
        values = {}
        for d in parameter_and_buffer_dicts:
            overlap = set(values) & set(d)
            if overlap:
                raise ValueError(f"{sorted(overlap)} appeared in multiple dictionaries; behavior of functional call "
                                 f"is ambiguous")
            values.update(d)
    if strict:
        expected = {name for name, _ in module.named_parameters()} | {name for name, _ in module.named_buffers()}
        missing, unexpected = sorted(expected - set(values)), sorted(set(values) - expected)
        if missing or unexpected:
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}: missing keys {missing}, "
                               f"unexpected keys {unexpected}")
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = kwargs or {}
    with module._swapped(values):
        return module(*args, **kwargs)


def stack_module_state(models):
    """(params, buffers): each parameter and buffer of the (same-class) models stacked along a new dim 0."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    first = type(models[0])
    if not all(type(m) is first for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    params = {name: stack([dict(m.named_parameters())[name].detach() for m in models])
              for name, _ in models[0].named_parameters()}
    buffers = {name: stack([dict(m.named_buffers())[name] for m in models]) for name, _ in models[0].named_buffers()}
    return params, buffers


def replace_all_batch_norm_modules_(root):
    """torch.func.replace_all_batch_norm_modules_: every BatchNorm module under `root` stops tracking running
    statistics (running_mean, running_var and num_batches_tracked become None, track_running_stats False), so that
    it normalizes with each batch's statistics and can run under vmap. Changes `root` in place and returns it."""
    from .nn.modules import _BatchNorm  # nn builds on this module's callers; imported here to avoid a cycle

    for module in root.modules():
        if isinstance(module, _BatchNorm):
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root
