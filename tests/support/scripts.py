"""The benchmark scripts under benchmarks/gpu/ as modules a test can call: they are scripts, not a package."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from playbook.core.profiles import REPO_ROOT


def load_gpu_script(name: str) -> ModuleType:
    """``benchmarks/gpu/<name>.py``, imported once. It is registered in ``sys.modules`` (a dataclass looks its module
    up there) and ``benchmarks/`` is put on the path (a script imports ``_common`` as a top-level module)."""
    if name in sys.modules:
        return sys.modules[name]
    if str(REPO_ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / "gpu" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
