"""Where Glassbox finds its shipped files, shared data and caches; each can be moved with an environment variable."""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = Path(os.environ.get("GLASSBOX_CHECKPOINTS", REPO_ROOT / "checkpoints"))
ASSETS = REPO_ROOT / "assets"
# Read-only data that ships beside the checkout (KMNIST test set, LJ Speech transcripts, MT pairs, real speech).
SHARED_DATA = Path(os.environ.get("GLASSBOX_DATA", REPO_ROOT.parent / "shared" / "data"))
# Downloads, synthesized audio and feature caches: never committed.
CACHE = Path(os.environ.get("GLASSBOX_CACHE", Path.home() / ".cache" / "glassbox"))
# Resumable training runs (one folder per run, a checkpoint per epoch).
RUNS = Path(os.environ.get("GLASSBOX_RUNS", REPO_ROOT / "runs"))
