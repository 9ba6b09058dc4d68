"""Where the test bed keeps what it installs.

Everything lands under one git-ignored folder, ``.cache/`` at the repository
root unless ``MCPHUB_CACHE_DIR`` points elsewhere; deleting it is always safe.
Go's own module and build caches stay where Go keeps them (``go env GOCACHE``),
so a second clone on the same machine rebuilds the control plane from a warm
build cache in a minute or two instead of from scratch.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    configured = os.environ.get("MCPHUB_CACHE_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / ".cache"
