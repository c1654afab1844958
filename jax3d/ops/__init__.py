"""jax3d.ops."""

__all__: list[str] = []
