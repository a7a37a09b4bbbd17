"""torch.autograd for swiftfunc: custom differentiable functions in torch's style (`Function`), and
`function.once_differentiable` for rules that read data. See `swiftfunc.autograd.function`. The grad-mode
switches (no_grad, ...) are in `grad_mode`: they change nothing, as swiftfunc has no tape."""
from . import function, grad_mode
from .function import Function, FunctionCtx
from .grad_mode import (backward, enable_grad, grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,
                        no_grad, set_grad_enabled)

__all__ = ["Function", "FunctionCtx", "function", "grad_mode", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "inference_mode", "is_inference_mode_enabled", "backward", "grad"]
