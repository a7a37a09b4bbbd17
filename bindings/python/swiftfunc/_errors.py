"""Exceptions: one class per sf_status, all under `swiftfunc.Error`.

Each class also derives from the built-in exception a Python (or torch) user would catch for that
kind of problem, so `except ValueError` and `except RuntimeError` keep working after a port.

The sf_status values are defined here, once, and nowhere else in Python: each class takes its `status`
from them, and `_capi` re-exports them as `_capi.OK`, `_capi.ERR_CALLBACK`, ... with the header's other
constants (Tests/python/test_errors.py compares them with the sf_status enum of include/swiftfunc.h).
"""

__all__ = [
    "Error",
    "InvalidArgumentError",
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "OutOfMemoryError",
    "TransformError",
    "CallbackError",
    "UnsupportedError",
    "InternalError",
]

# sf_status (include/swiftfunc.h)
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_SHAPE = 2
ERR_DTYPE = 3
ERR_DEVICE = 4
ERR_OUT_OF_MEMORY = 5
ERR_TRANSFORM = 6
ERR_CALLBACK = 7
ERR_UNSUPPORTED = 8
ERR_INTERNAL = 9


class Error(Exception):
    """A failed libswiftfunc call: `status` is the sf_status, `message` the sf_last_error() text."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidArgumentError(Error, ValueError):
    """SF_ERR_INVALID_ARGUMENT: a bad dim, option or missing value."""

    status = ERR_INVALID_ARGUMENT


class ShapeError(Error, ValueError, RuntimeError):
    """SF_ERR_SHAPE: shapes that do not fit the op (torch raises RuntimeError for these)."""

    status = ERR_SHAPE


class DTypeError(Error, TypeError):
    """SF_ERR_DTYPE: a dtype the op does not accept."""

    status = ERR_DTYPE


class DeviceError(Error, ValueError, RuntimeError, BufferError):
    """SF_ERR_DEVICE: a device other than the CPU, the only one swiftfunc has: a DLPack tensor that is not on
    the CPU, or device='cuda' (or any other device) asked of a creation function, Tensor.to or Module.to.

    A RuntimeError, as torch raises for a device it does not have; a BufferError, as the DLPack protocol
    and the array API's from_dlpack report a device they cannot exchange with."""

    status = ERR_DEVICE


class OutOfMemoryError(Error, MemoryError):
    """SF_ERR_OUT_OF_MEMORY: an allocation failed."""

    status = ERR_OUT_OF_MEMORY


class TransformError(Error, RuntimeError):
    """SF_ERR_TRANSFORM: misuse of a transform, e.g. an escaped traced value, or reading values under vmap."""

    status = ERR_TRANSFORM


class CallbackError(Error, RuntimeError):
    """SF_ERR_CALLBACK: a host callback failed without a Python exception to re-raise."""

    status = ERR_CALLBACK


class UnsupportedError(Error, NotImplementedError):
    """SF_ERR_UNSUPPORTED: a valid request this version cannot serve."""

    status = ERR_UNSUPPORTED


class InternalError(Error, RuntimeError):
    """SF_ERR_INTERNAL: a bug in swiftfunc; please report it."""

    status = ERR_INTERNAL


_BY_STATUS = {cls.status: cls for cls in (InvalidArgumentError, ShapeError, DTypeError, DeviceError, OutOfMemoryError,
                                          TransformError, CallbackError, UnsupportedError, InternalError)}


def error_for_status(status, message):
    """The exception for a nonzero sf_status (unknown statuses become InternalError)."""
    cls = _BY_STATUS.get(status, InternalError)
    return cls(message or f"swiftfunc call failed with status {status}", status)
