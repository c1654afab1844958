"""Import the ch05 experiment scripts as modules (shared by the ch05 smoke tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def load(name: str):
    """The module ``experiments/<name>.py`` (cached in ``sys.modules``)."""
    if name in sys.modules:
        return sys.modules[name]
    if str(EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
