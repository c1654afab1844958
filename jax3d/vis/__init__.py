"""jax3d.vis."""

__all__: list[str] = []
