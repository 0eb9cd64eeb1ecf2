"""A line for the recognizers: as many decodes at once as the machine has cores, the rest wait their turn.

A class opening the Speech lab together would otherwise start every model on every clip at once and share two
cores among dozens of searches, so nobody gets a transcript. Here each decode runs on one core; a visitor whose
request waits can be told how many are ahead of it; the same request twice runs once; the latest results are kept
(a bounded number) so a page that reruns finds its transcripts without searching again. After each decode the worker
hands the heap pages it freed back to the system, so a server's memory stays flat over hundreds of uploads.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable, Hashable

import torch

from core.speech import vocabulary
from core.speech.inference import InspectedTranscription, card_decoding, transcribe_with_attention
from core.speech.pocketsphinx import timed_pocketsphinx_transcription


# glibc keeps the pages a decode freed for its next allocations, split among its per-thread heaps: a server's memory
# grew ~15% over a hundred uploads although every cache is bounded. Other C libraries (macOS, musl) have no trim.
_MALLOC_TRIM = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim", None) if os.name == "posix" else None


def release_free_memory() -> None:
    """Return the free pages of every heap to the operating system (glibc's malloc_trim; nothing elsewhere)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class DecodeQueue:
    """`submit(key, work, *args)` runs `work(*args)` on a pool of `workers` threads, one torch thread each."""

    def __init__(self, workers: int | None = None, max_results: int = 48, niceness: int = 0):
        self.workers = workers or available_cores()
        self.max_results = max_results
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="decode", initializer=_worker_start,
                                        initargs=(niceness,))
        self._lock = threading.Lock()
        self._line: list[Future] = []  # submitted and not started, oldest first
        self._results: OrderedDict[Hashable, Future] = OrderedDict()  # least recently asked for first

    def submit(self, key: Hashable, work: Callable, *args) -> Future:
        """The job for `key`: a finished or running one if there is one, else `work(*args)` joins the line."""
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
            job = self._pool.submit(_then_release_memory, work, *args)
            self._line = self._waiting() + [job]
            self._results[key] = job
            while len(self._results) > self.max_results:
                self._results.popitem(last=False)
        job.add_done_callback(lambda done: self._forget_failure(key, done))
        return job

    def _forget_failure(self, key: Hashable, job: Future) -> None:
        """A failed decode is not kept: asking again tries again."""
        if job.exception() is not None:
            with self._lock:
                if self._results.get(key) is job:
                    del self._results[key]

    def _waiting(self) -> list[Future]:
        return [queued for queued in self._line if not (queued.running() or queued.done())]

    def ahead(self, job: Future) -> int:
        """How many requests wait in line before `job` (0 once it runs or is done)."""
        with self._lock:
            self._line = self._waiting()
            return self._line.index(job) if job in self._line else 0

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting())

    def status(self, job: Future) -> str:
        """What a visitor waiting for `job` is told."""
        if job.done():
            return ""
        if job.running():
            return "Transcribing…"
        ahead = self.ahead(job)
        return (f"Waiting for a free recognizer ({ahead} ahead): all {self.workers} are busy with other visitors' "
                "audio." if ahead else "Waiting for a free recognizer: yours is next.")

    def result(self, job: Future, report: Callable[[str], object], poll_s: float = 0.2):
        """`job`'s result; meanwhile `report(status)` each time the visitor's status changes, and `report("")` at the end."""
        shown = ""
        while not wait([job], timeout=poll_s).done:
            if (message := self.status(job)) != shown:
                report(message)
                shown = message
        if shown:
            report("")
        return job.result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _worker_start(niceness: int) -> None:
    """One torch thread per worker (`workers` searches share the cores, one each); a background line (PocketSphinx,
    a reference that costs seconds a clip) also gives way to the models and the pages: Linux sets niceness per thread."""
    torch.set_num_threads(1)
    if niceness and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def _then_release_memory(work: Callable, *args):
    """`work(*args)` on a worker thread, then `release_free_memory`, whether it succeeded or not."""
    try:
        return work(*args)
    finally:
        release_free_memory()


def transcribe(audio, model_and_card: tuple | None, beam: int) -> InspectedTranscription:
    """One model's transcript and attention as its card decodes; without a model, PocketSphinx's (no attention)."""
    if model_and_card is None:
        return InspectedTranscription(*timed_pocketsphinx_transcription(audio), beam, chunks=[])
    model, card = model_and_card
    return transcribe_with_attention(model, audio, card_decoding(card, beam))


def shown_text(result: InspectedTranscription) -> str:
    """The transcript as the Speech lab shows and scores it (`vocabulary.readable`)."""
    return vocabulary.readable(chunk.text for chunk in result.chunks) if result.chunks else result.text
