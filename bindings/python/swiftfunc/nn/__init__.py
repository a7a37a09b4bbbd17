"""swiftfunc.nn: torch.nn-style modules (for functional_call / stack_module_state) and nn.functional."""
from . import functional, init, utils
from .modules import (GELU, Conv2d, ConvTranspose2d, CrossEntropyLoss, Dropout, Flatten, Identity, LayerNorm, Linear,
                      LogSoftmax, Module, ModuleList, MSELoss, Parameter, ReLU, Sequential, SiLU, Sigmoid, Softmax, Tanh)
from .modules import (ELU, AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, BCEWithLogitsLoss, Conv1d, Embedding,
                      GroupNorm, L1Loss, LeakyReLU, MaxPool2d, NLLLoss, Softplus)

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Conv2d",
           "ConvTranspose2d", "LayerNorm", "ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "Softmax", "LogSoftmax", "Dropout",
           "Flatten", "Identity", "CrossEntropyLoss", "MSELoss", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Conv1d",
           "BatchNorm1d", "BatchNorm2d", "GroupNorm", "Embedding", "Softplus", "ELU", "LeakyReLU", "NLLLoss", "L1Loss",
           "BCEWithLogitsLoss"]
