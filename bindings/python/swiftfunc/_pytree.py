"""Pytrees: nested tuples, lists, dicts (and namedtuples, OrderedDicts) flattened to leaves and back.

The C API takes flat lists of tensors; the transforms flatten their arguments and outputs with
`tree_flatten` and rebuild them with `TreeSpec.unflatten`, as torch.utils._pytree does. None is an
empty node (no leaves), as in torch and JAX; every other non-container object is a leaf.
Dict keys keep their insertion order (torch's convention).
"""
import collections

__all__ = ["TreeSpec", "LEAF", "tree_flatten", "tree_unflatten", "tree_leaves", "tree_map", "broadcast_prefix"]


class TreeSpec:
    """The structure of a pytree: a node type, its context (dict keys, namedtuple class) and children."""

    __slots__ = ("kind", "context", "children", "num_leaves", "_hash")

    def __init__(self, kind, context, children):
        self.kind = kind
        self.context = context
        self.children = tuple(children)
        self.num_leaves = 1 if kind == "leaf" else sum(c.num_leaves for c in self.children)
        self._hash = None

    def is_leaf(self):
        return self.kind == "leaf"

    def _key(self):
        return (self.kind, self.context, self.children)

    def __eq__(self, other):
        return isinstance(other, TreeSpec) and self._key() == other._key()

    def __hash__(self):
        if self._hash is None:
            self._hash = hash(self._key())
        return self._hash

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(map(repr, self.children))
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.context, self.children))
            return "{" + inner + "}"
        if self.kind == "list":
            return "[" + inner + "]"
        return "(" + inner + ("," if len(self.children) == 1 else "") + ")"

    def unflatten(self, leaves):
        """The pytree of this structure holding `leaves` (an iterable with exactly num_leaves items)."""
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"expected {self.num_leaves} leaves for structure {self!r}, got {len(leaves)}")
        it = iter(leaves)
        return self._build(it)

    def _build(self, it):
        kind = self.kind
        if kind == "leaf":
            return next(it)
        if kind == "none":
            return None
        values = [c._build(it) for c in self.children]
        if kind == "tuple":
            return tuple(values)
        if kind == "list":
            return values
        if kind == "dict":
            return dict(zip(self.context, values))
        if kind == "ordereddict":
            return collections.OrderedDict(zip(self.context, values))
        if kind == "namedtuple":
            return self.context(*values)
        raise AssertionError(kind)


LEAF = TreeSpec("leaf", None, ())
_NONE = TreeSpec("none", None, ())


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def tree_flatten(tree):
    """(leaves, spec) of a pytree."""
    leaves = []
    spec = _flatten(tree, leaves)
    return leaves, spec


def _flatten(tree, leaves):
    if isinstance(tree, (list, tuple, dict)):
        if type(tree) is tuple:
            return TreeSpec("tuple", None, [_flatten(x, leaves) for x in tree])
        if type(tree) is list:
            return TreeSpec("list", None, [_flatten(x, leaves) for x in tree])
        if isinstance(tree, collections.OrderedDict):
            keys = tuple(tree)
            return TreeSpec("ordereddict", keys, [_flatten(tree[k], leaves) for k in keys])
        if isinstance(tree, dict):
            keys = tuple(tree)
            return TreeSpec("dict", keys, [_flatten(tree[k], leaves) for k in keys])
        if _is_namedtuple(tree):
            return TreeSpec("namedtuple", type(tree), [_flatten(x, leaves) for x in tree])
        if isinstance(tree, tuple):
            return TreeSpec("tuple", None, [_flatten(x, leaves) for x in tree])
        if isinstance(tree, list):
            return TreeSpec("list", None, [_flatten(x, leaves) for x in tree])
    if tree is None:
        return _NONE
    leaves.append(tree)
    return LEAF


def tree_unflatten(leaves, spec):
    return spec.unflatten(leaves)


def tree_leaves(tree):
    return tree_flatten(tree)[0]


def tree_map(fn, tree):
    leaves, spec = tree_flatten(tree)
    return spec.unflatten([fn(x) for x in leaves])


def broadcast_prefix(prefix, spec, describe="value"):
    """One value per leaf of `spec`: `prefix` is a pytree whose structure is a prefix of `spec`, with a
    single value (an int or None) standing for a whole subtree (as vmap's in_dims/out_dims)."""
    result = []
    _broadcast(prefix, spec, result, describe)
    return result


def _broadcast(prefix, spec, result, describe):
    if not isinstance(prefix, (list, tuple, dict)):
        result.extend([prefix] * spec.num_leaves)
        return
    if spec.kind == "leaf":
        raise ValueError(f"{describe} {prefix!r} is a container where the input is a single value")
    prefix_leaves_spec = _flatten(prefix, [])
    if spec.kind in ("dict", "ordereddict"):
        if not isinstance(prefix, dict) or set(prefix) != set(spec.context):
            raise ValueError(f"{describe} {prefix!r} does not match the structure {spec!r}")
        for key, child in zip(spec.context, spec.children):
            _broadcast(prefix[key], child, result, describe)
        return
    if isinstance(prefix, dict) or len(prefix) != len(spec.children) or prefix_leaves_spec.kind == "leaf":
        raise ValueError(f"{describe} {prefix!r} does not match the structure {spec!r}")
    if (spec.kind == "list") != isinstance(prefix, list) and not (spec.kind in ("tuple", "namedtuple")
                                                                  and isinstance(prefix, tuple)):
        raise ValueError(f"{describe} {prefix!r} does not match the structure {spec!r} (list vs tuple)")
    for value, child in zip(prefix, spec.children):
        _broadcast(value, child, result, describe)
