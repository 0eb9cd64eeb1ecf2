"""The shape of the code, checked with `ast`: one package per lab over a small kernel, imports pointing downwards.

core/<lab>/ is a lab package (vision, speech, translation, theory); every other module under core/ is the kernel,
except core/__main__.py, the command line's composition root, which names the labs as app.py does.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB_PACKAGES = {"vision", "speech", "translation", "theory"}
FRONT_ENDS = {"core.__main__"}
MAX_FILE_LINES, MAX_FUNCTION_LINES, MAX_SPEECH_PAGE_LINES = 400, 60, 200


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


CORE_MODULES = {module_name(path): path for path in source_files("core")}


def imported_modules(tree: ast.Module, importer: str) -> set[str]:
    """Modules of this project that `tree` imports: `from core.x import y` names core.x.y when that is a module."""
    found = set()
    package = importer if (CORE_MODULES.get(importer, Path()).name == "__init__.py") else importer.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in CORE_MODULES)
    return {name for name in found if name in CORE_MODULES}


def lab_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "core" and parts[1] in LAB_PACKAGES else None


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(ast.parse(path.read_text(encoding="utf-8")), name) - {name}
            for name, path in CORE_MODULES.items()}


def test_every_lab_is_a_package_and_the_old_homes_are_gone():
    for lab in LAB_PACKAGES:
        assert (ROOT / "core" / lab / "__init__.py").exists(), f"core/{lab}/ is not a package"
    for gone in ["core/asr.py", "core/speech.py", "core/speech_real.py", "core/speech_examples.py", "core/vision.py",
                 "core/translation.py", "core/theory.py", "core/models", "core/data", "core/viz"]:
        assert not (ROOT / gone).exists(), f"{gone} should have moved into a lab package"


def test_no_import_cycle_between_modules():
    graph = import_graph()
    # A module's package __init__ runs before it: a package importing its own modules is not a cycle back.
    edges = {name: {target for target in targets if not name.startswith(target + ".")} for name, targets in graph.items()}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target] if target in path else [name, target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("path", source_files("core", "labs"), ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_sit_at_module_level(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in (node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for node in ast.walk(function):
            assert not isinstance(node, (ast.Import, ast.ImportFrom)), (
                f"{path.relative_to(ROOT)}:{node.lineno}: import inside {function.name}()")


def test_imports_point_downwards():
    for name, targets in import_graph().items():
        if name in FRONT_ENDS:
            continue
        own_lab = lab_of(name)
        for target in targets:
            target_lab = lab_of(target)
            if own_lab is None:
                assert target_lab is None, f"the kernel module {name} imports the lab package {target}"
            else:
                assert target_lab in (None, own_lab), f"{name} imports another lab package: {target}"


@pytest.mark.parametrize("path", source_files("core"), ids=lambda path: str(path.relative_to(ROOT)))
def test_core_never_imports_streamlit(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        assert not any(name.split(".")[0] == "streamlit" for name in names), f"{path.relative_to(ROOT)} imports streamlit"


@pytest.mark.parametrize("path", source_files("core", "labs"), ids=lambda path: str(path.relative_to(ROOT)))
def test_files_and_functions_stay_small(path: Path):
    text = path.read_text(encoding="utf-8")
    limit = MAX_SPEECH_PAGE_LINES if path == ROOT / "labs" / "speech.py" else MAX_FILE_LINES
    assert len(text.splitlines()) <= limit, f"{path.relative_to(ROOT)} has {len(text.splitlines())} lines (> {limit})"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, (
                f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() has {length} lines (> {MAX_FUNCTION_LINES})")


def test_the_checks_catch_what_they_should(tmp_path):
    """The walkers above see a function-level import, a downward-pointing lab import and a sibling-lab import."""
    tree = ast.parse("import os\nfrom core import metrics\nfrom core.vision import model\n"
                     "def f():\n    import json\n")
    assert "core.metrics" in imported_modules(tree, "core.speech.model")
    assert lab_of("core.vision.model") == "vision" and lab_of("core.metrics") is None
    inner = [node for function in ast.walk(tree) if isinstance(function, ast.FunctionDef)
             for node in ast.walk(function) if isinstance(node, ast.Import)]
    assert [alias.name for node in inner for alias in node.names] == ["json"]
