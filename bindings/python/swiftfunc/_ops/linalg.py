"""Contractions: matmul and its torch spellings (mm, bmm, mv, dot, inner), and outer products."""
from .._capi import lib
from .._tensor import new
from .conversion import tensor_of
from .pointwise import mul
from .shape import unsqueeze

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "inner", "outer", "ger"]


def matmul(input, other):
    """torch.matmul: dot, matrix-vector, matrix-matrix and batched products (float dtypes)."""
    a, b = tensor_of(input), tensor_of(other)
    return new(lib.sf_matmul, a._h, b._h)


def mm(input, mat2):
    if tensor_of(input).ndim != 2 or tensor_of(mat2).ndim != 2:
        raise ValueError("mm expects two 2-D tensors")
    return matmul(input, mat2)


def bmm(input, mat2):
    if tensor_of(input).ndim != 3 or tensor_of(mat2).ndim != 3:
        raise ValueError("bmm expects two 3-D tensors")
    return matmul(input, mat2)


def mv(input, vec):
    return matmul(input, vec)


def dot(input, other):
    if tensor_of(input).ndim != 1 or tensor_of(other).ndim != 1:
        raise ValueError("dot expects two 1-D tensors")
    return matmul(input, other)


inner = dot


def outer(input, vec2):
    return mul(unsqueeze(input, 1), unsqueeze(vec2, 0))


ger = outer
