"""jax3d.io."""

__all__: list[str] = []
