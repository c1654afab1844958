"""The immutable-pytree base shared by ``Meshes``, ``Pointclouds`` and ``Volumes``.

A subclass lists its array fields in ``_fields`` (pytree leaves, which jit/vmap/grad trace) and
its shape- or behaviour-setting fields in ``_static`` (pytree aux data, hashable), declares
``__slots__ = _fields + _static``, and registers itself with
``jax.tree_util.register_pytree_node_class``. Its user-facing ``__init__`` validates and then calls
``self._assign(values)``; everything else (unflattening, ``replace``, indexing results) goes
through ``_from_fields``, which skips validation.
"""

from __future__ import annotations

__all__ = ["ImmutablePytree"]


class ImmutablePytree:
    """Immutable, slot-based pytree: fields set once, changed only through ``replace``."""

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
        raise AttributeError(
            f"{type(self).__name__} is immutable: cannot set {name!r}; use .replace(...)"
        )

    def replace(self, **changes):
        """A copy with some raw fields replaced (no validation, like ``flax``'s ``replace``)."""
        names = self._fields + self._static
        unknown = set(changes) - set(names)
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} fields {sorted(unknown)}; "
                            f"fields are {names}")  # fmt: skip
        return type(self)._from_fields(*(changes.get(f, getattr(self, f)) for f in names))
