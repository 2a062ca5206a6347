"""Checkpoints: ``save(path, state)`` writes a pytree of variables, ``load`` reads it back.

A checkpoint is one ``.npz`` file: each variable's value under its name, and the pytree's
structure as JSON text (an array of bytes), so loading never executes code (``allow_pickle`` is
off). The write is atomic: the file is written beside its destination under a temporary name,
flushed to disk, renamed over the destination and the folder synced, so a crash mid-save leaves
the previous checkpoint whole. ``load(path, state)`` checks every name, shape and dtype before it
changes any variable.

>>> import os, tempfile, numpy as np, graphdiff as gd
>>> w = gd.variable(np.arange(3.0), name="w")
>>> step = gd.variable(np.int64(7), name="step")
>>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
>>> gd.save(path, {"params": [w], "step": step})
>>> gd.set_value(w, np.zeros(3))
>>> gd.load(path, {"params": [w], "step": step})
>>> gd.get_value(w)
array([0., 1., 2.])
>>> gd.load(path)
{'params': [array([0., 1., 2.])], 'step': array(7)}
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from .api.pytree import TreeDef, flatten, unflatten
from .errors import CheckpointError, user_location
from .ir import Node
from .ops.source import VARIABLE

__all__ = ["save", "load"]

_TREE_KEY = "__graphdiff_tree__"  # the entry holding the structure and the leaves' names


def save(path: str | os.PathLike, state: Any) -> None:
    """Write the values of the variables in the pytree ``state`` to ``path``, atomically."""
    leaves, tree = flatten(state)
    names = _variable_names(leaves, "save")
    arrays = {name: var.data.value for name, var in zip(names, leaves)}
    arrays[_TREE_KEY] = np.frombuffer(
        json.dumps({"tree": _tree_to_json(tree), "names": names}).encode(), np.uint8)
    _atomic_write(os.fspath(path), arrays)


def load(path: str | os.PathLike, state: Any = None) -> Any:
    """With ``state`` (a pytree of variables): set each variable to the saved value of the same
    name, after checking that the names, shapes and dtypes all match (else ``CheckpointError``
    and no variable changes). Without: the saved arrays in the saved structure."""
    tree, names, arrays = _read(os.fspath(path))
    if state is None:
        return unflatten(tree, [arrays[n] for n in names])
    leaves, _ = flatten(state)
    wanted = _variable_names(leaves, "load")
    missing = sorted(set(wanted) - set(names))
    extra = sorted(set(names) - set(wanted))
    if missing or extra:
        raise CheckpointError(f"load: {os.fspath(path)!r} does not match the variables: "
                              f"missing from the file {missing}, not in the state {extra} "
                              f"(at {user_location()})")
    for name, var in zip(wanted, leaves):
        value = arrays[name]
        if value.shape != var.shape or value.dtype != var.dtype:
            raise CheckpointError(f"load: variable {name!r} is {_describe(var.dtype, var.shape)}"
                                  f", the file holds {_describe(value.dtype, value.shape)} "
                                  f"(at {user_location()})")
    for name, var in zip(wanted, leaves):
        var.data.value = arrays[name].copy()
    return None


def _describe(dtype: Any, shape: tuple) -> str:
    return f"{np.dtype(dtype).name}{list(shape)}"


def _variable_names(leaves: list, what: str) -> list[str]:
    """The names of ``leaves``, each a named variable, no name twice."""
    names: list[str] = []
    for leaf in leaves:
        if not isinstance(leaf, Node) or leaf.op is not VARIABLE:
            raise CheckpointError(f"{what}: the state must hold variables, got {leaf!r} "
                                  f"(at {user_location()})")
        if not leaf.name:
            raise CheckpointError(f"{what}: a variable {leaf.type} has no name; checkpoints "
                                  f"find values by name (gd.variable(..., name=...)) "
                                  f"(at {user_location()})")
        if leaf.name == _TREE_KEY:
            raise CheckpointError(f"{what}: the name {_TREE_KEY!r} is reserved")
        names.append(leaf.name)
    seen: set[str] = set()
    twice = sorted({n for n in names if n in seen or seen.add(n)})
    if twice:
        raise CheckpointError(f"{what}: several variables are named {twice}; a checkpoint "
                              f"needs unique names (at {user_location()})")
    return names


def _atomic_write(path: str, arrays: dict[str, np.ndarray]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CheckpointError(f"save: {path!r} is a folder; a checkpoint is one file")
    descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **arrays)  # numeric arrays only: nothing is pickled
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    # the rename is durable only once the folder's entry is on disk (POSIX; Windows has no
    # folder descriptors and makes the rename durable by itself)
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read(path: str) -> tuple[TreeDef, list[str], dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile) or _TREE_KEY not in archive:
                raise CheckpointError(f"load: {path!r} is not a graphdiff checkpoint")
            header = json.loads(archive[_TREE_KEY].tobytes().decode())
            tree, names = _tree_from_json(header["tree"]), list(header["names"])
            arrays = {name: archive[name] for name in names}
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"load: cannot read {path!r}: {error}") from error
    if tree.num_leaves != len(names):
        raise CheckpointError(f"load: {path!r} is damaged (its structure and names disagree)")
    return tree, names, arrays


def _tree_to_json(tree: TreeDef) -> dict:
    for key in tree.keys:
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise CheckpointError(f"save: dict keys must be str or int, got {key!r}")
    return {"kind": tree.kind, "children": [_tree_to_json(c) for c in tree.children],
            "keys": [[type(k).__name__, k] for k in tree.keys]}


def _tree_from_json(data: dict) -> TreeDef:
    keys = tuple(int(k) if kind == "int" else str(k) for kind, k in data["keys"])
    if data["kind"] not in ("leaf", "none", "tuple", "list", "dict"):
        raise ValueError(f"unknown pytree node kind {data['kind']!r}")
    return TreeDef(data["kind"], tuple(_tree_from_json(c) for c in data["children"]), keys)
