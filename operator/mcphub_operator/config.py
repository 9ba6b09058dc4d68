"""The operator's own settings, from flags or environment variables.

Everything a cluster admin may need to tune lives here; every flag is also an
``MCPHUB_*`` environment variable (:mod:`mcphub_runtime.cli`), so a Deployment
manifest can set it without rewriting the command line.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from mcphub_runtime import cli, logs

DEFAULT_BRIDGE_IMAGE = "ghcr.io/mcphub/mcphub:0.1.0"
DEFAULT_PEERING_LIFETIME = 15
# Not the hub's 8080: an operator run beside `make run` must not fight it for the port.
DEFAULT_PORT = 8081


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...]
    bridge_image: str
    verify_interval: float
    verify_timeout: float
    workers: int
    api_concurrency: int
    verify_concurrency: int
    host: str
    port: int
    peering: str | None
    # (namespace, name) of the hub's session key Secret, created when missing.
    session_key_secret: tuple[str, str] | None
    peering_lifetime: int
    log_level: str
    log_format: logs.Format


def parse(argv: list[str] | None = None) -> OperatorConfig:
    parser = cli.parser(
        prog="mcphub-operator",
        description="Reconcile MCPServer, MCPGroup and AccessPolicy resources.",
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable; default: all namespaces)",
    )
    parser.add_argument(
        "--bridge-image",
        default=DEFAULT_BRIDGE_IMAGE,
        help="image of the stdio bridge sidecar",
    )
    parser.add_argument(
        "--verify-interval",
        type=float,
        default=30,
        help="seconds between MCP re-verifications of each server",
    )
    parser.add_argument(
        "--verify-timeout",
        type=float,
        default=10,
        help="seconds one MCP verification may take",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=64,
        help="objects reconciled at once, at most",
    )
    parser.add_argument(
        "--api-concurrency",
        type=int,
        default=32,
        help="Kubernetes API requests in flight, at most",
    )
    parser.add_argument(
        "--verify-concurrency",
        type=int,
        default=16,
        help="MCP verifications in flight, at most",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address of /healthz and /metrics; a pod sets 0.0.0.0 for its probes and "
        "Prometheus (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port of /healthz and /metrics (default: {DEFAULT_PORT}, beside the hub's 8080)",
    )
    parser.add_argument(
        "--peering",
        default=None,
        help="kopf peering name: several replicas, one of which reconciles at a time; "
        "default: standalone (run one replica with a Recreate strategy)",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=DEFAULT_PEERING_LIFETIME,
        help="seconds a replica's keep-alive lasts: a leader that dies is replaced within "
        f"that time (default: {DEFAULT_PEERING_LIFETIME})",
    )
    parser.add_argument(
        "--session-key-secret",
        default=None,
        metavar="[NAMESPACE/]NAME",
        help="create this Secret with a random session key for the hub when it is missing "
        "(namespace default: POD_NAMESPACE, the operator's own)",
    )
    args = parser.parse_args(argv)
    if args.verify_interval <= 0 or args.verify_timeout <= 0:
        parser.error("--verify-interval and --verify-timeout must be positive")
    if args.peering_lifetime < 2:
        parser.error("--peering-lifetime must be at least 2 seconds")
    return OperatorConfig(
        namespaces=tuple(args.namespace),
        bridge_image=args.bridge_image,
        verify_interval=args.verify_interval,
        verify_timeout=args.verify_timeout,
        workers=args.workers,
        api_concurrency=args.api_concurrency,
        verify_concurrency=args.verify_concurrency,
        host=args.host,
        port=args.port,
        peering=args.peering,
        session_key_secret=_secret_ref(parser, args.session_key_secret),
        peering_lifetime=args.peering_lifetime,
        log_level=args.log_level,
        log_format=args.log_format,
    )


def _secret_ref(parser: argparse.ArgumentParser, value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    namespace, _, name = value.rpartition("/")
    namespace = namespace or os.environ.get("POD_NAMESPACE", "")
    if not namespace or not name:
        parser.error(
            f"--session-key-secret {value!r}: say NAMESPACE/NAME, or set POD_NAMESPACE "
            "(the Downward API's metadata.namespace) for the operator's own namespace"
        )
    return namespace, name
