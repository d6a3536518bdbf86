"""The installed packages lie in the ranges pyproject.toml declares (the tested ones).

The training code overrides stable-baselines3 methods and reads its private attributes, the
deploy stage speaks DDS and UDP through vendor SDKs: a version outside the declared range is
untested, and this test says which one, instead of a subtle failure somewhere else.
"""

from __future__ import annotations

import importlib.metadata
import tomllib

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
REQUIREMENTS = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
REQUIREMENTS += [Requirement(r) for extra in
                 PYPROJECT["project"].get("optional-dependencies", {}).values() for r in extra]
# Pinned to a tested series: these must keep an upper bound (SB3's private API, Ray's fast-
# moving Tune API, gymnasium's env API, the robot SDKs and DDS, the simulator, pinocchio).
PINNED = ("stable-baselines3", "ray", "gymnasium", "unitree-sdk2py-dimos",
          "unitree-legged-sdk", "cyclonedds", "pybullet", "pin")


def _by_name(name: str) -> Requirement:
    return next(r for r in REQUIREMENTS if r.name.lower() == name)


@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: r.name)
def test_installed_version_is_in_the_declared_range(req):
    if req.marker is not None and not req.marker.evaluate({"extra": "dev"}):
        pytest.skip(f"{req.name}: not for this platform ({req.marker})")
    try:
        installed = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{req.name} is declared in pyproject.toml ({req}) but not installed: "
                    f"run `pip install -e '.[dev]'`")
    assert req.specifier.contains(installed, prereleases=True), (
        f"{req.name} {installed} is installed but pyproject.toml declares {req.name}"
        f"{req.specifier}: this version is untested. Install one in the range "
        f"(`pip install '{req}'`), or test this one and then widen the range in pyproject.toml.")


@pytest.mark.parametrize("name", PINNED)
def test_fragile_dependencies_have_an_upper_bound(name):
    req = _by_name(name)
    bounded = any(s.operator in ("<", "<=", "==", "~=", "===") for s in req.specifier)
    lower = any(s.operator in (">", ">=", "==", "~=", "===") for s in req.specifier)
    assert bounded and lower, (
        f"{name} must be pinned to a tested series in pyproject.toml (lower and upper bound), "
        f"found {name}{req.specifier or ' (no version)'}")


def test_torch_is_not_a_declared_dependency():
    # The Makefile installs the CPU build first and pinned; a torch requirement here could make
    # pip pull the CUDA build.
    assert "torch" not in {r.name.lower() for r in REQUIREMENTS}
