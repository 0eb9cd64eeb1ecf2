"""The image's install steps in a fresh virtual environment, then the app started from a copy of the build context.

The steps are read from the Dockerfile itself (tests/test_docker.py `pip_install_steps`), so this test and the
image cannot drift apart. One thing differs: torch comes from the local CPU wheel (pip's find-links config on
this machine) instead of PyTorch's CPU index, which the development machine cannot reach. pip's wheel cache is
kept (the image sets PIP_NO_CACHE_DIR; here that would only cost download time). The copy has no shared data
folder beside it, as in the container.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ARTIFACTS, REPO, assert_no_exception, free_port, wait_for_app, wait_for_http
from tests.test_docker import TORCH_CPU_INDEX, context_files, dockerfile_instructions, pip_install_steps

INSTALL_TIMEOUT_S = 1500
START_TIMEOUT_S = 300  # serve.py loads every model and transcribes an example before the port opens


def local_step(step: str, python: str) -> str:
    """A Dockerfile `pip install` line as run here: this venv's pip, torch from the local wheel."""
    step = step.replace(f"--index-url {TORCH_CPU_INDEX}", "")
    return re.sub(r"^pip ", f"'{python}' -m pip --quiet ", step)


@pytest.fixture(scope="module")
def fresh_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("fresh-install")
    app_dir, home = root / "app", root / "home"
    home.mkdir()
    for path in context_files():
        target = app_dir / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = str(root / "venv" / "bin" / "python")
    ARTIFACTS.mkdir(exist_ok=True)
    install_log = ARTIFACTS / "fresh-install.log"
    started = time.perf_counter()
    with open(install_log, "w") as log:
        for step in pip_install_steps():
            command = local_step(step, python)
            log.write(f"$ {command}\n")
            log.flush()
            result = subprocess.run(["bash", "-c", command], cwd=app_dir, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=INSTALL_TIMEOUT_S)
            assert result.returncode == 0, f"`{command}` failed; see {install_log}"
    install_seconds = time.perf_counter() - started
    return {"root": root, "app_dir": app_dir, "home": home, "python": python, "install_seconds": install_seconds}


@pytest.mark.slow
@pytest.mark.browser
def test_fresh_venv_serves_every_page(fresh_app, page):
    python = fresh_app["python"]
    torch_build = subprocess.run([python, "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
                                 capture_output=True, text=True, check=True).stdout.split()
    assert torch_build == ["2.13.0", "None"] or torch_build == ["2.13.0+cpu", "None"]  # a CPU build, never CUDA

    command = next(arguments for keyword, arguments in dockerfile_instructions() if keyword == "CMD")
    port = free_port()
    arguments = [argument.replace("--server.port=8501", f"--server.port={port}")
                 .replace("--server.address=0.0.0.0", "--server.address=127.0.0.1")
                 for argument in json.loads(command)]
    assert arguments[:2] == ["python", "serve.py"]  # warm first, then `streamlit run app.py` in the same process
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GLASSBOX_", "VIRTUAL_ENV"))}
    env.update(HOME=str(fresh_app["home"]), PATH=f"{os.path.dirname(python)}:{env['PATH']}", PYTHONDONTWRITEBYTECODE="1")
    log = open(ARTIFACTS / "fresh-install-streamlit.log", "w")
    started = time.perf_counter()
    process = subprocess.Popen(arguments, cwd=fresh_app["app_dir"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", process, START_TIMEOUT_S, Path(log.name), expect=b"ok")
        healthy_seconds = time.perf_counter() - started
        page.goto(url)
        wait_for_app(page, "Glassbox")
        assert_no_exception(page)
        first_page_seconds = time.perf_counter() - started
        lab_paths = re.findall(r'url_path="([^"]+)"', (fresh_app["app_dir"] / "app.py").read_text())
        assert lab_paths, "app.py lists no lab pages"
        for lab in lab_paths:
            page.goto(f"{url}/{lab}")
            wait_for_app(page)
            assert_no_exception(page)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    (ARTIFACTS / "fresh-install-timings.txt").write_text(
        f"install {fresh_app['install_seconds']:.1f} s\nhealth {healthy_seconds:.1f} s\n"
        f"first page rendered {first_page_seconds:.1f} s\n")
