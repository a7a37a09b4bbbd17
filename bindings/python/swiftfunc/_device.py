"""Devices: swiftfunc computes on the CPU only, and says so.

`device` mirrors torch.device ('cpu', 'cpu:0', device('cuda', 1), str() and repr() as torch's); a
Tensor's `.device` is `device(type='cpu')`. Every argument that names a device (creation functions,
`Tensor.to`, `Module.to`, ...) goes through `check`, which accepts the CPU and raises DeviceError naming
any other device (cuda, mps, meta, ...) instead of computing on the CPU anyway, as torch raises
RuntimeError for a device it does not have.
"""
import numbers

from ._errors import DeviceError

__all__ = ["device", "cpu", "check"]


def _parse(spec):
    """(type, index) of 'type' or 'type:index'."""
    kind, colon, index = spec.partition(":")
    if not kind or not kind.replace("_", "").isalnum() or (colon and not index.isdigit()):
        raise DeviceError(f"invalid device string {spec!r} (expected e.g. 'cpu', 'cpu:0' or 'cuda:1')")
    return kind, int(index) if colon else None


class device:
    """A device, as torch.device: device('cpu'), device('cuda:0'), device('cuda', 0); `.type` and `.index`.

    Any device can be named; only the CPU (index None or 0) can hold swiftfunc tensors. A device compares
    equal to another device, a torch.device or a string that names the same device (device('cpu') == 'cpu').
    """

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002 - torch.device's argument names
        if isinstance(type, str):
            kind, parsed = _parse(type)
            if parsed is not None and index is not None:
                raise DeviceError(f"device {type!r} already has an index; cannot add index {index}")
            index = parsed if parsed is not None else index
        elif isinstance(getattr(type, "type", None), str):  # a device or a torch.device
            kind, index = type.type, type.index
        else:
            raise TypeError(f"a device is a string such as 'cpu' or 'cuda:0', or a device, not {type!r}")
        if index is not None:
            if not isinstance(index, numbers.Integral) or isinstance(index, bool) or index < 0:
                raise DeviceError(f"a device index is a non-negative int, not {index!r}")
            index = int(index)
        if kind == "cpu" and index not in (None, 0):
            raise DeviceError(f"CPU device index must be 0 or unset, got {index}")
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("devices are immutable")

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other):
        if isinstance(other, str) or isinstance(getattr(other, "type", None), str):
            try:
                other = device(other)
            except DeviceError:
                return False
            return (self.type, self.index) == (other.type, other.index)
        return NotImplemented

    def __hash__(self):
        return hash(str(self))  # equal to the hash of the equal string

    def __reduce__(self):
        return (device, (self.type, self.index))


#: The one device swiftfunc has.
cpu = device("cpu")


def check(value):
    """The CPU device for `value` None, 'cpu', 'cpu:0', device('cpu'), a CPU torch.device; DeviceError naming
    any other device (an int is torch's accelerator index: device 0 is 'cuda:0')."""
    if value is None or value is cpu:
        return cpu
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = device("cuda", value)
    named = value if isinstance(value, device) else device(value)
    if named.type != "cpu":
        raise DeviceError(f"swiftfunc computes on the CPU only: device '{named}' is not available "
                          f"(use device='cpu' or leave device unset)")
    return cpu
