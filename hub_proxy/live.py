"""The catalog in force, and the folder watch that replaces it while the hub runs.

Standalone, the folder is the hub's configuration, and editing it must not
need a restart that would drop every client's session.  The watch polls once
a second: a stat of each YAML file (modification time and size) is cheap for
the few dozen files a folder holds, needs no dependency, and works on every
filesystem, including the bind mounts and network shares where inotify stays
silent.  A change reloads the whole folder through the same loader that
started the hub, so a live change is validated exactly like the first load.
An invalid change is logged with the loader's message, naming file, document
and field, and the last good catalog stays in force: a typo while editing must
not take servers away from the clients using them.

A valid change is applied in one step, without an await in between: the
upstreams are started and stopped first, then the catalog is swapped, so that
no request ever sees a scope naming a server the hub does not run.  Then every
listener hears the old and the new catalog; each downstream session compares
its own scope and tells its client ``list_changed`` when what it sees changed,
removals included.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Final, Protocol

from hub_proxy import kube
from hub_proxy.catalog import Catalog, in_cluster, load_catalog
from hub_proxy.upstreams import Upstreams
from mcphub_api.errors import LoadError

POLL_SECONDS: Final = 1.0
_SUFFIXES: Final = frozenset({".yaml", ".yml"})

logger = logging.getLogger(__name__)

# What a folder looked like: each YAML file's modification time and size.
Snapshot = dict[Path, tuple[int, int]]


class CatalogListener(Protocol):
    """Told that ``new`` replaced ``old``."""

    def __call__(self, old: Catalog, new: Catalog, /) -> None: ...


class LiveCatalog:
    """The catalog in force, and who wants to hear that it was replaced."""

    def __init__(self, catalog: Catalog) -> None:
        self.current = catalog
        self._listeners: set[CatalogListener] = set()

    def subscribe(self, listener: CatalogListener) -> None:
        self._listeners.add(listener)

    def unsubscribe(self, listener: CatalogListener) -> None:
        self._listeners.discard(listener)

    def replace(self, catalog: Catalog) -> None:
        old, self.current = self.current, catalog
        for listener in list(self._listeners):
            listener(old, catalog)


def log_catalog(catalog: Catalog) -> None:
    """What an operator needs to know about a catalog just put in force."""
    for name, why in catalog.unsupported.items():
        logger.warning("MCPServer not served", extra={"server": name, "why": why})
    for warning in catalog.warnings:
        logger.warning(warning)
    paths = sorted(scope.path for scope in catalog.scopes.values())
    logger.info("hub configured", extra={"servers": sorted(catalog.servers), "paths": paths})


def snapshot(folder: Path) -> Snapshot:
    seen: Snapshot = {}
    for path in folder.rglob("*"):
        if path.suffix not in _SUFFIXES:
            continue
        try:
            stat = path.stat()
        except OSError:
            continue  # removed between listing and stat: the next poll sees it gone
        seen[path] = (stat.st_mtime_ns, stat.st_size)
    return seen


async def watch_folder(
    folder: Path,
    live: LiveCatalog,
    upstreams: Upstreams,
    interval: float = POLL_SECONDS,
) -> None:
    """Apply every valid change of ``folder`` until cancelled."""
    seen = await asyncio.to_thread(snapshot, folder)
    while True:
        await asyncio.sleep(interval)
        now = await asyncio.to_thread(snapshot, folder)
        if now == seen:
            continue
        seen = now
        try:
            catalog = await asyncio.to_thread(load_catalog, folder)
        except LoadError as exc:
            logger.error(
                "configuration change refused; the last valid one stays in force",
                extra={"folder": str(folder), "problems": exc.problems},
            )
            continue
        upstreams.apply(catalog.servers)
        live.replace(catalog)
        log_catalog(catalog)


async def follow_cluster(
    connection: kube.Connection, namespace: str, live: LiveCatalog, upstreams: Upstreams
) -> None:
    """Apply every snapshot of the namespace's catalog objects until cancelled."""

    async def apply(snapshot: kube.Snapshot) -> None:
        catalog = in_cluster(snapshot.servers, snapshot.groups, snapshot.policies, snapshot.secrets)
        upstreams.apply(catalog.servers)
        live.replace(catalog)
        log_catalog(catalog)

    await kube.ClusterWatch(connection, namespace, apply).run()
