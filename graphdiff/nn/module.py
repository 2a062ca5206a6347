"""``Module``: a layer or model owning variables, whose parameters form a named pytree.

A module's attributes that are variables are its parameters, its attributes that are modules
its children, and dicts, lists and tuples of either are followed too (an LSTM keeps one weight
per gate in a dict). ``parameters()`` collects them, in the order they were assigned, into a
nested dict keyed by attribute name; every variable name in the tree must be unique, since
checkpoints (``gd.save``) find values by name.

The mode (``train()`` / ``eval()``, ``training``) is read when a module builds its nodes: the
graph is static, so a model called in training mode makes a training graph (Dropout masks) and
called again after ``eval()`` makes an inference graph. Call it once per mode.

>>> import numpy as np, graphdiff as gd
>>> class Affine(Module):
...     def __init__(self):
...         super().__init__("affine")
...         self.scale = self.variable("scale", np.ones(2))
...         self.shift = {"a": self.variable("a", np.zeros(2))}
...     def __call__(self, x):
...         return x * self.scale + self.shift["a"]
>>> tree = Affine().parameters()
>>> tree["scale"].name, tree["shift"]["a"].name
('affine.scale', 'affine.a')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..api.pytree import flatten
from ..errors import GraphdiffError, user_location
from ..ir import Node
from ..ops.source import VARIABLE
from ..ops.source import variable as _variable


class Module:
    """Something with parameters (possibly none) that builds nodes when called."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.training = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def variable(self, label: str, value: np.ndarray) -> Node:
        """A parameter named ``<module name>.<label>``, initialized to ``value``."""
        return _variable(value, name=f"{self.name}.{label}")

    def parameters(self) -> dict[str, Any]:
        """The variables of this module and its children, as a nested dict by attribute name
        (``GraphdiffError`` if two of them share a name)."""
        tree = self._collect()
        names: dict[str, Node] = {}
        for leaf in flatten(tree)[0]:
            if leaf.name in names:
                raise GraphdiffError(
                    f"{type(self).__name__} {self.name!r}: the variable name {leaf.name!r} is "
                    f"used twice in its parameters; give the layers distinct names (or share "
                    f"a layer by keeping one reference to it) (at {user_location()})")
            names[leaf.name] = leaf
        return tree

    def _collect(self) -> dict[str, Any]:
        """The parameter tree, keyed by attribute name (containers may key otherwise)."""
        return {key: sub for key, value in vars(self).items()
                if (sub := _tree_of(value)) is not None}

    def children(self) -> list[Module]:
        """The modules directly held by this one."""
        found: list[Module] = []
        for value in vars(self).values():
            _modules_in(value, found)
        return found

    def train(self, mode: bool = True) -> Module:
        """Set the mode of this module and every child (returns self, as torch does)."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """``train(False)``: Dropout passes its input through."""
        return self.train(False)


def _tree_of(value: Any) -> Any:
    """The parameter tree found in one attribute, or None if it holds no variable."""
    if isinstance(value, Module):
        tree = value.parameters()
        return tree or None
    if isinstance(value, Node):
        return value if value.op is VARIABLE else None
    if isinstance(value, dict):
        items = {k: sub for k, v in value.items() if (sub := _tree_of(v)) is not None}
        return items or None
    if isinstance(value, list | tuple):
        items = {str(i): sub for i, v in enumerate(value) if (sub := _tree_of(v)) is not None}
        return items or None
    return None


def _modules_in(value: Any, found: list[Module]) -> None:
    if isinstance(value, Module):
        found.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _modules_in(v, found)
    elif isinstance(value, list | tuple):
        for v in value:
            _modules_in(v, found)
