"""The operator's own settings, from flags or environment variables.

Everything a cluster admin may need to tune lives here, with the environment
variable beside each flag so a Deployment manifest can set it without
rewriting the command line.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

DEFAULT_BRIDGE_IMAGE = "ghcr.io/mcphub/mcphub:0.1.0"


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...]
    bridge_image: str
    verify_interval: float
    verify_timeout: float
    workers: int
    api_concurrency: int
    verify_concurrency: int
    liveness_endpoint: str | None
    peering: str | None
    # (namespace, name) of the hub's session key Secret, created when missing.
    session_key_secret: tuple[str, str] | None


def parse(argv: list[str] | None = None) -> OperatorConfig:
    env = os.environ.get
    parser = argparse.ArgumentParser(
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
        default=env("MCPHUB_BRIDGE_IMAGE", DEFAULT_BRIDGE_IMAGE),
        help="image of the stdio bridge sidecar [MCPHUB_BRIDGE_IMAGE]",
    )
    parser.add_argument(
        "--verify-interval",
        type=float,
        default=float(env("MCPHUB_VERIFY_INTERVAL", "30")),
        help="seconds between MCP re-verifications of each server [MCPHUB_VERIFY_INTERVAL]",
    )
    parser.add_argument(
        "--verify-timeout",
        type=float,
        default=float(env("MCPHUB_VERIFY_TIMEOUT", "10")),
        help="seconds one MCP verification may take [MCPHUB_VERIFY_TIMEOUT]",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(env("MCPHUB_WORKERS", "64")),
        help="objects reconciled at once, at most [MCPHUB_WORKERS]",
    )
    parser.add_argument(
        "--api-concurrency",
        type=int,
        default=int(env("MCPHUB_API_CONCURRENCY", "32")),
        help="Kubernetes API requests in flight, at most [MCPHUB_API_CONCURRENCY]",
    )
    parser.add_argument(
        "--verify-concurrency",
        type=int,
        default=int(env("MCPHUB_VERIFY_CONCURRENCY", "16")),
        help="MCP verifications in flight, at most [MCPHUB_VERIFY_CONCURRENCY]",
    )
    parser.add_argument(
        "--liveness",
        default=env("MCPHUB_LIVENESS", "http://0.0.0.0:8080/healthz"),
        help="liveness endpoint URL, or '' to serve none [MCPHUB_LIVENESS]",
    )
    parser.add_argument(
        "--peering",
        default=env("MCPHUB_PEERING") or None,
        help="kopf peering name for several replicas; default: standalone (run one replica "
        "with a Recreate strategy) [MCPHUB_PEERING]",
    )
    parser.add_argument(
        "--session-key-secret",
        default=env("MCPHUB_SESSION_KEY_SECRET"),
        metavar="[NAMESPACE/]NAME",
        help="create this Secret with a random session key for the hub when it is missing "
        "(namespace default: POD_NAMESPACE, the operator's own) [MCPHUB_SESSION_KEY_SECRET]",
    )
    args = parser.parse_args(argv)
    if args.verify_interval <= 0 or args.verify_timeout <= 0:
        parser.error("--verify-interval and --verify-timeout must be positive")
    return OperatorConfig(
        namespaces=tuple(args.namespace),
        bridge_image=args.bridge_image,
        verify_interval=args.verify_interval,
        verify_timeout=args.verify_timeout,
        workers=args.workers,
        api_concurrency=args.api_concurrency,
        verify_concurrency=args.verify_concurrency,
        liveness_endpoint=args.liveness or None,
        peering=args.peering,
        session_key_secret=_secret_ref(parser, args.session_key_secret),
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
