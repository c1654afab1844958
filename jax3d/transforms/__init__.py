"""jax3d.transforms."""

__all__: list[str] = []
