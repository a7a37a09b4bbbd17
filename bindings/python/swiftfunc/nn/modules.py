"""torch.nn-style modules: Module with named parameters and buffers, and a few layers.

Parameters are initialized from swiftfunc's process-wide generator, so `swiftfunc.manual_seed(s)`
before building a model makes its initialization reproducible. Tensors are immutable: training
replaces parameters (e.g. through functional_call or load_state_dict) instead of updating them.
"""
import collections
import contextlib
import math
import numbers

from .. import _device, _ops
from .._ops.conversion import cast, parse_to, tensor_of
from .._ops.creation import creation_dtype
from .._tensor import Tensor, as_dtype, float32, float64, int64
from . import functional as F

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "Linear", "Conv2d", "ConvTranspose2d", "LayerNorm",
           "ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "Dropout", "Flatten", "Identity", "Softmax", "LogSoftmax",
           "CrossEntropyLoss", "MSELoss", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Conv1d", "BatchNorm1d",
           "BatchNorm2d", "GroupNorm", "Embedding", "Softplus", "ELU", "LeakyReLU", "NLLLoss", "L1Loss",
           "BCEWithLogitsLoss"]


class Parameter(Tensor):
    """A Tensor registered as a module parameter (shares the given tensor's value)."""

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _ops.zeros(0)
        if not isinstance(data, Tensor):
            data = _ops.tensor(data)
        param = cls._adopt(data)
        param.requires_grad = requires_grad
        return param

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce__(self):
        # copy.deepcopy(model) and pickle keep Parameters (and their flag), as torch's do
        return (_rebuild_parameter, (self._copy_values(), self.requires_grad))


def _rebuild_parameter(values, requires_grad):
    return Parameter(_ops.tensor(values), requires_grad)


def _is_meta(value):
    """Whether a `to` argument names the meta device ('meta', 'meta:0', device('meta'))."""
    if isinstance(value, str):
        return value.partition(":")[0] == "meta"
    return getattr(value, "type", None) == "meta" and hasattr(value, "index")


class Module:
    """Base class of layers: attributes that are Parameters or Modules are registered automatically."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # -- registration -----------------------------------------------------------------------------

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before Module.__init__() call")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            for d in (buffers, modules, self.__dict__):
                d.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            for d in (params, buffers, self.__dict__):
                d.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' (a Tensor or None)")
            params[name] = value
        elif name in buffers:
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}'")
            modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if param is not None and not isinstance(param, Parameter):
            param = Parameter(param)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Registers a tensor (or None) that is state but no parameter; persistent=False leaves it out of
        state_dict()."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (torch Tensor or "
                            f"None required)")
        self._buffers[name] = tensor
        non_persistent = self.__dict__.setdefault("_non_persistent_buffers_set", set())
        if persistent:
            non_persistent.discard(name)
        else:
            non_persistent.add(name)

    def add_module(self, name, module):
        self._modules[name] = module

    register_module = add_module

    # -- traversal --------------------------------------------------------------------------------

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, table, prefix, recurse, remove_duplicate=True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs, e.g. ('0.weight', ...) in a Sequential."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        """The submodule at a dotted path ('' is the module itself)."""
        module = self
        for part in target.split(".") if target else ():
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no attribute `{part}` (in '{target}')")
            module = module._modules[part]
        return module

    def get_parameter(self, target):
        """The Parameter at a dotted name, e.g. '0.weight' (AttributeError if there is none)."""
        return self._member(target, "_parameters", "parameter")

    def get_buffer(self, target):
        """The buffer at a dotted name (AttributeError if there is none)."""
        return self._member(target, "_buffers", "buffer")

    def _member(self, target, table, what):
        owner, leaf = self._owner(target)
        members = getattr(owner, table)
        if leaf not in members:
            raise AttributeError(f"{type(owner).__name__} has no {what} `{leaf}` (in '{target}')")
        return members[leaf]

    def apply(self, fn):
        """Calls fn on every submodule (children first) and on self; returns self (e.g. for init)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and state --------------------------------------------------------------------------

    def train(self, mode=True):
        """Sets training mode (Dropout, BatchNorm read `self.training`) here and in every submodule."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        """train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Sets every parameter's requires_grad flag (which optimizers and ported code read; swiftfunc has no
        tape) and returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Resets every parameter's .grad: to None (the default), or to zeros with set_to_none=False."""
        for p in self.parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else _ops.zeros_like(p.grad)

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """An ordered dict of every parameter and persistent buffer by dotted name, module by module (each
        module's parameters, then its buffers), as torch orders it.

        Values are the tensors' current values (keep_vars=True: the Parameter and buffer objects
        themselves). Unlike torch's, they are snapshots: updating the model in place afterwards (an
        optimizer step, init functions) does not change a state dict taken before (tensors are immutable)."""
        if args:  # torch's deprecated positional form state_dict(destination, prefix, keep_vars)
            destination, prefix, keep_vars = (list(args) + [destination, prefix, keep_vars][len(args):])[:3]
        if destination is None:
            destination = collections.OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else _ops.detach(p)
        non_persistent = self.__dict__.get("_non_persistent_buffers_set", ())
        for name, b in self._buffers.items():
            if b is not None and name not in non_persistent:
                destination[prefix + name] = b if keep_vars else _ops.detach(b)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Loads parameters and buffers by dotted name, as torch does: each parameter and buffer object keeps
        its identity (optimizers holding it see the new value) and its dtype, and takes the loaded values
        (shapes must match). assign=True replaces them by the loaded tensors instead (parameters stay
        Parameters). Returns (missing_keys, unexpected_keys); strict=True raises RuntimeError on either."""
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for name, current in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = value if isinstance(value, Tensor) else _ops.tensor(value)  # copies torch/numpy values
            if value.shape != current.shape:
                errors.append(f"size mismatch for {name}: copying a param with shape {list(value.shape)} from "
                              f"checkpoint, the shape in current model is {list(current.shape)}.")
                continue
            if assign:
                owner, leaf = self._owner(name)
                if leaf in owner._parameters:
                    owner._parameters[leaf] = Parameter(value, current.requires_grad)
                else:
                    owner._buffers[leaf] = value
            else:
                current.copy_(value)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)

    def _owner(self, dotted):
        """(the module owning a dotted member name, the member's own name)."""
        path, _, leaf = dotted.rpartition(".")
        return self.get_submodule(path), leaf

    @contextlib.contextmanager
    def _swapped(self, values):
        """Temporarily replaces parameters/buffers by dotted name (for functional_call)."""
        saved = []
        try:
            for name, value in values.items():
                owner, leaf = self._owner(name)
                table = owner._buffers if leaf in owner._buffers else owner._parameters
                saved.append((table, leaf, table.get(leaf, _MISSING)))
                table[leaf] = value
            yield
        finally:
            for table, leaf, old in reversed(saved):
                if old is _MISSING:
                    table.pop(leaf, None)
                else:
                    table[leaf] = old

    # -- dtypes and devices -----------------------------------------------------------------------

    def to(self, *args, **kwargs):
        """torch's Module.to: to(device), to(dtype), to(device, dtype), to(tensor), or keywords device= and
        dtype=. Floating point parameters and buffers become `dtype` (integer ones keep theirs; dtype must be
        a floating point one); the CPU is the only device (any other raises DeviceError naming it). Converts
        the module in place and returns it."""
        if "copy" in kwargs:
            raise TypeError("Module.to() takes no copy argument")
        # The meta device: torch's modules lose their data there; the ensembling tutorial moves its
        # template module to it only to give functional_call a structure. swiftfunc has no meta
        # tensors, so the module keeps its values (any use of them is then still correct).
        args = tuple(a for a in args if not _is_meta(a))
        if _is_meta(kwargs.get("device")):
            kwargs = {k: v for k, v in kwargs.items() if k != "device"}
        dtype, _ = parse_to(*args, **kwargs)
        if dtype is None:
            return self
        if not dtype.is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        return self._cast_floating(dtype)

    def float(self):
        """Floating point parameters and buffers as float32, in place; returns the module."""
        return self._cast_floating(float32)

    def double(self):
        """Floating point parameters and buffers as float64, in place; returns the module."""
        return self._cast_floating(float64)

    def cpu(self):
        return self

    def cuda(self, device=None):
        """Raises DeviceError: the CPU is swiftfunc's only device."""
        _device.check("cuda" if device is None else device if isinstance(device, str) else f"cuda:{device}")
        return self

    def type(self, dst_type):
        """Every parameter and buffer as dst_type (a floating point dtype), in place; returns the module."""
        return self._cast_floating(as_dtype(dst_type))

    def _cast_floating(self, dtype):
        """Gives each floating point parameter and buffer of another dtype its value cast to `dtype`, in
        place: the objects keep their identity (as torch's default `param.data = fn(param.data)` does), so
        an optimizer built before `.double()` keeps working, and a tensor shared by several modules is
        converted once."""
        for module in self.modules():
            for table in (module._parameters, module._buffers):
                for value in table.values():
                    if value is not None and value.dtype.is_floating_point and value.dtype is not dtype:
                        value._rebind(cast(value, dtype))
                        if value.grad is not None:
                            value.grad = cast(value.grad, dtype)
        return self

    # -- calling ----------------------------------------------------------------------------------

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}({extra}" if extra else f"{type(self).__name__}("
        return head + "\n" + "\n".join(lines) + "\n)"


_MISSING = object()
_IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _uniform(shape, bound, dtype):
    """U(-bound, bound) of shape from the process-wide generator."""
    return (_ops.rand(shape, dtype=dtype) * 2.0 - 1.0) * bound


class Linear(Module):
    """y = x @ weight.T + bias, with torch's default init U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        d = creation_dtype(dtype, device)
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = Parameter(_uniform((out_features, in_features), bound, d))
        if bias:
            self.bias = Parameter(_uniform((out_features,), bound, d))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _pair(value):
    return (value, value) if isinstance(value, numbers.Integral) else tuple(value)


def _register_affine(module, shape, dtype, weight=True, bias=True):
    """A normalization layer's weight (ones) and bias (zeros) of `shape`, or None where not wanted."""
    module.register_parameter("weight", Parameter(_ops.ones(shape, dtype=dtype)) if weight else None)
    module.register_parameter("bias", Parameter(_ops.zeros(shape, dtype=dtype)) if weight and bias else None)


def _register_conv(module, name, in_channels, out_channels, kernel_size, groups, bias, padding_mode, dtype, device,
                   transposed=False):
    """A convolution's weight [out, in/groups, *kernel_size] (transposed: [in, out/groups, *kernel_size]) and
    bias [out] with torch's default init U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in being weight.size(1) times
    the kernel's size, as torch's init._calculate_fan_in_and_fan_out computes it for either layout."""
    if padding_mode != "zeros":
        raise NotImplementedError(f"{name}: only padding_mode='zeros' is supported")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{name}: in_channels and out_channels must be divisible by groups")
    d = creation_dtype(dtype, device)
    channels = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
    fan_in = channels[1] * math.prod(kernel_size)
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    module.weight = Parameter(_uniform(channels + tuple(kernel_size), bound, d))
    module.register_parameter("bias", Parameter(_uniform((out_channels,), bound, d)) if bias else None)


class Conv2d(Module):
    """2-D convolution layer (torch.nn.Conv2d, padding_mode='zeros')."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation, self.groups = _pair(dilation), groups
        _register_conv(self, "Conv2d", in_channels, out_channels, self.kernel_size, groups, bias, padding_mode, dtype,
                       device)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
                + (f", padding={self.padding}" if self.padding not in ((0, 0), "valid") else ""))


class ConvTranspose2d(Module):
    """2-D transposed convolution layer (torch.nn.ConvTranspose2d, padding_mode='zeros'): weight [in_channels,
    out_channels/groups, kH, kW] and bias [out_channels] with torch's default init (fan_in = out_channels/groups
    * kH * kW, from the weight's second dim)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError('Only "zeros" padding mode is supported for ConvTranspose2d')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        self.output_padding, self.dilation, self.groups = _pair(output_padding), _pair(dilation), groups
        _register_conv(self, "ConvTranspose2d", in_channels, out_channels, self.kernel_size, groups, bias, padding_mode,
                       dtype, device, transposed=True)

    def forward(self, input, output_size=None):
        """The transposed convolution; output_size ([H, W], or the whole shape) picks the output padding that
        gives that size, as in torch."""
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)

    def _output_padding(self, input, output_size):
        """self.output_padding, or the output padding giving output_size (torch's rule: each size between the
        smallest output, with no output padding, and that plus stride - 1)."""
        if output_size is None:
            return self.output_padding
        output_size = [int(v) for v in output_size]
        leading = 2 if input.dim() == 4 else 1
        if len(output_size) == leading + 2:
            output_size = output_size[leading:]
        if len(output_size) != 2:
            raise ValueError(f"ConvTranspose2D: for {input.dim()}D input, output_size must have 2 or {leading + 2} "
                             f"elements (got {len(output_size)})")
        min_sizes = [(input.shape[leading + d] - 1) * self.stride[d] - 2 * self.padding[d]
                     + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(2)]
        max_sizes = [min_sizes[d] + self.stride[d] - 1 for d in range(2)]
        for size, low, high in zip(output_size, min_sizes, max_sizes):
            if size < low or size > high:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes range from {min_sizes} "
                                 f"to {max_sizes} (for an input of {list(input.shape[leading:])})")
        return tuple(size - low for size, low in zip(output_size, min_sizes))

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class LayerNorm(Module):
    """Layer normalization over the trailing normalized_shape dims, with weight 1 and bias 0 initially."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        _register_affine(self, shape, creation_dtype(dtype, device), elementwise_affine, bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Sequential(Module):
    """Modules applied in order; built from modules or from an OrderedDict of named modules."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], collections.OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(Module):
    """A list of registered modules."""

    def __init__(self, modules=None):
        super().__init__()
        for module in modules or ():
            self.append(module)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ReLU(Module):
    def __init__(self, inplace=False):
        super().__init__()

    def forward(self, input):
        return F.relu(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, self.approximate)


class SiLU(Module):
    def __init__(self, inplace=False):
        super().__init__()

    def forward(self, input):
        return F.silu(input)


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim)


class LogSoftmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.log_softmax(input, self.dim)


class Dropout(Module):
    """Dropout with probability p while training (under vmap it needs randomness='different' or 'same')."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return _ops.flatten(input, self.start_dim, self.end_dim)


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class CrossEntropyLoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction)


class MSELoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


# -- pooling, convolution, normalization, embedding, activations and losses (issue 12) -------------


class MaxPool2d(Module):
    """2-D max pooling (torch.nn.MaxPool2d); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode,
                            return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling (torch.nn.AvgPool2d); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Conv1d(Module):
    """1-D convolution layer (torch.nn.Conv1d, padding_mode='zeros'), torch's default init."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        single = (lambda v: v if isinstance(v, (numbers.Integral, str)) else tuple(v)[0])
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = single(kernel_size), single(stride)
        self.padding, self.dilation = single(padding), single(dilation)
        _register_conv(self, "Conv1d", in_channels, out_channels, (self.kernel_size,), groups, bias, padding_mode, dtype,
                       device)

    def forward(self, input):
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, kernel_size=({self.kernel_size},), stride=({self.stride},)"


class _BatchNorm(Module):
    """Batch normalization with running statistics as buffers (torch.nn.modules.batchnorm._BatchNorm).

    Training with track_running_stats updates running_mean, running_var and num_batches_tracked (the buffers
    take new tensors). Under vmap the running statistics cannot be updated from a batched input (an error, as in
    torch.func); swiftfunc.func.replace_all_batch_norm_modules_ turns the tracking off."""

    _expected_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None):
        super().__init__()
        d = creation_dtype(dtype, device)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _register_affine(self, (num_features,), d, affine)
        if track_running_stats:
            self.register_buffer("running_mean", _ops.zeros((num_features,), dtype=d))
            self.register_buffer("running_var", _ops.ones((num_features,), dtype=d))
            self.register_buffer("num_batches_tracked", _ops.tensor(0, dtype=int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean = _ops.zeros_like(self.running_mean)
            self.running_var = _ops.ones_like(self.running_var)
            self.num_batches_tracked = _ops.tensor(0, dtype=int64)

    def forward(self, input):
        if input.ndim not in self._expected_dims:
            raise ValueError(f"expected {' or '.join(f'{n}D' for n in self._expected_dims)} input (got {input.ndim}D input)")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked = self.num_batches_tracked + 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        training = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_running else None, self.running_var if use_running else None,
                            self.weight, self.bias, training, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of [N, C] or [N, C, L] (torch.nn.BatchNorm1d)."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of [N, C, H, W] (torch.nn.BatchNorm2d)."""

    _expected_dims = (4,)


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _register_affine(self, (num_channels,), creation_dtype(dtype, device), affine)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Embedding(Module):
    """A lookup table (torch.nn.Embedding): weight N(0, 1), the padding_idx row zero and without gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are not supported")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError("Padding_idx must be within num_embeddings")
            padding_idx = padding_idx % num_embeddings
        d = creation_dtype(dtype, device)
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        if _weight is not None:
            weight = tensor_of(_weight)
        else:
            weight = _ops.randn((num_embeddings, embedding_dim), dtype=d)
            if padding_idx is not None:
                row = _ops.unsqueeze(_ops.arange(num_embeddings) == padding_idx, 1)
                weight = _ops.where(row, _ops.zeros((), dtype=d), weight)
        self.weight = Parameter(weight)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class Softplus(Module):
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)


class ELU(Module):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha

    def forward(self, input):
        return F.elu(input, self.alpha)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)


class NLLLoss(Module):
    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class L1Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
