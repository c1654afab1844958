"""jax3d.renderer."""

__all__: list[str] = []
