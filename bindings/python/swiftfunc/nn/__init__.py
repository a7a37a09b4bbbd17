"""swiftfunc.nn: torch.nn-style modules (for functional_call / stack_module_state) and nn.functional."""
from . import functional, init, utils
from .modules import (GELU, Conv2d, CrossEntropyLoss, Dropout, Flatten, Identity, LayerNorm, Linear, LogSoftmax,
                      Module, ModuleList, MSELoss, Parameter, ReLU, Sequential, SiLU, Sigmoid, Softmax, Tanh)

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Conv2d",
           "LayerNorm", "ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "Softmax", "LogSoftmax", "Dropout", "Flatten",
           "Identity", "CrossEntropyLoss", "MSELoss"]
