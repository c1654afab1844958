"""jax3d.renderer.points."""

__all__: list[str] = []
