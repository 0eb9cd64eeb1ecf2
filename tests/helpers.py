"""Helpers for tests: servers on 127.0.0.1, waiting for Streamlit runs, exception boxes, lab pages."""
import contextlib
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process, timeout_s: float, log_path: Path, expect: bytes | None = None) -> float:
    """Poll `url` until it answers 200 (and `expect`, if given); fail with the log's path. Returns seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and (expect is None or response.read() == expect):
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"{url} did not answer within {timeout_s:.0f} s; see {log_path}")


def wait_for_app(page, text: str | None = None, timeout_ms: int = 90_000) -> None:
    """Wait until the page shows `text` (if given) and Streamlit has stopped running the script.

    Streamlit first paints a skeleton, then runs the script and shows a 'Running…' status widget;
    waiting for a known text, then for that widget to go, avoids judging the skeleton.
    """
    page.wait_for_selector('[data-testid="stMain"]', timeout=timeout_ms)
    if text is not None:
        page.get_by_text(text).first.wait_for(state="visible", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(500)


@contextlib.contextmanager
def serve(command: list[str], port: int, ready_path: str, log_name: str, timeout_s: float = 60, env=None,
          expect: bytes | None = None, cwd: Path = REPO):
    """Run a server on 127.0.0.1:`port` until the block ends; yields its base URL once `ready_path` answers."""
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / log_name, "w") as log:
        process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(url + ready_path, process, timeout_s, ARTIFACTS / log_name, expect)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


def assert_no_exception(page) -> None:
    """Fail on any exception box the app shows."""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def lab_page(name: str):
    """Path of a lab's page script, e.g. lab_page("vision")."""
    from core.paths import REPO_ROOT

    return REPO_ROOT / "labs" / f"{name}.py"


def run_lab(name: str, timeout: float = 120):
    """Run one lab page under streamlit's AppTest and return the finished app."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(lab_page(name)), default_timeout=timeout).run()


def metric_values(app) -> dict[str, str]:
    """label -> shown value of every st.metric on an AppTest page."""
    return {element.label: element.value for element in app.metric}
