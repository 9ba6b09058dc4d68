"""Run the operator: ``python -m mcphub_operator`` (see ``--help``)."""

from __future__ import annotations

import logging

import kopf

from mcphub_operator import config, handlers


def main(argv: list[str] | None = None) -> None:
    settings = config.parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Every verification is a few HTTP requests; their INFO lines drown the log.
    for chatty in ("httpx2", "mcp.client.streamable_http", "mcp.client.sse"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings)
    kopf.run(
        registry=registry,
        standalone=settings.peering is None,
        peering_name=settings.peering,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        memo=handlers.Memo(config=settings),
    )


if __name__ == "__main__":
    main()
