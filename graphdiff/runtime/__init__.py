"""Running graphs with numpy: specialization, schedule, executor."""

from .function import Function, function

__all__ = ["Function", "function"]
