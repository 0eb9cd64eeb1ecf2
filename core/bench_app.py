"""`python -m core bench app`: the served app under N visitors at once, as a class uses it.

Starts `python serve.py` (warm, then `streamlit run app.py`) on a free 127.0.0.1 port (the shipped config), then drives
headless chromium sessions (playwright, a test dependency) through the Speech lab: open it, upload a real ~10 s
LJ Speech clip, wait for the transcripts and the attention heatmaps. Per number of sessions it reports errors,
seconds from upload to heatmaps, time to interactive on opening the lab, and the server's CPU seconds and peak
memory (read from /proc). Then the memory after many uploads one after another, and the heaviest settings of the
Theory lab and a 1,000-character pair in the Metrics lab.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import soundfile

from core.checkpoints import list_checkpoints
from core.errors import GlassboxError
from core.paths import REPO_ROOT, SHARED_DATA

try:  # requirements-test.txt: the benchmark drives a real browser
    from playwright.async_api import async_playwright
except ImportError:
    async_playwright = None

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
LJSPEECH_WAVS = SHARED_DATA / "ljspeech-1.1" / "wavs"
CLIP_SECONDS = (7.0, 10.5)  # "a real ~10 s clip"
FRESH = "const fresh = s => [...document.querySelectorAll(s)].filter(e => !e.closest('[data-stale=\"true\"]'));"
IDLE_JS = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') "
           "&& !document.querySelector('[data-testid=\"stSkeleton\"]')")
OPENED_JS = f"() => {{ {FRESH} return fresh('[data-testid=\"stAudio\"]').length > 0 && fresh('[data-testid=\"stCode\"]').length > 0; }}"
HEATMAPS_JS = (f"([duration, models]) => {{ {FRESH} return fresh('[data-testid=\"stCaptionContainer\"]')"
               ".some(e => e.innerText.includes(duration + ' s, resampled'))"
               " && fresh('[data-testid=\"stCode\"]').length >= models"
               " && fresh('[class*=\"st-key-cross-\"] .js-plotly-plot').length > 0; }")
EXCEPTION = '[data-testid="stException"]'


@dataclass
class Clip:
    path: Path
    duration: str  # as the Speech lab writes it under the waveform: "9.66"


def real_clips(count: int) -> list[Clip]:
    """The first `count` LJ Speech recordings of about ten seconds."""
    if not LJSPEECH_WAVS.is_dir():
        raise GlassboxError(f"The benchmark uploads real LJ Speech clips; {LJSPEECH_WAVS} is missing.")
    clips = []
    for path in sorted(LJSPEECH_WAVS.glob("LJ*.wav")):
        info = soundfile.info(str(path))
        if CLIP_SECONDS[0] <= info.frames / info.samplerate <= CLIP_SECONDS[1]:
            clips.append(Clip(path, f"{round(info.frames * 16_000 / info.samplerate) / 16_000:.2f}"))
        if len(clips) == count:
            return clips
    raise GlassboxError(f"Only {len(clips)} LJ Speech clips of {CLIP_SECONDS} s were found.")


class ServerMeter:
    """CPU seconds and resident memory of one process, from /proc; a thread keeps the peak since the last mark."""

    def __init__(self, pid: int):
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _status_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(OSError):
                self.peak_kb = max(self.peak_kb, self._status_kb("VmRSS"))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def rss_mb(self) -> float:
        return self._status_kb("VmRSS") / 1024

    def mark(self) -> tuple[float, float]:
        """Start a phase: (CPU seconds so far, now); the peak restarts from the current memory."""
        self.peak_kb = self._status_kb("VmRSS")
        return self.cpu_seconds(), time.perf_counter()

    def phase(self, mark: tuple[float, float]) -> dict:
        return {"server_cpu_s": round(self.cpu_seconds() - mark[0], 1), "wall_s": round(time.perf_counter() - mark[1], 1),
                "peak_rss_mb": round(self.peak_kb / 1024), "rss_mb": round(self.rss_mb()),
                "lifetime_peak_rss_mb": round(self._status_kb("VmHWM") / 1024)}

    def close(self) -> None:
        self._stop.set()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_app(log_path: Path, timeout_s: float = 120):
    """`python serve.py` (warm, then `streamlit run app.py`) on 127.0.0.1 until the block ends; yields (base URL,
    server pid, seconds from start to a healthy server)."""
    port = free_port()
    command = [sys.executable, "serve.py", "--server.port", str(port),
               "--server.address", "127.0.0.1"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        url, started = f"http://127.0.0.1:{port}", time.perf_counter()
        try:
            deadline = started + timeout_s
            while not _healthy(url):
                if process.poll() is not None or time.perf_counter() > deadline:
                    raise GlassboxError(f"The app did not start; see {log_path}")
                time.sleep(0.3)
            yield url, process.pid, time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


async def speech_visit(browser, url: str, clip: Clip, models: int, timeout_s: float) -> dict:
    """One visitor: open the Speech lab, switch to a file, upload `clip`, wait for transcripts and heatmaps."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    devtools = await context.new_cdp_session(page)  # the browser's own main-thread time: on one small machine the
    await devtools.send("Performance.enable")      # visitors' browsers, not the server, can be what everyone waits for
    timeout_ms, visit = timeout_s * 1000, {}
    page.set_default_timeout(timeout_ms)
    try:
        started = time.perf_counter()
        await page.goto(f"{url}/speech", timeout=timeout_ms)
        await page.wait_for_function(OPENED_JS, timeout=timeout_ms, polling=100)
        visit["open_s"] = time.perf_counter() - started
        await page.wait_for_function(IDLE_JS, timeout=timeout_ms, polling=100)
        visit["open_all_s"] = time.perf_counter() - started
        await page.get_by_text("a file", exact=True).first.click()
        upload = page.locator('input[type="file"][accept*=".wav"]')
        await upload.wait_for(state="attached", timeout=timeout_ms)
        started = time.perf_counter()
        await upload.set_input_files(str(clip.path))
        await page.wait_for_function(HEATMAPS_JS, arg=[clip.duration, models], timeout=timeout_ms, polling=100)
        visit["upload_to_heatmaps_s"] = time.perf_counter() - started
        await page.wait_for_timeout(300)  # the status widget appears a moment after a run starts
        await page.wait_for_function(IDLE_JS, timeout=timeout_ms, polling=100)
        visit["upload_to_done_s"] = time.perf_counter() - started - 0.3
        if await page.locator(EXCEPTION).count():
            visit["error"] = "exception box: " + (await page.locator(EXCEPTION).first.inner_text())[:200]
        metrics = {metric["name"]: metric["value"] for metric in (await devtools.send("Performance.getMetrics"))["metrics"]}
        visit["browser_main_thread_s"] = metrics.get("TaskDuration")
    except Exception as error:  # a visitor's failure is a result of the benchmark, not its end
        visit["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    finally:
        await context.close()
    return visit


async def view_change(browser, url: str, meter: ServerMeter, timeout_s: float) -> dict:
    """Server CPU seconds of moving the first attention map's output-step slider once: a view, no model runs."""
    page = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
    timeout_ms = timeout_s * 1000
    await page.goto(f"{url}/speech", timeout=timeout_ms)
    try:
        slider = page.locator("[class*='st-key-step-']").first.get_by_role("slider")
        await slider.wait_for(timeout=timeout_ms)
        await wait_idle(page, timeout_ms)
        await page.wait_for_timeout(1000)
        mark = meter.mark()
        await slider.focus()
        await slider.press("End")
        await wait_idle(page, timeout_ms)
        await page.wait_for_timeout(500)
        result = meter.phase(mark)
        return {"step_slider_server_cpu_s": result["server_cpu_s"], "step_slider_wall_s": result["wall_s"]}
    except Exception as error:  # reported, not fatal
        return {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
    finally:
        await page.context.close()


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 2),
            "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2)}


async def speech_round(browser, url: str, clips: list[Clip], models: int, timeout_s: float) -> dict:
    """One visitor per clip, all at once."""
    sessions = len(clips)
    visits = await asyncio.gather(*(speech_visit(browser, url, clip, models, timeout_s) for clip in clips))
    good = [visit for visit in visits if "error" not in visit]
    return {"sessions": sessions, "errors": len(visits) - len(good),
            "error_messages": sorted({visit["error"] for visit in visits if "error" in visit})[:3],
            "upload_to_heatmaps_s": percentiles([visit["upload_to_heatmaps_s"] for visit in good]),
            "upload_to_done_s": percentiles([visit["upload_to_done_s"] for visit in good]),
            "time_to_interactive_s": percentiles([visit["open_s"] for visit in good]),
            "open_all_columns_s": percentiles([visit["open_all_s"] for visit in good]),
            "browser_main_thread_s_per_visit": percentiles([visit["browser_main_thread_s"] for visit in good])}


async def sequential_uploads(browser, url, count: int, clips: list[Clip], models: int, meter: ServerMeter,
                             timeout_s: float) -> dict:
    """`count` visitors one after another (each a new session), cycling through the clips: does memory stay flat?"""
    rss, errors = [], 0
    for index in range(count):
        visit = await speech_visit(browser, url, clips[index % len(clips)], models, timeout_s)
        errors += "error" in visit
        rss.append(meter.rss_mb())
    settled = rss[min(len(clips), len(rss)) - 1]  # every clip seen once: the caches hold what they will hold
    return {"uploads": count, "errors": errors, "rss_after_first_mb": round(rss[0]),
            "rss_after_every_clip_once_mb": round(settled), "rss_end_mb": round(rss[-1]),
            "growth_after_every_clip_once_pct": round(100 * (rss[-1] - settled) / settled, 1),
            "growth_from_first_pct": round(100 * (rss[-1] - rss[0]) / rss[0], 1)}


async def wait_idle(page, timeout_ms: float) -> None:
    await page.wait_for_timeout(300)
    await page.wait_for_function(IDLE_JS, timeout=timeout_ms, polling=100)


async def theory_visit(browser, url: str, timeout_s: float) -> dict:
    """The Theory lab at its largest D, K and L, then its timing button."""
    page = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
    timeout_ms, started = timeout_s * 1000, time.perf_counter()
    await page.goto(f"{url}/theory", timeout=timeout_ms)
    await page.get_by_text("Softmax attention vs its linear approximation").first.wait_for(timeout=timeout_ms)
    await wait_idle(page, timeout_ms)
    result = {"open_s": time.perf_counter() - started}
    started = time.perf_counter()
    for label in ["D (query/key dimension)", "K (McLaurin order)", "L for the error", "longest L timed"]:
        slider = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
        await slider.focus()
        await slider.press("End")
        await wait_idle(page, timeout_ms)
    result["largest_sliders_s"] = time.perf_counter() - started
    started = time.perf_counter()
    await page.get_by_role("button", name="Measure time vs L on this machine").click()
    await page.get_by_text("Measured crossover length L").first.wait_for(timeout=timeout_ms)
    await wait_idle(page, timeout_ms)
    result["timing_button_s"] = time.perf_counter() - started
    result["exceptions"] = await page.locator(EXCEPTION).count()
    await page.context.close()
    return result


async def metrics_visit(browser, url: str, timeout_s: float) -> dict:
    """The Metrics lab scoring a 1,000-character reference against a damaged copy."""
    reference = thousand_characters()
    hypothesis = "".join("e" if index % 11 == 5 else char for index, char in enumerate(reference))  # ~9% substituted
    page = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
    timeout_ms, started = timeout_s * 1000, time.perf_counter()
    await page.goto(f"{url}/metrics", timeout=timeout_ms)
    await page.get_by_label("Hypothesis").wait_for(timeout=timeout_ms)
    await wait_idle(page, timeout_ms)
    result = {"open_s": time.perf_counter() - started}
    await page.get_by_label("Reference").fill(reference)
    await page.get_by_label("Hypothesis").fill(hypothesis)
    started = time.perf_counter()
    await page.get_by_label("Hypothesis").press("Control+Enter")
    await wait_idle(page, timeout_ms)
    result["score_1000_characters_s"] = time.perf_counter() - started
    result["errors_shown"] = [text[:120] for text in await page.locator('[data-testid="stAlert"]').all_inner_texts()]
    result["exceptions"] = await page.locator(EXCEPTION).count()
    await page.context.close()
    return result


def progress(phase: str, measured: dict) -> None:
    """Each phase's numbers on stderr as it ends: a long run that is stopped still says what it measured."""
    print(f"bench app: {phase}: {json.dumps(measured)}", file=sys.stderr, flush=True)


def thousand_characters() -> str:
    """1,000 characters of LJ Speech transcripts (or of a pangram, without the data)."""
    metadata = SHARED_DATA / "ljspeech-1.1" / "metadata.csv"
    lines = metadata.read_text(encoding="utf-8").splitlines()[:60] if metadata.exists() else []
    text = " ".join(line.split("|")[-1].lower() for line in lines) or "the quick brown fox jumps over the lazy dog " * 25
    return text[:1000]


async def measure(url: str, meter: ServerMeter, args: argparse.Namespace) -> dict:
    clips, models = real_clips(args.clips), max(1, len(list_checkpoints("asr")))
    home = tempfile.mkdtemp(prefix="glassbox-bench-chromium-")
    if args.browser_nice:  # the server started at normal priority; the browsers stand in for visitors' own machines
        os.nice(args.browser_nice)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
                                                   env={**os.environ, "HOME": home})
        result = {"clips": [clip.path.name for clip in clips], "cores": os.cpu_count()}
        mark = meter.mark()
        result["first_visit_fresh_server"] = await speech_visit(browser, url, clips[0], models, args.timeout)
        result["first_visit_fresh_server"] |= meter.phase(mark)
        result["view_change"] = await view_change(browser, url, meter, args.timeout)
        progress("first visit", result["first_visit_fresh_server"] | result["view_change"])
        result["speech"], used = [], 1
        for sessions in args.sessions:  # each visitor uploads a clip the server has not seen yet, while there are any
            mark, chosen = meter.mark(), [clips[(used + index) % len(clips)] for index in range(sessions)]
            result["speech"].append(await speech_round(browser, url, chosen, models, args.timeout) | meter.phase(mark))
            progress(f"speech-{sessions}", result["speech"][-1])
            used += sessions
        for name, visit in [("theory", theory_visit), ("metrics", metrics_visit)] if args.other_labs else []:
            mark, before = meter.mark(), meter.rss_mb()
            result[name] = await visit(browser, url, args.timeout) | meter.phase(mark)
            result[name]["rss_growth_mb"] = round(meter.rss_mb() - before)
            progress(name, result[name])
        if args.sequential:
            mark = meter.mark()
            result["sequential"] = await sequential_uploads(browser, url, args.sequential, clips, models, meter,
                                                            args.timeout) | meter.phase(mark)
        await browser.close()
    return result


def bench_app(args: argparse.Namespace) -> dict:
    if async_playwright is None:
        raise GlassboxError("`bench app` drives a browser: `pip install -r requirements-test.txt` (playwright) "
                            f"and install chromium at {CHROMIUM}.")
    if not Path(CHROMIUM).exists():
        raise GlassboxError(f"`bench app` needs chromium at {CHROMIUM} (Debian's chromium package).")
    log = Path(tempfile.gettempdir()) / "glassbox-bench-app-streamlit.log"
    with served_app(log) as (url, pid, start_s):
        meter = ServerMeter(pid)
        progress("server start", {"start_to_healthy_s": round(start_s, 1), "rss_mb": round(meter.rss_mb())})
        try:
            result = asyncio.run(measure(url, meter, args))
        finally:
            meter.close()
    return {"server_start_to_healthy_s": round(start_s, 1)} | result | {"server_log": str(log)}


def register(commands) -> None:
    parser = commands.task("bench", "app", "The served app under 1-16 visitors at once: Speech lab uploads, "
                           "Theory and Metrics labs (starts its own server on 127.0.0.1).", bench_app)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8, 16],
                        help="numbers of concurrent Speech lab visitors (default: 1 4 8 16)")
    parser.add_argument("--sequential", type=int, default=0,
                        help="then this many uploads one after another, to watch memory (e.g. 100)")
    parser.add_argument("--clips", type=int, default=24, help="distinct ~10 s LJ Speech clips to upload (default: 24)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds a visitor waits for each step")
    parser.add_argument("--browser-nice", type=int, default=0,
                        help="run the browsers (and this process) at this niceness, so that on a small machine the "
                             "server rather than N headless browsers on the same cores is measured (e.g. 10)")
    parser.add_argument("--no-other-labs", dest="other_labs", action="store_false",
                        help="skip the Theory and Metrics labs")
