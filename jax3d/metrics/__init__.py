"""jax3d.metrics."""

__all__: list[str] = []
