"""Helpers for browser tests: wait for a Streamlit run to finish, fail on exception boxes."""


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


def assert_no_exception(page) -> None:
    """Fail on any exception box the app shows."""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def lab_page(name: str):
    """Path of a lab's page script, e.g. lab_page("vision")."""
    from core.paths import REPO_ROOT

    return REPO_ROOT / "pages" / f"{name}.py"


def run_lab(name: str, timeout: float = 120):
    """Run one lab page under streamlit's AppTest and return the finished app."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(lab_page(name)), default_timeout=timeout).run()


def metric_values(app) -> dict[str, str]:
    """label -> shown value of every st.metric on an AppTest page."""
    return {element.label: element.value for element in app.metric}
