"""The persistent compilation cache: where it lives, how it is turned off, and that every
experiment and benchmark entry point turns it on."""

from __future__ import annotations

import ast
from pathlib import Path

import jax
import pytest

from jax3d.utils import enable_compilation_cache
from jax3d.utils.compilation_cache import ENV_VAR, default_compilation_cache_dir

ROOT = Path(__file__).resolve().parents[2]


def test_default_folder_and_environment_override(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_compilation_cache_dir() == tmp_path / "xdg" / "jax3d" / "xla"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine"))
    assert default_compilation_cache_dir() == tmp_path / "mine"
    for off in ("off", "0", "false", "None", " "):
        monkeypatch.setenv(ENV_VAR, off)
        assert default_compilation_cache_dir() is None
        assert enable_compilation_cache() is None


def test_enable_sets_jax_options(tmp_path):
    old = (jax.config.jax_compilation_cache_dir,
           jax.config.jax_persistent_cache_min_compile_time_secs)  # fmt: skip
    try:
        folder = enable_compilation_cache(tmp_path / "c", min_compile_time_secs=0.5)
        assert folder == tmp_path / "c" and folder.is_dir()
        assert jax.config.jax_compilation_cache_dir == str(folder)
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.5
    finally:
        jax.config.update("jax_compilation_cache_dir", old[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", old[1])


def _scripts():
    exps = [p for p in sorted((ROOT / "experiments").glob("ch*.py"))
            if not p.stem.endswith("_common")]  # fmt: skip
    return exps + sorted((ROOT / "benchmarks").glob("bm_*.py")) + [
        ROOT / "benchmarks" / "degenerate_sweep.py"]


@pytest.mark.parametrize("path", _scripts(), ids=lambda p: p.name)
def test_every_script_turns_the_cache_on(path):
    tree = ast.parse(path.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, "id", getattr(n.func, "attr", None)) == "enable_compilation_cache"]
    assert calls, f"{path.name} never calls enable_compilation_cache()"
