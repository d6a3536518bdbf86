"""The import rules of the layers, read from the source with ``ast`` (nothing is imported).

``quadmimic.core`` ← ``motion_retarget`` ← ``sim_training`` ← ``robot_deploy`` ← ``adaptation``
← ``quadmimic`` (the command line): a module imports only its own layer and the layers before
it, the core imports no stage, nobody imports another package's private names or modules, and
every stage declares its public names in ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.conftest import REPO

LAYERS = ("quadmimic.core", "motion_retarget", "sim_training", "robot_deploy", "adaptation",
          "quadmimic")
"""Bottom first; a module belongs to the first layer (longest prefix) that names it."""
STAGES = LAYERS[1:5]


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name (None: not the project's)."""
    for layer in sorted(LAYERS, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages: dotted name → file."""
    out = {}
    for top in ("quadmimic", "motion_retarget", "sim_training", "robot_deploy", "adaptation"):
        for path in sorted((REPO / top).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = project_modules()


def imports_of(name: str, path: Path) -> list[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) of every import in a module.

    Imports inside functions and ``TYPE_CHECKING`` blocks count: they are dependencies too.
    Relative imports are resolved against the module's package.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in MODULES:  # ``from package import module``
                    out.append((node.lineno, full, None))
                else:
                    out.append((node.lineno, base, alias.name))
    return out


def unit_of(module: str) -> str:
    """The package a private name is private to: the core, the CLI layer, or a stage."""
    layer = layer_of(module) or module
    return layer


def test_every_module_is_in_a_layer():
    assert MODULES
    assert all(layer_of(name) is not None for name in MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_layers(name):
    """A module imports its own layer and those before it; the core imports no stage."""
    mine = LAYERS.index(layer_of(name))
    wrong = []
    for line, module, _ in imports_of(name, MODULES[name]):
        theirs = layer_of(module)
        if theirs is not None and LAYERS.index(theirs) > mine:
            wrong.append(f"line {line}: {module} ({theirs})")
    assert not wrong, f"{name} ({LAYERS[mine]}) imports a later layer: {wrong}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_of_another_package(name):
    """``_name`` (a function, a constant or a module) is used only inside its own package."""
    wrong = []
    for line, module, imported in imports_of(name, MODULES[name]):
        if layer_of(module) is None or unit_of(module) == unit_of(name):
            continue
        private_module = any(part.startswith("_") and not part.startswith("__")
                             for part in module.split("."))
        if private_module or (imported is not None and imported.startswith("_")):
            wrong.append(f"line {line}: from {module} import {imported}")
    assert not wrong, f"{name} uses private names of another package: {wrong}"


def test_the_core_imports_no_stage():
    """Said twice on purpose: the bottom layer is what every stage may rely on."""
    for name, path in MODULES.items():
        if layer_of(name) != "quadmimic.core":
            continue
        for line, module, _ in imports_of(name, path):
            assert layer_of(module) in (None, "quadmimic.core"), (name, line, module)


@pytest.mark.parametrize("stage", [*STAGES, "quadmimic.core"])
def test_each_stage_declares_its_public_names(stage):
    tree = ast.parse(MODULES[stage].read_text())
    declared = [node for node in tree.body if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)]
    assert declared, f"{stage}/__init__.py declares no __all__"
    names = ast.literal_eval(declared[0].value)
    assert names and len(set(names)) == len(names)
    package = importlib.import_module(stage)
    for public in names:
        assert (hasattr(package, public) or f"{stage}.{public}" in MODULES), (stage, public)
