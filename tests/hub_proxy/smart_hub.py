"""Standalone hubs in front of corpus servers, for the smart-routing tests.

Each corpus file becomes one MCPServer run as
``python -m tests.hub_proxy.search.corpus_server FILE``, annotated with the
file's server description as ``mcphub.dev/description``, the text the
evaluate command reads from the same file: so the hub indexes exactly what the
evaluate command does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub_proxy.catalog import DESCRIPTION_ANNOTATION
from hub_proxy.search.corpus import load_server
from tests.hub_proxy.bridge_process import only_text
from tests.hub_proxy.test_standalone_hub import connected
from tests.testbed.paths import REPO_ROOT

# The shared evaluation set: beside the repository, or where MCPHUB_EVAL_DIR says.
EVAL_DIR = Path(os.environ.get("MCPHUB_EVAL_DIR", REPO_ROOT.parent / "shared" / "eval"))


def corpus_server_yaml(path: Path) -> str:
    corpus = load_server(path)
    description = json.dumps(corpus.get("description", ""))
    argv = [sys.executable, "-m", "tests.hub_proxy.search.corpus_server", str(path)]
    return (
        "apiVersion: mcphub.dev/v1alpha1\n"
        "kind: MCPServer\n"
        "metadata:\n"
        f"  name: {corpus['server']}\n"
        f"  annotations: {{{DESCRIPTION_ANNOTATION}: {description}}}\n"
        "spec:\n"
        "  transport: stdio\n"
        "  container:\n"
        "    image: unused-standalone\n"
        f"    command: {json.dumps(argv[:1])}\n"
        f"    args: {json.dumps(argv[1:])}\n"
    )


def write_corpus_config(folder: Path, files: Sequence[Path], extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        (folder / f"{path.stem}.yaml").write_text(corpus_server_yaml(path))
    if extra:
        (folder / "extra.yaml").write_text(extra)
    return folder


async def call_found(url: str, name: str, arguments: dict[str, Any]) -> Any:
    """``call_tool`` on a smart endpoint; what the corpus server says it was called with."""
    async with connected(url) as client:
        called = await client.call_tool("call_tool", {"toolName": name, "arguments": arguments})
    return json.loads(only_text(called.content))
