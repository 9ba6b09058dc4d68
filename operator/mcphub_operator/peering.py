"""Several operator replicas, one of which reconciles: kopf's peering, set up to fail over fast.

kopf's peering is leader election by priority: every replica writes a
keep-alive (its priority, a lifetime, the time) into the status of one
``ClusterKopfPeering`` object (``KopfPeering`` objects, one per namespace,
when the operator watches namespaces), and a replica that sees a live peer
of higher priority pauses its watches.  kopf makes neither the object nor
distinct priorities, and equal priorities pause *every* replica, so:

* each replica creates the peering object when it is missing (its RBAC lets
  it create those, and nothing else, in ``manifests/rbac/peering.yaml``);
* a replica's priority is minus its start time in microseconds, plus a random
  tie-breaker: the oldest live replica leads, and a new one (a rolling update,
  a rescheduled pod) never takes over from a leader that is still alive;
* the lifetime of a keep-alive is short (``--peering-lifetime``, 15 s by
  default; kopf's is 60 s): a leader that dies without a word (``kill -9``, a
  lost node) is replaced once its last keep-alive expires, so failover takes
  at most that long, plus a resync of the objects.  A leader that stops
  cleanly withdraws its keep-alive and is replaced at once.

kopf does not tell handlers whether they lead; the operator's own work
outside kopf's watches -- the re-verification timer -- must not run on a
standby.  :func:`follow` reads the peering object every few seconds and
decides the same way kopf does, keeping :attr:`Leadership.leading` and the
``mcphub_operator_leader`` gauge current.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mcphub_operator import metrics
from mcphub_runtime.kube import KubeClient, KubeError

logger = logging.getLogger(__name__)

API_VERSION: Final = "kopf.dev/v1"
# kopf's own default when a keep-alive names none.
_KOPF_LIFETIME: Final = 60


@dataclass(frozen=True)
class Peering:
    """This replica as a peer: which peering object, who it is, how it ranks."""

    name: str
    identity: str
    priority: int
    lifetime: int
    # Empty: the cluster-wide object; else one object in each namespace watched.
    namespaces: tuple[str, ...]

    @classmethod
    def joining(cls, name: str, lifetime: int, namespaces: tuple[str, ...]) -> Peering:
        """This process as a new peer: ranked below every replica already running."""
        started = time.time_ns() // 1000
        identity = f"{os.environ.get('POD_NAME') or socket.gethostname()}/{os.getpid()}"
        priority = -started * 1000 - random.randrange(1000)  # noqa: S311 - a tie-breaker
        return cls(name, identity, priority, lifetime, namespaces)

    def paths(self) -> list[str]:
        if not self.namespaces:
            return [f"/apis/{API_VERSION}/clusterkopfpeerings/{self.name}"]
        return [
            f"/apis/{API_VERSION}/namespaces/{namespace}/kopfpeerings/{self.name}"
            for namespace in self.namespaces
        ]

    def manifests(self) -> list[dict[str, Any]]:
        """The peering objects, to create when missing."""
        if not self.namespaces:
            return [_manifest("ClusterKopfPeering", {"name": self.name})]
        return [
            _manifest("KopfPeering", {"name": self.name, "namespace": namespace})
            for namespace in self.namespaces
        ]


def _manifest(kind: str, metadata: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata}


def leads(status: Mapping[str, Any], me: Peering, now: datetime.datetime) -> bool:
    """Whether no live peer but ``me`` has a priority as high: kopf's rule for not pausing."""
    for identity, keepalive in status.items():
        if identity == me.identity or not isinstance(keepalive, Mapping):
            continue
        try:
            seen = datetime.datetime.fromisoformat(str(keepalive["lastseen"]))
            lifetime = int(keepalive.get("lifetime", _KOPF_LIFETIME))
            priority = int(keepalive.get("priority", 0))
        except (KeyError, TypeError, ValueError):
            continue  # not a keep-alive kopf would count either
        alive = seen + datetime.timedelta(seconds=lifetime) > now
        if alive and priority >= me.priority:
            return False
    return True


class Leadership:
    """Whether this replica reconciles; always so when it runs standalone."""

    def __init__(self, peering: Peering | None) -> None:
        self.peering = peering
        self.leading = peering is None
        metrics.LEADER.set(int(self.leading))

    async def join(self, kube: KubeClient) -> None:
        """Make the peering objects that kopf expects to find (a replica may be the first)."""
        if self.peering is None:
            return
        for path, manifest in zip(self.peering.paths(), self.peering.manifests(), strict=True):
            await kube.create(path.rsplit("/", 1)[0], manifest)

    async def follow(self, kube: KubeClient) -> None:
        """Keep :attr:`leading` current until cancelled."""
        if self.peering is None:
            return
        interval = max(1.0, self.peering.lifetime / 5)
        while True:
            await self._check(kube, self.peering)
            await asyncio.sleep(interval)

    async def _check(self, kube: KubeClient, peering: Peering) -> None:
        try:
            objects = [await kube.get(path) for path in peering.paths()]
        except (KubeError, OSError, TimeoutError) as exc:
            logger.warning("cannot read the peering object: %s", exc)
            return
        now = datetime.datetime.now(datetime.UTC)
        leading = all(leads((obj or {}).get("status") or {}, peering, now) for obj in objects)
        if leading != self.leading:
            logger.info("this replica %s", "leads" if leading else "stands by")
        self.leading = leading
        metrics.LEADER.set(int(leading))
