"""The Docker Space without a Docker engine: the Dockerfile's steps, the build context, the Space front matter
and the Streamlit server settings, read and checked as files."""
from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from core.vision.data import MAX_UPLOAD_BYTES
from tests.helpers import REPO

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def dockerfile_instructions(path: Path = REPO / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with comments dropped and `\\` continuations joined."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def pip_install_steps(instructions: list[tuple[str, str]] | None = None) -> list[str]:
    """Every `RUN pip install ...` command of the image, in order (the fresh-venv test replays these)."""
    instructions = instructions or dockerfile_instructions()
    return [arguments for keyword, arguments in instructions if keyword == "RUN" and arguments.startswith("pip install")]


def ignore_patterns(path: Path = REPO / ".dockerignore") -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def is_ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule for the simple patterns used here: a pattern matches a path or any folder above it."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: depth + 1]) for depth in range(len(parts))]
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        for candidate in candidates:
            if fnmatch.fnmatchcase(candidate, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(candidate.split("/")[-1], pattern[3:]):
                return True
    return False


def context_files(repo: Path = REPO) -> list[Path]:
    """The files `COPY . .` puts in the image: everything under the repository that .dockerignore keeps."""
    patterns = ignore_patterns(repo / ".dockerignore")
    kept = []
    for path in repo.rglob("*"):
        relative = path.relative_to(repo).as_posix()
        if path.is_file() and not is_ignored(relative, patterns):
            kept.append(path)
    return kept


@pytest.fixture(scope="module")
def instructions():
    return dockerfile_instructions()


def test_base_image_is_python_311_slim(instructions):
    assert instructions[0] == ("FROM", "python:3.11-slim")


def test_torch_comes_from_the_cpu_index_at_the_pinned_version(instructions):
    steps = pip_install_steps(instructions)
    torch_steps = [step for step in steps if "torch" in step]
    assert len(torch_steps) == 1 and f"--index-url {TORCH_CPU_INDEX}" in torch_steps[0]
    pinned = re.search(r"grep -E '([^']+)' requirements.txt", torch_steps[0]).group(1)
    requirements = (REPO / "requirements.txt").read_text().splitlines()
    assert [line for line in requirements if re.match(pinned, line)] == ["torch==2.13.0"]
    requirements_step = steps.index("pip install -r requirements.txt")
    assert steps.index(torch_steps[0]) < requirements_step  # torch first: nothing may pull a CUDA build before it


def test_requirements_are_copied_before_they_are_installed(instructions):
    copy_requirements = instructions.index(("COPY", "requirements.txt ./"))
    first_install = next(i for i, (keyword, arguments) in enumerate(instructions) if "pip install" in arguments)
    assert copy_requirements < first_install


def test_app_runs_as_uid_1000_after_the_installs(instructions):
    useradd = next(arguments for keyword, arguments in instructions if keyword == "RUN" and "useradd" in arguments)
    assert "--uid 1000" in useradd
    user_name = shlex.split(useradd)[-1]
    user_at = instructions.index(("USER", user_name))
    last_install = max(i for i, (keyword, arguments) in enumerate(instructions) if "pip install" in arguments)
    assert user_at > last_install
    copy_all = instructions.index(("COPY", f"--chown={user_name} . ."))
    assert last_install < copy_all  # code changes do not reinstall the requirements


def test_port_health_check_and_command(instructions):
    assert ("EXPOSE", "8501") in instructions
    healthcheck = next(arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK")
    assert "http://localhost:8501/_stcore/health" in healthcheck
    command = next(arguments for keyword, arguments in instructions if keyword == "CMD")
    assert yaml.safe_load(command) == ["python", "serve.py", "--server.port=8501", "--server.address=0.0.0.0"]


def test_build_context_keeps_the_app_and_leaves_out_local_state():
    patterns = ignore_patterns()
    for local_state in [".venv/bin/python", "runs/cnn/state.json", "test-artifacts/x.png", ".git/HEAD",
                        "core/__pycache__/x.pyc", ".pytest_cache/v", "cache/x"]:
        assert is_ignored(local_state, patterns), local_state
    kept = {path.relative_to(REPO).as_posix() for path in context_files()}
    needed = ["app.py", "serve.py", "gradio_app.py", "requirements.txt", ".streamlit/config.toml", "core/__init__.py",
              "core/checkpoints.py", "assets/vision/kmnist/examples.json", "checkpoints/README.md"]
    assert set(needed) <= kept, set(needed) - kept
    assert any(name.startswith("labs/") for name in kept)  # the lab pages
    weights = {path.relative_to(REPO).as_posix() for path in (REPO / "checkpoints").rglob("*.safetensors")}
    assert weights <= kept


def front_matter(path: Path = REPO / "README.md") -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must start with the Space's YAML front matter"
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_readme_front_matter_describes_a_docker_space():
    meta = front_matter()
    assert meta["sdk"] == "docker" and meta["app_port"] == 8501
    for key in ["title", "emoji", "colorFrom", "colorTo", "short_description", "license"]:
        assert meta.get(key), key
    colours = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}  # the Hub's choices
    assert {meta["colorFrom"], meta["colorTo"]} <= colours
    assert len(meta["short_description"]) <= 60  # the Hub rejects longer ones
    assert isinstance(meta["tags"], list) and meta["tags"]
    assert isinstance(meta.get("datasets", []), list)


def test_streamlit_server_settings():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] >= MAX_UPLOAD_BYTES // 2**20  # the largest image a lab accepts
    gradio_limit = re.search(r"^MAX_UPLOAD_MB = (\d+)", (REPO / "gradio_app.py").read_text(), re.MULTILINE).group(1)
    assert config["server"]["maxUploadSize"] == int(gradio_limit)  # both front ends take the same files
    assert config["server"]["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["theme"]["base"] in {"light", "dark"}
