"""torch.autograd for swiftfunc: custom differentiable functions in torch's style (`Function`), and
`function.once_differentiable` for rules that read data. See `swiftfunc.autograd.function`."""
from . import function
from .function import Function, FunctionCtx

__all__ = ["Function", "FunctionCtx", "function"]
