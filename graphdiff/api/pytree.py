"""Pytrees: a tensor, or nested tuples, lists and dicts of them, as JAX defines them.

Arguments that hold several tensors (loop carries, scanned inputs, branch operands) are pytrees;
``flatten`` gives their leaves in a fixed order (dict keys sorted) and a ``TreeDef`` that
``unflatten`` uses to rebuild the same structure from new leaves. ``None`` is an empty subtree.

>>> leaves, tree = flatten({"h": 1, "c": (2, 3)})
>>> leaves
[2, 3, 1]
>>> unflatten(tree, ["a", "b", "c"])
{'c': ('a', 'b'), 'h': 'c'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree: ``kind`` is "leaf", "none", "tuple", "list" or "dict"."""

    kind: str
    children: tuple[TreeDef, ...] = ()
    keys: tuple = ()

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __str__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = [str(c) for c in self.children]
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, inner)) + "}"
        text = ", ".join(inner) + ("," if self.kind == "tuple" and len(inner) == 1 else "")
        return f"({text})" if self.kind == "tuple" else f"[{text}]"


LEAF = TreeDef("leaf")


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of ``tree`` in order, and its structure."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> TreeDef:
    if tree is None:
        return TreeDef("none")
    if isinstance(tree, tuple | list):
        kind = "tuple" if isinstance(tree, tuple) else "list"
        return TreeDef(kind, tuple(_flatten(t, leaves) for t in tree))
    if isinstance(tree, dict):
        keys = tuple(sorted(tree))
        return TreeDef("dict", tuple(_flatten(tree[k], leaves) for k in keys), keys)
    leaves.append(tree)
    return LEAF


def unflatten(treedef: TreeDef, leaves: list[Any]) -> Any:
    """The pytree of structure ``treedef`` holding ``leaves`` (in flatten's order)."""
    it = iter(leaves)
    result = _unflatten(treedef, it)
    if next(it, _END) is not _END:
        raise ValueError(f"too many leaves for the structure {treedef}")
    return result


_END = object()


def _unflatten(treedef: TreeDef, leaves: Any) -> Any:
    if treedef.kind == "leaf":
        value = next(leaves, _END)
        if value is _END:
            raise ValueError("too few leaves for the structure")
        return value
    if treedef.kind == "none":
        return None
    children = [_unflatten(c, leaves) for c in treedef.children]
    if treedef.kind == "tuple":
        return tuple(children)
    if treedef.kind == "list":
        return children
    return dict(zip(treedef.keys, children))
