"""The tensor ops under torch's names, one module per concern, layered bottom to top:

- `conversion`: Python data, numpy and DLPack as tensors (tensor, asarray, from_dlpack), the rules for
  Python scalars next to tensors, and dtype/device conversion (Tensor.to, clone, detach);
- `creation`: tensors from shapes and ranges (zeros, ones, full, arange, eye, linspace, *_like);
- `pointwise`: elementwise math, activations, arithmetic, comparisons, logical ops, where, clamp;
- `random`: the seeded generator (manual_seed, rand, randn, randint, bernoulli);
- `reduction`: reductions over dims, softmax/log_softmax, equal/allclose;
- `shape`: reshape and movement, slicing along a dim, joining;
- `indexing`: gather, index_select, scatter_add and tensor[index];
- `linalg`: matmul and the other contractions;
- `inplace`: torch's in-place methods (add_, zero_, uniform_, ...), which give the Tensor object a new
  value (tensors themselves never change);
- `tensor_ops`: einsum, diagonals and triangles, cumsum/cumprod, sort/argsort/topk, roll, repeat, tile;
- `norms`: torch.norm and the vector/matrix norms of torch.linalg;
- `methods`: attaches all of them to Tensor as methods and operators (and the Tensor constructor).

This package's namespace holds every public op; `swiftfunc` re-exports them.
"""
from .conversion import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .norms import *  # noqa: F401,F403
from .pointwise import *  # noqa: F401,F403
from .random import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .tensor_ops import *  # noqa: F401,F403
from .methods import attach as _attach

_attach()
