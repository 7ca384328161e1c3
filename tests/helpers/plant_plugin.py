"""Plant a bug in memory to check that a test catches it, without touching a file on disk (other
people's commits in a shared checkout never pick it up):

    PLANT_MODULE=graytransfer.tools.predict PLANT_OLD='text' PLANT_NEW='bug' \
        python -m pytest -p helpers.plant_plugin -s tests/tools/test_predict_export_units.py

At pytest's start the module's source with OLD replaced by NEW (exactly one match) is compiled,
and each changed function's code object (also methods, and functions behind `__wrapped__`) is
swapped in place, so every reference anywhere runs the planted code; `[plant] swapped NAME` says
which. Inert unless PLANT_MODULE is set and the plugin is named with -p. Child processes, and
modules loaded from a path (train.py), are not planted.
"""

from __future__ import annotations

import importlib
import inspect
import os
import types
from typing import Any


def _swap(old: Any, new: Any, seen: set[int]) -> None:
    if id(old) in seen:
        return
    seen.add(id(old))
    if isinstance(old, types.FunctionType) and isinstance(new, types.FunctionType):
        if old.__code__ != new.__code__:
            old.__code__ = new.__code__
            print(f"[plant] swapped {old.__qualname__}")
        return
    if isinstance(old, type) and isinstance(new, type):
        for k, v in vars(new).items():
            if k in vars(old):
                _swap(vars(old)[k], v, seen)
        return
    for attr in ("__wrapped__", "__func__", "fget"):
        if hasattr(old, attr) and hasattr(new, attr):
            _swap(getattr(old, attr), getattr(new, attr), seen)


def pytest_configure(config: Any) -> None:
    name = os.environ.get("PLANT_MODULE")
    if not name:
        return
    module = importlib.import_module(name)
    source = inspect.getsource(module)
    old, new = os.environ["PLANT_OLD"], os.environ["PLANT_NEW"]
    assert source.count(old) == 1, f"plant: {source.count(old)} matches in {name}"
    ns = {"__name__": name, "__file__": module.__file__}
    exec(compile(source.replace(old, new), module.__file__, "exec"), ns)
    seen = set()
    for key, value in ns.items():
        if key in module.__dict__:
            _swap(module.__dict__[key], value, seen)
    print(f"[plant] planted in {name}")
