"""PyTorch3D API parity: every public name of PyTorch3D's ``io``, ``structures``, ``transforms``,
``renderer``, ``ops``, ``loss`` and ``utils`` exists in the matching ``jax3d`` module with the
same parameter names, order and defaults, except the entries of the allow-lists below, each
with its reason.

The reference is ``../shared/reference/pytorch3d_api.json`` (PyTorch3D 0.7.9's signatures, read
from its source); the test skips when it is absent (a clean clone). What "the same" means:

- PyTorch3D's positional parameters are jax3d's leading positional parameters, in order, with
  the same names; its keyword-only parameters exist in jax3d (positional or keyword-only);
  ``*args`` / ``**kwargs`` exist where PyTorch3D has them.
- Defaults agree (literals compared by value; ``_R``/``_T`` (identity, zero) are ``None`` in
  jax3d; ``torch.float32`` is ``jnp.float32``; ``device`` defaults to ``None``, JAX's default
  placement, where PyTorch3D says ``"cpu"``; see ``jax3d.device``); a required PyTorch3D
  parameter is required in jax3d.
- jax3d may add parameters after PyTorch3D's positional ones (with defaults) or keyword-only
  ones with defaults; the one extra required keyword-only parameter allowed is ``key``, the
  PRNG key of functions that sample.
- Classes: ``__init__`` (the dataclass fields when PyTorch3D's class has no ``__init__``),
  ``forward`` (jax3d's ``__call__``) and every public method listed. A PyTorch3D class may be
  a jax3d function returning an object (e.g. ``Translate``); its methods are then looked up on
  the function's return type.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import typing
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
API_JSON = REFERENCE_DIR / "pytorch3d_api.json"
MODULES = ("io", "structures", "transforms", "renderer", "ops", "loss", "utils")

# PyTorch3D constants used as defaults (from its source).
CONSTANTS = {
    "_DEFAULT_MIN_TRIANGLE_AREA": 5e-3,
    "DEFAULT_ACOS_BOUND": 1.0 - 1e-4,
}

# ----------------------------------------------------------------------------------------------
# Allow-list: "Name" (the whole name) or "Name.method" (one method; "Name.__init__", ...) ->
# the reason jax3d differs.
# ----------------------------------------------------------------------------------------------
ALLOWED = {
    # -- not provided --
    "PulsarPointsRenderer": "pulsar is PyTorch3D's separate sphere-tracing CUDA renderer; "
    "jax3d renders points with PointsRenderer only",
    "pulsar_from_cameras_projection": "parameters of the pulsar renderer, which jax3d lacks",
    "pulsar_from_opencv_projection": "parameters of the pulsar renderer, which jax3d lacks",
    # -- immutability --
    "TensorProperties.clone": "PyTorch3D's clone(other) copies into `other` in place; jax3d "
    "objects are immutable, so clone() returns the copy",
    # -- narrower or wider than PyTorch3D --
    "TexturesUV.__init__": "maps_ids (several texture maps per mesh, chosen per face) is not "
    "supported: one map per mesh",
    "TexturesUV.maps_ids_list": "several texture maps per mesh (maps_ids) are not supported",
    "TexturesUV.maps_ids_padded": "several texture maps per mesh (maps_ids) are not supported",
    "SplatterPhongShader": "the splatting blender of Cole et al. (2021) is not implemented; "
    "soft rendering uses SoftPhongShader / softmax_rgb_blend (SoftRas)",
    "SplatterBlender": "the splatting blender of Cole et al. (2021) is not implemented; "
    "soft rendering uses SoftPhongShader / softmax_rgb_blend (SoftRas)",
    "opencv_from_cameras_projection": "image_size may be omitted (default None) when the "
    "cameras store one; PyTorch3D requires it",
}



def _load_api() -> dict:
    if not API_JSON.exists():
        pytest.skip(f"PyTorch3D API listing {API_JSON} is absent (clean clone)")
    return json.loads(API_JSON.read_text())


# ----------------------------------------------------------------------------------------------
# Signature comparison.
# ----------------------------------------------------------------------------------------------


def _ref_default(name: str, text: str | None):
    """PyTorch3D's default (source text) as the value jax3d should have."""
    if text in ("_R", "_T"):
        return None
    if text in ("torch.float32",):
        return jnp.float32
    if name == "device" and text in ("'cpu'", '"cpu"'):
        return None
    expr = text
    for k, v in CONSTANTS.items():
        expr = expr.replace(k, repr(v))
    return ast.literal_eval(expr)


def _same(ours, ref) -> bool:
    if ref is jnp.float32:
        return ours in (jnp.float32, np.float32, "float32")
    if ref is None or isinstance(ref, (bool, str)) or ours is None:
        return ours is ref or ours == ref
    try:
        return np.allclose(np.asarray(ours, float), np.asarray(ref, float), rtol=1e-7, atol=0)
    except (TypeError, ValueError):
        return False


def _params(fn) -> list[inspect.Parameter]:
    params = list(inspect.signature(fn).parameters.values())
    return params[1:] if params and params[0].name in ("self", "cls") else params


def _factories(cls) -> dict:
    """Default values of a dataclass's ``default_factory`` fields (shown as ``<factory>``)."""
    if not (inspect.isclass(cls) and dataclasses.is_dataclass(cls)):
        return {}
    return {f.name: f.default_factory() for f in dataclasses.fields(cls)
            if f.default_factory is not dataclasses.MISSING}  # fmt: skip


def compare(ref_params: list[dict], fn, owner=None) -> list[str]:
    """Differences between PyTorch3D's parameters and ``fn``'s (empty when compatible);
    ``owner``: the dataclass whose ``__init__`` ``fn`` is, to read its default factories."""
    P = inspect.Parameter
    factories = _factories(owner)
    ours = _params(fn)
    by_name = {p.name: p for p in ours}
    positional = [p for p in ours if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    problems = []
    ref_pos = [r for r in ref_params if r["kind"] == "positional"]
    for i, r in enumerate(ref_pos):
        if i >= len(positional) or positional[i].name != r["name"]:
            got = positional[i].name if i < len(positional) else "nothing"
            problems.append(f"positional #{i} should be {r['name']!r}, is {got}")
    ref_names = {r["name"] for r in ref_params}
    for r in ref_params:
        if r["kind"] == "varargs":
            if not any(p.kind == P.VAR_POSITIONAL for p in ours):
                problems.append("*args missing")
            continue
        if r["kind"] == "varkw":
            if not any(p.kind == P.VAR_KEYWORD for p in ours):
                problems.append("**kwargs missing")
            continue
        p = by_name.get(r["name"])
        if p is None or p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD, P.POSITIONAL_ONLY):
            problems.append(f"parameter {r['name']!r} missing")
            continue
        has_default = p.default is not P.empty
        if r["default"] is None:
            if has_default:
                problems.append(f"{r['name']!r} is required in PyTorch3D, has a default here")
            continue
        if not has_default:
            problems.append(f"{r['name']!r} has a default in PyTorch3D, is required here")
            continue
        want = _ref_default(r["name"], r["default"])
        default = factories.get(p.name) if repr(p.default) == "<factory>" else p.default
        if not _same(default, want):
            problems.append(f"{r['name']!r} default {default!r}, PyTorch3D {r['default']}")
    n_pos = len(ref_pos)
    for i, p in enumerate(ours):
        if p.name in ref_names or p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            continue
        if p.kind == P.KEYWORD_ONLY and (p.default is not P.empty or p.name == "key"):
            continue
        if p.kind == P.POSITIONAL_OR_KEYWORD and p.default is not P.empty and i >= n_pos:
            continue
        problems.append(f"extra parameter {p.name!r} ({p.kind.description}) would break calls")
    return problems


def _methods_owner(obj):
    """The class holding the methods of ``obj`` (a class, or a factory's return type)."""
    if inspect.isclass(obj):
        return obj
    ret = typing.get_type_hints(obj).get("return")
    return ret if inspect.isclass(ret) else None


def _init_params(entry: dict) -> list[dict] | None:
    if "__init__" in entry["methods"]:
        return entry["methods"]["__init__"]
    if entry["dataclass_fields"] and set(entry["bases"]) <= {"NamedTuple"}:
        return [{"name": f["name"], "kind": "positional", "default": f["default"]}
                for f in entry["dataclass_fields"]]  # fmt: skip
    return None


def check_name(module: str, name: str, entry: dict) -> dict[str, list[str]]:
    """``{"Name" or "Name.method": [problems]}`` for one PyTorch3D name."""
    jmod = importlib.import_module(f"jax3d.{module}")
    obj = getattr(jmod, name, None)
    if obj is None:
        return {name: [f"jax3d.{module}.{name} is missing"]}
    if entry["type"] == "function":
        return {name: compare(entry["params"], obj)}
    out = {}
    init = _init_params(entry)
    if init is not None:
        target = obj if not inspect.isclass(obj) else obj.__init__
        out[f"{name}.__init__"] = compare(init, target, obj)
    owner = _methods_owner(obj)
    for meth, params in entry["methods"].items():
        if meth == "__init__":
            continue
        key = f"{name}.{meth}"
        ours = meth if meth != "forward" else "__call__"
        fn = getattr(owner, ours, None) if owner is not None else None
        if meth == "forward" and owner is not None and "forward" in vars(owner):
            fn = owner.forward
        out[key] = [f"method {ours} missing"] if fn is None else compare(params, fn)
    return out


def _all_names():
    if not API_JSON.exists():
        return []
    api = json.loads(API_JSON.read_text())
    return [(m.split(".")[1], n) for m in api for n in sorted(api[m])]


def _problems(module: str, name: str) -> dict[str, list[str]]:
    entry = _load_api()[f"pytorch3d.{module}"][name]
    return {k: v for k, v in check_name(module, name, entry).items() if v}


@pytest.mark.parametrize("module,name", _all_names() or [("io", "absent")])
def test_name_matches_pytorch3d(module, name):
    problems = _problems(module, name)
    allowed = {k for k in problems if k in ALLOWED or k.split(".")[0] in ALLOWED}
    left = {k: v for k, v in problems.items() if k not in allowed}
    assert not left, f"jax3d.{module}.{name} differs from PyTorch3D: {left}"


def test_allow_list_entries_are_needed_and_explained():
    api = _load_api()
    names = {n: m.split(".")[1] for m in api for n in api[m]}
    stale = []
    for key, reason in ALLOWED.items():
        assert isinstance(reason, str) and len(reason) > 20, f"{key}: give a reason"
        name = key.split(".")[0]
        assert name in names, f"{key} is not a PyTorch3D name"
        problems = _problems(names[name], name)
        if not any(k == key or k.split(".")[0] == key for k in problems):
            stale.append(key)
    assert not stale, f"allow-list entries that now match PyTorch3D (remove them): {stale}"


def report() -> None:
    """Print every difference and the counts (``python tests/test_pytorch3d_parity.py``)."""
    api = _load_api()
    total = sum(len(v) for v in api.values())
    exact = exist = 0
    for module, name in _all_names():
        exist += hasattr(importlib.import_module(f"jax3d.{module}"), name)
        problems = _problems(module, name)
        exact += not problems
        for key, what in problems.items():
            tag = "allowed" if key in ALLOWED or key.split(".")[0] in ALLOWED else "FAIL"
            print(f"{tag:8s} {module}.{key}: {what}")
    print(f"{exist} of {total} PyTorch3D names exist in jax3d; {exact} match with no allow-list "
          f"entry")


if __name__ == "__main__":
    report()
