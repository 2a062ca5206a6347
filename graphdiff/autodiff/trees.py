"""Pytrees at the entry and exit of the differentiation functions.

``grad``, ``vjp``, ``jvp`` and ``jacobian`` take nested dicts, lists and tuples of tensors where
they take several (as JAX does) and answer in the same structure. The drivers themselves work on
flat lists; these helpers flatten what comes in and rebuild what goes out, and nothing else.
A single tensor stays a single tensor and a list a list (the conventions of DESIGN.md), since
both are pytrees whose rebuilt form is what they were.
"""

from __future__ import annotations

from typing import Any

from ..api.pytree import LEAF, TreeDef, flatten, flatten_like, unflatten
from ..errors import GradientError, user_location

__all__ = ["LEAF", "flatten", "unflatten", "leaves_like"]


def leaves_like(fn: str, tree: TreeDef, values: Any, what: str, like: str) -> list[Any]:
    """The leaves of ``values``, which must have the structure ``tree`` (that of ``like``), as
    ``flatten_like`` takes them; else a ``GradientError`` naming both structures."""
    leaves = flatten_like(tree, values)
    if leaves is None:
        _, given = flatten(values)
        raise GradientError(f"{fn}: {tree.num_leaves} {like} but {given.num_leaves} {what}, or "
                            f"not in the same structure (the {like} are {tree}, the {what} "
                            f"{given}) (at {user_location()})")
    return leaves
