"""jax3d.renderer.mesh."""

__all__: list[str] = []
