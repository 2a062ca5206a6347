"""Pytrees at the entry and exit of the differentiation functions.

``grad``, ``vjp``, ``jvp`` and ``jacobian`` take nested dicts, lists and tuples of tensors where
they take several (as JAX does) and answer in the same structure. The drivers themselves work on
flat lists; these helpers flatten what comes in and rebuild what goes out, and nothing else.
A single tensor stays a single tensor and a list a list (the conventions of DESIGN.md), since
both are pytrees whose rebuilt form is what they were.
"""

from __future__ import annotations

from typing import Any

from ..api.pytree import LEAF, TreeDef, flatten, unflatten
from ..errors import GradientError, user_location

__all__ = ["LEAF", "flatten", "unflatten", "leaves_like"]


def leaves_like(fn: str, tree: TreeDef, values: Any, what: str, like: str) -> list[Any]:
    """The leaves of ``values``, which must have the structure ``tree`` (that of ``like``).

    Where ``tree`` has a tensor, ``values`` has one value whatever it is (an array, a list of
    numbers): it is not taken apart. Lists and tuples stand for each other, and one value
    stands for a list of one (as before pytrees).
    """
    leaves: list[Any] = []
    if tree.kind in ("list", "tuple") and len(tree.children) == 1 \
            and not isinstance(values, list | tuple):
        values = [values]
    if not _collect(tree, values, leaves):
        _, given = flatten(values)
        raise GradientError(f"{fn}: {tree.num_leaves} {like} but {given.num_leaves} {what}, or "
                            f"not in the same structure (the {like} are {tree}, the {what} "
                            f"{given}) (at {user_location()})")
    return leaves


def _collect(tree: TreeDef, values: Any, leaves: list[Any]) -> bool:
    if tree == LEAF:
        leaves.append(values)
        return True
    if tree.kind == "none":
        return values is None
    if tree.kind == "dict":
        if not isinstance(values, dict) or set(values) != set(tree.keys):
            return False
        return all(_collect(c, values[k], leaves) for k, c in zip(tree.keys, tree.children))
    if not isinstance(values, list | tuple) or len(values) != len(tree.children):
        return False
    return all(_collect(c, v, leaves) for c, v in zip(tree.children, values))
