"""Lazy package exports (PEP 562): a package's public names, imported from their homes on first use.

`review-gate validate` lives in `gates` but needs only the validators, and importing Prefect costs it
two seconds; Slack's package must not load slack_sdk or Bolt until asked. Each package lists its
names by home module once, here, and gets its `__all__` and `__getattr__` back.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, Sequence[str]], namespace: dict[str, Any]
) -> tuple[list[str], Callable[[str], Any]]:
    """(`__all__`, `__getattr__`) for `package`, whose names live in `homes` (module -> names)."""
    home_of = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(home_of[name])
        # Every name of that module at once: importing `gates.commit` for `CommitReport` binds the
        # package's `commit` to the submodule, which would then shadow the function of that name.
        for other in homes[home_of[name]]:
            namespace[other] = getattr(module, other)
        return namespace[name]

    return sorted(home_of), __getattr__
