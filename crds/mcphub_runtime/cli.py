"""Command lines whose every flag is also an ``MCPHUB_*`` environment variable.

A Deployment sets environment variables more comfortably than it rewrites a
command line, and a flag that has no variable (or a variable named unlike its
flag) is a trap.  So every program's parser is ConfigArgParse's drop-in
ArgumentParser with one rule: ``--some-flag`` is also ``MCPHUB_SOME_FLAG``
(a list flag takes ``[a, b]``, a switch ``true``), the command line wins over
the environment, and ``--help`` names each variable.  Every parser also takes
``--log-level`` and ``--log-format`` (see :mod:`mcphub_runtime.logs`).
"""

from __future__ import annotations

import argparse
from typing import Any, Final

import configargparse

from mcphub_runtime import logs

ENV_PREFIX: Final = "MCPHUB_"


def parser(**options: Any) -> argparse.ArgumentParser:
    """An ``argparse`` parser (a subclass), ``options`` as ``ArgumentParser`` takes them."""
    made: argparse.ArgumentParser = configargparse.ArgumentParser(
        auto_env_var_prefix=ENV_PREFIX, **options
    )
    logs.add_arguments(made)
    return made
