"""The Speech lab's line for the recognizers: never more decodes at once than workers, a place in line, one run per
request, a bounded memory of results."""
import os
import threading
import time

import pytest

from core.speech import decode_queue
from core.speech.decode_queue import DecodeQueue


class Gate:
    """Work that blocks until opened, counting how many run at once."""

    def __init__(self):
        self.opened, self.lock, self.running, self.most, self.calls = threading.Event(), threading.Lock(), 0, 0, 0

    def __call__(self, value):
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        self.opened.wait(timeout=10)
        with self.lock:
            self.running -= 1
        return value


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_never_more_decodes_at_once_than_workers_and_each_knows_its_place():
    queue, gate = DecodeQueue(workers=2), Gate()
    jobs = [queue.submit(("clip", index), gate, index) for index in range(6)]
    wait_until(lambda: gate.running == 2)
    time.sleep(0.05)
    assert gate.running == 2 and queue.waiting() == 4
    assert [queue.ahead(job) for job in jobs] == [0, 0, 0, 1, 2, 3]
    assert queue.status(jobs[0]) == "Transcribing…"
    assert queue.status(jobs[2]) == "Waiting for a free recognizer: yours is next."
    assert queue.status(jobs[5]).startswith("Waiting for a free recognizer (3 ahead)")
    gate.opened.set()
    assert [job.result(timeout=5) for job in jobs] == list(range(6))
    assert gate.most == 2 and queue.waiting() == 0 and queue.status(jobs[5]) == ""
    queue.shutdown()


def test_the_same_request_runs_once_and_results_are_bounded():
    queue, gate = DecodeQueue(workers=1, max_results=3), Gate()
    gate.opened.set()
    first = queue.submit("a", gate, 1)
    assert queue.submit("a", gate, 1) is first and first.result(timeout=5) == 1 and gate.calls == 1
    for key in "bcd":
        queue.submit(key, gate, key).result(timeout=5)
    assert queue.submit("a", gate, 1).result(timeout=5) == 1 and gate.calls == 5  # "a" was forgotten: run again
    queue.shutdown()


def test_a_failed_decode_is_tried_again_and_waiting_is_reported():
    queue, gate, attempts = DecodeQueue(workers=1), Gate(), []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first try fails")
        return "ok"

    blocker = queue.submit("blocker", gate, "blocker")
    wait_until(lambda: gate.running == 1)
    job = queue.submit("flaky", flaky)
    reports = []
    threading.Timer(0.3, gate.opened.set).start()
    with pytest.raises(ValueError):
        queue.result(job, reports.append, poll_s=0.02)
    assert reports[0] == "Waiting for a free recognizer: yours is next." and reports[-1] == ""
    assert blocker.result(timeout=5) == "blocker"
    assert queue.submit("flaky", flaky).result(timeout=5) == "ok" and len(attempts) == 2
    queue.shutdown()


def test_a_background_line_runs_at_a_lower_priority_than_the_models():
    """PocketSphinx's line gives way to the models' decodes and the pages (Linux sets niceness per thread)."""
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    base = os.getpriority(os.PRIO_PROCESS, 0)
    models, background = DecodeQueue(workers=1), DecodeQueue(workers=1, niceness=5)
    try:
        assert models.submit("models", niceness).result(timeout=30) == base
        assert background.submit("background", niceness).result(timeout=30) == min(base + 5, 19)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the caller's thread is untouched
    finally:
        models.shutdown()
        background.shutdown()


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status") or decode_queue._MALLOC_TRIM is None,
                    reason="reads Linux /proc and needs glibc")
def test_a_finished_decode_hands_the_memory_it_freed_back():
    """~200 MB in blocks small enough for the heap (not mmap), all freed but the last (the result, which pins the top
    of the heap): glibc would keep the freed ones resident."""
    def fragmenting_work():
        blocks = [bytearray(64 * 1024) for _ in range(3000)]
        return blocks[-1]

    before = resident_mb()
    assert len(DecodeQueue(workers=1).submit("job", fragmenting_work).result()) == 64 * 1024
    assert resident_mb() - before < 60
