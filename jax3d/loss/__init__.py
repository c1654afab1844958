"""jax3d.loss."""

__all__: list[str] = []
