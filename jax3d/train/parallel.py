"""Data parallelism with JAX's own engine: a device mesh, a `data` axis, `jax.jit` shardings.

The batch's leading axis is split over the mesh's `data` axis; parameters and optimizer state
are replicated; the step is one `jax.jit` whose gradient means become all-reduces (XLA SPMD).
The same code runs on one device, on N local devices, and on N hosts after
:func:`initialize_distributed` (each host then feeds its own slice of the global batch, see
:func:`host_local_to_global`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "DATA_AXIS",
    "data_sharding",
    "host_local_to_global",
    "initialize_distributed",
    "make_data_mesh",
    "replicate",
    "replicated_sharding",
    "shard_batch",
    "sharded_map",
]

DATA_AXIS = "data"


def make_data_mesh(num_devices: int | None = None, *, axis: str = DATA_AXIS) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices (all of them, every host's, if None).

    On several hosts (after :func:`initialize_distributed`) `jax.devices()` lists every host's
    devices, so the mesh spans the cluster.
    """
    devices = jax.devices()
    n = len(devices) if num_devices is None else int(num_devices)
    if not 1 <= n <= len(devices):
        hint = ""
        if n > len(devices) and devices[0].platform == "cpu":
            hint = (f"; on a CPU, set XLA_FLAGS=--xla_force_host_platform_device_count={n} "
                    "before JAX starts to get that many host devices")
        raise ValueError(f"num_devices must be in [1, {len(devices)}], got {num_devices!r}{hint}")
    # Auto axes: XLA's sharding propagation places the intermediates (the classic GSPMD
    # mode), so any model code runs unchanged under the mesh.
    auto = (jax.sharding.AxisType.Auto,)
    if n == len(devices):
        return jax.make_mesh((n,), (axis,), axis_types=auto)
    return Mesh(np.asarray(devices[:n]), (axis,), axis_types=auto)


def data_sharding(mesh: Mesh, *, axis: str = DATA_AXIS) -> NamedSharding:
    """Leading axis split over `axis`, the rest replicated: `NamedSharding(mesh, P(axis))`."""
    return NamedSharding(mesh, PartitionSpec(axis))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array: `NamedSharding(mesh, P())`."""
    return NamedSharding(mesh, PartitionSpec())


def _check_divisible(tree: Any, n: int, what: str):
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        shape = np.shape(leaf)
        if not shape or shape[0] % n:
            name = jax.tree_util.keystr(path) or what
            raise ValueError(f"{what}{name}: leading axis {shape[:1]} must be a multiple of the "
                             f"{n} devices of the data axis")  # fmt: skip


def shard_batch(batch: Any, mesh: Mesh, *, axis: str = DATA_AXIS) -> Any:
    """Place a (host-global) batch pytree on `mesh`, every leaf split along its leading axis.

    Raises:
        ValueError: a leaf's leading axis is not a multiple of the number of devices on `axis`.
    """
    _check_divisible(batch, mesh.shape[axis], "batch")
    return jax.device_put(batch, data_sharding(mesh, axis=axis))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place `tree` on every device of `mesh` (parameters, optimizer state, cameras, ...)."""
    return jax.device_put(tree, replicated_sharding(mesh))


def host_local_to_global(local_batch: Any, mesh: Mesh, *, axis: str = DATA_AXIS) -> Any:
    """Build global arrays from each host's slice of the batch (multi-host data loading).

    Host `p` passes its own `(B / num_hosts, ...)` rows; the result is the `(B, ...)` global
    batch sharded over `axis`. On one host it equals :func:`shard_batch`.
    """
    sharding = data_sharding(mesh, axis=axis)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
    )


def sharded_map(fn: Callable, mesh: Mesh, *, axis: str = DATA_AXIS, static_argnums=()):
    """`jax.jit(fn)` with every positional argument's leaves split along their leading axis.

    The batch rendering of many cameras spreads over devices this way:
    `sharded_map(lambda cams: renderer(meshes.extend(len(cams)), cameras=cams), mesh)(cams)`.
    Each argument's leading axis is the batch (N cameras, N meshes, ...) and must be a multiple
    of the device count; outputs come back sharded the same way (`np.asarray` gathers them).
    Arguments that must be replicated (a shared mesh, a field's parameters) belong in `fn`'s
    closure.
    """
    jitted = jax.jit(fn, static_argnums=static_argnums)

    def call(*args):
        placed = [
            a if i in static_argnums else shard_batch(a, mesh, axis=axis)
            for i, a in enumerate(args)
        ]
        return jitted(*placed)

    return call


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: list[int] | None = None,
    *,
    cpu_collectives: str | None = "gloo",
) -> tuple[int, int]:
    """Join a multi-host run (`jax.distributed.initialize`); returns `(process_id, count)`.

    Arguments default to the environment: `JAX3D_COORDINATOR` (host:port of process 0),
    `JAX3D_NUM_PROCESSES`, `JAX3D_PROCESS_ID`; with none of them JAX's own cluster detection
    runs (SLURM, Open MPI, TPU pod slices, GKE), as in `jax.distributed.initialize()`.
    Call it once, first thing, before any other JAX call. With CPU devices, cross-process
    collectives need an implementation (`cpu_collectives`, gloo by default).
    """
    env = os.environ
    coordinator_address = coordinator_address or env.get("JAX3D_COORDINATOR")
    if num_processes is None and "JAX3D_NUM_PROCESSES" in env:
        num_processes = int(env["JAX3D_NUM_PROCESSES"])
    if process_id is None and "JAX3D_PROCESS_ID" in env:
        process_id = int(env["JAX3D_PROCESS_ID"])
    if cpu_collectives is not None:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
    )
    return jax.process_index(), jax.process_count()
