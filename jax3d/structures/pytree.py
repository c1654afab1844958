"""The immutable-pytree base shared by ``Meshes``, ``Pointclouds`` and ``Volumes``.

A subclass lists its array fields in ``_fields`` (pytree leaves, which jit/vmap/grad trace) and
its shape- or behaviour-setting fields in ``_static`` (pytree aux data, hashable), declares
``__slots__ = _fields + _static``, and registers itself with
``jax.tree_util.register_pytree_node_class``. Its user-facing ``__init__`` validates and then calls
``self._assign(values)``; everything else (unflattening, ``replace``, indexing results) goes
through ``_from_fields``, which skips validation.
"""

from __future__ import annotations

from jax3d.device import DeviceMethods

__all__ = ["ImmutablePytree", "in_place_error"]


def in_place_error(owner: str, method: str, replacement: str) -> TypeError:
    """The error raised by PyTorch3D's in-place methods (``offset_verts_``, ...), naming the
    functional call that replaces them."""
    return TypeError(f"{owner}.{method}() modifies {owner} in place, and jax3d structures are "
                     f"immutable: write `{replacement}` instead")  # fmt: skip


class ImmutablePytree(DeviceMethods):
    """Immutable, slot-based pytree: fields set once, changed only through ``replace``.

    Also has PyTorch3D's device methods (``.device``, ``.to``, ``.cpu``, ``.cuda``, ``.clone``,
    ``.detach``; see ``jax3d.device.DeviceMethods``).
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _static: tuple[str, ...] = ()

    def _assign(self, values) -> None:
        """Set every field (``_fields`` then ``_static``) once, bypassing immutability."""
        names = self._fields + self._static
        values = tuple(values)
        if len(values) != len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields {names}, "
                            f"got {len(values)}")  # fmt: skip
        for name, value in zip(names, values):
            object.__setattr__(self, name, value)

    @classmethod
    def _from_fields(cls, *values):
        """A new instance from raw field values in ``_fields + _static`` order (no validation)."""
        obj = object.__new__(cls)
        obj._assign(values)
        return obj

    def tree_flatten(self):
        leaves = tuple(getattr(self, f) for f in self._fields)
        return leaves, tuple(getattr(self, s) for s in self._static)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls._from_fields(*children, *aux)

    def __setattr__(self, name, value):
        cls = type(self).__name__
        var = cls.lower()
        if name in self._fields + self._static:
            how = f"`{var} = {var}.replace({name}=...)`"
        else:
            how = f"a new {cls} (fields: {', '.join(self._fields + self._static)})"
        raise AttributeError(f"{cls} is immutable: cannot set {name!r}; use {how}")

    def replace(self, **changes):
        """A copy with some raw fields replaced (no validation, like ``flax``'s ``replace``)."""
        names = self._fields + self._static
        unknown = set(changes) - set(names)
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} fields {sorted(unknown)}; "
                            f"fields are {names}")  # fmt: skip
        return type(self)._from_fields(*(changes.get(f, getattr(self, f)) for f in names))
