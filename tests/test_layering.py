"""The package layering, read from the source with ``ast`` (no imports, well under a second).

Layers, bottom to top (a module may import its own layer and the layers below)::

    0  jax3d.device, jax3d.prng, jax3d.safe_math, jax3d.validation   shared helpers
    1  jax3d.structures                                               Meshes, Pointclouds, ...
    2  jax3d.io, jax3d.transforms, jax3d.renderer.cameras             readers return structures
    3  jax3d.renderer, jax3d.ops, jax3d.loss, jax3d.utils             peers
    4  jax3d.metrics, jax3d.nn, jax3d.datasets, jax3d.train, jax3d.vis
    5  jax3d.models
    6  experiments, benchmarks                                        (nothing imports them)

(The README's ``io -> structures -> transforms/cameras -> renderer/ops/loss -> models ->
experiments``: io sits with transforms because its loaders build ``Meshes``, as in
PyTorch3D.) Every ``import`` statement counts, including the deferred ones inside functions.

A second rule: a private name (``_x``, or anything from a private module ``_x.py``) is
imported only from modules of the importer's own package (directory). Exceptions to both rules
are the explicit allow-lists below, each with its reason; an entry that no longer matches an
import is an error too, so the lists only shrink.
"""

from __future__ import annotations

import ast
import functools
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

LAYERS = {
    "jax3d": 0,  # the root __init__ (its subpackages are loaded by importlib, on access)
    "jax3d.device": 0,
    "jax3d.prng": 0,
    "jax3d.safe_math": 0,
    "jax3d.validation": 0,
    "jax3d.structures": 1,
    "jax3d.io": 2,
    "jax3d.transforms": 2,
    "jax3d.renderer.cameras": 2,
    "jax3d.renderer": 3,
    "jax3d.ops": 3,
    "jax3d.loss": 3,
    "jax3d.utils": 3,
    "jax3d.metrics": 4,
    "jax3d.nn": 4,
    "jax3d.datasets": 4,
    "jax3d.train": 4,
    "jax3d.vis": 4,
    "jax3d.models": 5,
    "experiments": 6,
    "benchmarks": 6,
}

# (importing module, imported module) -> why an upward import is deliberate.
UPWARD_ALLOWED = {
    ("jax3d.structures.meshes", "jax3d.ops.laplacian_matrices"):
        "Meshes.laplacian_packed (PyTorch3D's method) is ops' laplacian; deferred import",
    ("jax3d.structures.pointclouds", "jax3d.ops.points_normals"):
        "Pointclouds.estimate_normals (PyTorch3D's method) is ops'; deferred import",
    ("jax3d.structures.volumes", "jax3d.transforms"):
        "Volumes hold a local-to-world Transform3d, as PyTorch3D's Volumes",
    ("jax3d.io.obj_meshes", "jax3d.renderer.mesh.textures"):
        "load_obj / load_objs_as_meshes return textured Meshes, as PyTorch3D's io",
    ("jax3d.io.pluggable_io", "jax3d.renderer.mesh.textures"):
        "IO().load_mesh returns textured Meshes, as PyTorch3D's io",
    ("jax3d.renderer.cameras.base", "jax3d.renderer.utils"):
        "cameras are TensorProperties, defined in renderer.utils as in PyTorch3D",
}

# (importing module, imported module) -> why a private name crosses a package boundary.
PRIVATE_ALLOWED = {
    ("jax3d.loss.mesh_edge_loss", "jax3d.ops._padded_edges"):
        "padded edge lists shared by the mesh losses and ops (one implementation)",
    ("jax3d.loss.mesh_laplacian_smoothing", "jax3d.ops._padded_edges"):
        "padded edge lists shared by the mesh losses and ops (one implementation)",
    ("jax3d.loss.mesh_normal_consistency", "jax3d.ops._padded_edges"):
        "padded edge lists shared by the mesh losses and ops (one implementation)",
    ("jax3d.models.mesh_rcnn.heads", "jax3d.ops._padded_edges"):
        "Mesh R-CNN's graph convolution uses the same padded edge lists",
    ("jax3d.renderer.utils", "jax3d.ops.vert_align"):
        "ndc_grid_sample reuses vert_align's batched bilinear sampler",
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources():
    for top in ("jax3d", "experiments", "benchmarks"):
        yield from sorted((ROOT / top).rglob("*.py"))


def _imports(path: pathlib.Path):
    """``(imported module, [names])`` of every import statement of the file (relative imports
    resolved), deferred ones included."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield name, [alias.name for alias in node.names]


def _layer(module: str) -> int | None:
    """Layer of the longest prefix of ``module`` in LAYERS (None: not ours)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        layer = LAYERS.get(".".join(parts[:n]))
        if layer is not None:
            return layer
    return None


@functools.cache
def _is_package(module: str) -> bool:
    return (ROOT / module.replace(".", "/")).is_dir()


def _package_of(module: str) -> str:
    return module if _is_package(module) else module.rpartition(".")[0]


def _private(module: str, names) -> bool:
    in_private_module = any(p.startswith("_") and not p.startswith("__")
                            for p in module.split("."))  # fmt: skip
    return in_private_module or any(n.startswith("_") and not n.startswith("__") for n in names)


def _scan():
    upward, private, unknown = {}, {}, []
    for path in _sources():
        importer = _module_name(path)
        own = _layer(importer)
        if own is None:
            unknown.append(importer)
            continue
        for imported, names in _imports(path):
            if imported.split(".")[0] not in ("jax3d", "experiments", "benchmarks"):
                continue
            layer = _layer(imported)
            if layer is None:
                unknown.append(imported)
            elif layer > own:
                upward.setdefault((importer, imported), []).append(names)
            importer_pkg = path.parent.relative_to(ROOT).as_posix().replace("/", ".")
            if _private(imported, names) and _package_of(imported) != importer_pkg:
                private.setdefault((importer, imported), []).append(names)
    return upward, private, unknown


@pytest.fixture(scope="module")
def scan():
    return _scan()


def test_every_module_has_a_layer(scan):
    assert scan[2] == [], "add these modules to LAYERS"


def test_no_upward_imports(scan):
    bad = sorted(set(scan[0]) - set(UPWARD_ALLOWED))
    assert bad == [], "upward imports (importer, imported): move the code or allow-list it"


def test_no_private_names_across_packages(scan):
    bad = sorted(set(scan[1]) - set(PRIVATE_ALLOWED))
    assert bad == [], "private names imported across packages: make them public or allow-list"


def test_allow_lists_have_no_stale_entries(scan):
    assert sorted(set(UPWARD_ALLOWED) - set(scan[0])) == []
    assert sorted(set(PRIVATE_ALLOWED) - set(scan[1])) == []


def test_scanner_sees_an_upward_and_a_private_import(tmp_path, monkeypatch):
    """The checks can fail: a structures module importing the renderer and a private ops name
    is reported by both."""
    pkg = tmp_path / "jax3d" / "structures"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text(
        "def f():\n    from jax3d.renderer.mesh import shader\n"
        "    from jax3d.ops.knn import _knn\n    from . import _local\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    _is_package.cache_clear()
    upward, private, unknown = _scan()
    assert set(upward) == {("jax3d.structures.bad", "jax3d.renderer.mesh"),
                           ("jax3d.structures.bad", "jax3d.ops.knn")}
    assert set(private) == {("jax3d.structures.bad", "jax3d.ops.knn")}
    assert unknown == []
    _is_package.cache_clear()
