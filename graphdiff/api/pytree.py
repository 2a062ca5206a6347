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


def flatten_like(treedef: TreeDef, values: Any) -> list[Any] | None:
    """The leaves of ``values`` taken in the structure ``treedef``, or None if it has another.

    Where ``treedef`` has a leaf, ``values`` has one value whatever it is (an array, a list of
    numbers): it is not taken apart. Lists and tuples stand for each other, and one value
    stands for a list of one.
    """
    leaves: list[Any] = []
    if treedef.kind in ("list", "tuple") and len(treedef.children) == 1 \
            and not isinstance(values, list | tuple):
        values = [values]
    return leaves if _collect(treedef, values, leaves) else None


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


def tree_map(fn: Any, tree: Any, *rest: Any) -> Any:
    """``fn`` applied leaf by leaf to ``tree`` and trees of the same structure, rebuilt.

    >>> tree_map(lambda a, b: a + b, {"w": 1, "b": (2, 3)}, {"w": 10, "b": (20, 30)})
    {'b': (22, 33), 'w': 11}
    """
    leaves, treedef = flatten(tree)
    others = [flatten_like(treedef, r) for r in rest]
    if any(o is None for o in others):
        raise ValueError(f"tree_map: the trees differ in structure from {treedef}")
    return unflatten(treedef, [fn(*args) for args in zip(leaves, *others)])


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
