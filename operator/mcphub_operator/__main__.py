"""Run the operator: ``python -m mcphub_operator`` (see ``--help``).

Tracing is configured by the standard ``OTEL_*`` environment variables (see
:mod:`mcphub_runtime.tracing`); settings it cannot honour are exit status 2.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, cast

import kopf

from mcphub_operator import config, handlers, session_key
from mcphub_operator.peering import Leadership, Peering
from mcphub_runtime import logs, tracing


def main(argv: list[str] | None = None) -> None:
    settings = config.parse(argv)
    logs.configure(settings.log_level, settings.log_format)
    # Every verification is a few HTTP requests; their INFO lines drown the log.
    for chatty in ("httpx2", "mcp.client.streamable_http", "mcp.client.sse"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings)
    if settings.session_key_secret is not None:
        session_key.register(registry, *settings.session_key_secret)
    peer = (
        Peering.joining(settings.peering, settings.peering_lifetime, settings.namespaces)
        if settings.peering
        else None
    )
    try:
        traces = tracing.configure("mcphub-operator")
    except tracing.TracingConfigError as exc:
        print(f"mcphub-operator: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        kopf.run(
            registry=registry,
            standalone=peer is None,
            peering_name=settings.peering,
            # kopf types it as a NewType of str that it does not export.
            identity=cast(Any, peer.identity) if peer else None,
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            memo=handlers.Memo(config=settings, leadership=Leadership(peer)),
        )
    finally:
        traces.shutdown()


if __name__ == "__main__":
    main()
