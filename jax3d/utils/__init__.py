"""jax3d.utils."""

__all__: list[str] = []
