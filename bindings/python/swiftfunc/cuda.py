"""torch.cuda as a CPU-only torch build has it: swiftfunc computes on the CPU, so there is no CUDA
device. Programs that ask (`'cuda' if torch.cuda.is_available() else 'cpu'`) choose the CPU; the
seeding functions do nothing, as torch's do without a device; anything that needs a device raises
DeviceError (torch raises an AssertionError, "Torch not compiled with CUDA enabled")."""
from ._errors import DeviceError

__all__ = ["is_available", "device_count", "is_initialized", "manual_seed", "manual_seed_all", "current_device",
           "synchronize", "empty_cache"]


def is_available():
    """False: swiftfunc has no CUDA device."""
    return False


def device_count():
    """0: swiftfunc has no CUDA device."""
    return 0


def is_initialized():
    """False: there is no CUDA state."""
    return False


def manual_seed(seed):
    """Does nothing (no CUDA generator), as torch.cuda.manual_seed without a device."""
    del seed


def manual_seed_all(seed):
    """Does nothing (no CUDA generator), as torch.cuda.manual_seed_all without a device."""
    del seed


def empty_cache():
    """Does nothing (no CUDA memory); swiftfunc.empty_cache() releases swiftfunc's cached CPU blocks."""


def _no_device(name):
    raise DeviceError(f"swiftfunc.cuda.{name}: swiftfunc computes on the CPU only; there is no CUDA device")


def current_device():
    """Raises DeviceError: there is no CUDA device."""
    _no_device("current_device")


def synchronize(device=None):
    """Raises DeviceError: there is no CUDA device."""
    del device
    _no_device("synchronize")
