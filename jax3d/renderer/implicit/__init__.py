"""jax3d.renderer.implicit."""

__all__: list[str] = []
