"""swiftfunc.optim: torch.optim's SGD, Adam and AdamW over a module's parameters (reading each .grad and
updating the parameters in place), `assign_grads` to set those .grad from swiftfunc.func.grad's results,
and `functional`: the same optimizers as pure functions (init/update) for use inside transforms and jit."""
from . import functional
from .adam import Adam, AdamW
from .optimizer import Optimizer, assign_grads
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "assign_grads", "functional"]
