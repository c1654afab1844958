"""jax3d.structures."""

__all__: list[str] = []
