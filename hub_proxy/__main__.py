"""Run the hub: ``python -m hub_proxy [--config DIR | --cluster [--namespace NS]] [--port P]``.

The hub reads MCPServer and MCPGroup YAML from DIR, validated as admission
would validate it, runs every server that has ``spec.container.command`` as a
local stdio child, and serves them at ``/mcp``, ``/mcp/{group}`` and
``/mcp/{server}``.  Without ``--config`` it serves the example folder that
ships with it (``hub_proxy/examples/standalone``), which is what ``make run``
starts; that example needs ``mcp-server-time`` and ``mcp-server-everything``
on the PATH, which ``make run`` installs and provides.

The folder is watched while the hub runs: added, changed and removed files
take effect within a second or two, without dropping connected clients (see
:mod:`hub_proxy.live`).

With ``--cluster`` the hub serves a namespace's MCPServers and MCPGroups from
the Kubernetes API instead, reaching each server at the ``status.url`` the
operator verified (see :func:`hub_proxy.catalog.in_cluster`).

An invalid folder at start is exit status 2 with every problem listed by file,
document, object and field: the same contract as a command-line usage error,
because the configuration is the command line of a standalone hub.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Final

from aiohttp import web
from kubernetes.config import config_exception as kube_config

from hub_proxy import kube
from hub_proxy.app import create_app
from hub_proxy.bridge import logs
from hub_proxy.catalog import in_cluster, load_catalog
from hub_proxy.live import LiveCatalog, log_catalog
from hub_proxy.upstreams import Upstreams
from mcphub_api.errors import LoadError

EXAMPLE_CONFIG: Final = Path(__file__).parent / "examples" / "standalone"
# Long enough for running calls to get their answers, short enough for a restart.
_HTTP_SHUTDOWN_SECONDS: Final = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcphub-hub", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        type=Path,
        metavar="DIR",
        default=EXAMPLE_CONFIG,
        help=f"folder of MCPServer and MCPGroup YAML (default: {EXAMPLE_CONFIG})",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="serve the MCPServers and MCPGroups of a namespace, from the Kubernetes API "
        "(kubeconfig or the pod's ServiceAccount) instead of a folder",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace served with --cluster [POD_NAMESPACE, else default]",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="TCP port to listen on")
    args = parser.parse_args(argv)
    logs.configure()
    if args.cluster:
        try:
            connection = kube.connection()
        except kube_config.ConfigException as exc:
            print(f"mcphub-hub: no Kubernetes credentials: {exc}", file=sys.stderr)
            return 2
        # Empty until the first snapshot of the namespace arrives, a moment later.
        catalog = in_cluster([], [])
        app = create_app(
            LiveCatalog(catalog), Upstreams(catalog.servers), cluster=(connection, args.namespace)
        )
    else:
        try:
            catalog = load_catalog(args.config)
        except LoadError as exc:
            print(f"mcphub-hub: invalid configuration in {args.config}:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 2
        log_catalog(catalog)
        app = create_app(LiveCatalog(catalog), Upstreams(catalog.servers), folder=args.config)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        shutdown_timeout=_HTTP_SHUTDOWN_SECONDS,
        print=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
