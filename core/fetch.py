"""Files fetched once from the network with a known hash (data sets, voice packs), failing fast and clearly offline."""
from __future__ import annotations

from pathlib import Path

import pooch
import requests

from core.errors import DataUnavailableError


def fetch_file(url: str, known_hash: str, cache_dir: Path, file_name: str, size_note: str) -> Path:
    """`url` into `cache_dir/file_name` unless a copy with `known_hash` ("md5:…" or "sha256:…") is there already."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / file_name
    try:
        return Path(pooch.retrieve(
            url, known_hash=known_hash, fname=file_name, path=cache_dir, progressbar=True,
            downloader=pooch.HTTPDownloader(timeout=15, progressbar=True),
        ))
    except (requests.RequestException, OSError, ValueError) as error:
        kind = known_hash.split(":", 1)[0]
        reason = f"its {kind} did not match" if "hash" in str(error).lower() else f"{type(error).__name__}: {error}"
        raise DataUnavailableError(
            f"Could not download {file_name} ({size_note}) from {url}: {reason}. "
            f"Without network access, place the file at {cached} ({known_hash}) and run again."
        ) from error
