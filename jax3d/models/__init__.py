"""jax3d.models."""

__all__: list[str] = []
