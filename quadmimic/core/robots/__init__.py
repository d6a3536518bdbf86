"""Robot specs: one module per robot in this package, each defining ``SPEC``.

Adding a robot = adding one file here, its actuator figures (``RobotSpec.actuator``) and
backend facts (``RobotSpec.legged_sdk_type``) included; :func:`get_robot` and
:func:`robot_names` find it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from quadmimic.core.errors import RobotSpecError
from quadmimic.core.robots.spec import LEG_NAMES, NUM_JOINTS, RobotSpec

__all__ = ["LEG_NAMES", "NUM_JOINTS", "RobotSpec", "get_robot", "robot_names"]


@functools.cache
def _registry() -> dict[str, RobotSpec]:
    specs: dict[str, RobotSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in ("spec", "actuator"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, RobotSpec):
            specs[spec.name] = spec
    return specs


def robot_names() -> list[str]:
    """Names of every robot with a spec file, sorted."""
    return sorted(_registry())


def get_robot(name: str) -> RobotSpec:
    """The spec of robot ``name`` (case-insensitive).

    Raises:
        RobotSpecError: No spec file defines that robot.
    """
    specs = _registry()
    key = name.strip().lower()
    if key not in specs:
        raise RobotSpecError(f"unknown robot {name!r}; known robots: {', '.join(sorted(specs))}")
    return specs[key]
