"""kopf wiring: which events trigger which reconcile pass.  No decisions here.

Every trigger funnels into one level-based pass per object (``core``), so
the operator's behaviour does not depend on which event arrived first, nor on
how many:

* an ``MCPServer`` is reconciled when it appears, when its spec or labels
  change, on a timer (re-verification), and when one of its Deployment or
  Service changes or disappears (drift repair);
* ``MCPGroup`` and ``AccessPolicy`` objects are resolved when they change and
  whenever a server or group of their namespace changes, from kopf indexes
  rather than API reads;
* a per-object lock keeps two triggers of the same object from racing.

Status is written only when it changed (timestamps aside), and every
condition transition becomes a Kubernetes Event on the object -- except a
condition other than Ready appearing in its normal state, which says nothing
new and would cost an API request per condition per new object.

While tracing is on (``OTEL_*``, see :mod:`mcphub_runtime.tracing`), every
pass is a span, ``reconcile {kind}``, and each MCP verification a CLIENT
span, ``verify``, within it, whose context the verification's HTTP requests
carry: the server's own spans (a traced bridge's, a traced hub's) join the
operator's trace.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Coroutine, Iterable, Mapping
from typing import Any, Protocol, TypeVar

import kopf
import pydantic
from aiohttp import web
from kubernetes.config import config_exception as kube_config
from opentelemetry.trace import SpanKind

from mcphub_api import GROUP, VERSION, AccessPolicy, MCPGroup, MCPServer
from mcphub_operator import metrics, serving
from mcphub_operator.config import OperatorConfig
from mcphub_operator.core import groups, policies, servers, workloads
from mcphub_operator.core.conditions import (
    Transition,
    condition_of,
    progress_of,
    status_of,
    without_times,
)
from mcphub_operator.core.verification import Inventory, VerificationError, verify
from mcphub_operator.peering import Leadership
from mcphub_operator.slots import Slots
from mcphub_runtime import retry, tracing
from mcphub_runtime.kube import ConflictError, KubeClient, connection, resource_path

logger = logging.getLogger(__name__)
CONFLICT_ATTEMPTS = 5
# How often the re-verifier looks for servers due: the granularity of their clocks.
_REVERIFY_TICK_SECONDS = 1.0
_Model = TypeVar("_Model", bound=pydantic.BaseModel)
# Each condition's normal status (others: "True").  Reconciling=True is normal work, not a warning.
_NORMAL = {"Degraded": "False", "Reconciling": "False", "Stalled": "False"}
_OWNED_LABELS = {"app.kubernetes.io/managed-by": workloads.FIELD_MANAGER}


class Memo(kopf.Memo):
    """Operator-wide state, shared by every handler (kopf hands out shallow copies)."""

    config: OperatorConfig
    kube: KubeClient
    locks: dict[tuple[str, str, str], asyncio.Lock]
    verify_slots: Slots
    # Each MCPServer known, by (namespace, name), as the reference a pass starts from: a
    # pass reads the object afresh, so the whole body (with its managedFields and its
    # tools) would be a second copy of every server kept for nothing.
    servers: dict[tuple[str, str], dict[str, Any]]
    # API paths of the Deployments and Services the operator owns, as its watch reports them.
    owned: set[str]
    # When each server's last pass ended (monotonic): the next is due an interval later.
    passed: dict[tuple[str, str], float]
    reverifying: set[asyncio.Task[bool]]
    # The (namespace, name) of every object of each kind, for the managed-objects gauge.
    known: dict[str, set[tuple[str, str]]]
    reverifier: asyncio.Task[None]
    endpoint: web.AppRunner
    leadership: Leadership
    follower: asyncio.Task[None]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _lock(memo: Memo, kind: str, namespace: str, name: str) -> asyncio.Lock:
    return memo.locks.setdefault((kind, namespace, name), asyncio.Lock())


async def _post_events(
    memo: Memo, obj: Mapping[str, Any], transitions: Iterable[Transition]
) -> None:
    for transition in transitions:
        condition = transition.new
        normal = _NORMAL.get(transition.type, "True") == condition.status
        if transition.old is None and normal and transition.type != "Ready":
            # A condition born normal tells nothing that Ready's own Event does not.
            continue
        await memo.kube.post_event(
            dict(obj),
            "Normal" if normal or transition.type == "Reconciling" else "Warning",
            condition.reason,
            f"{transition.type}={condition.status}: {condition.message}",
        )


def _unchanged(current: Mapping[str, Any] | None, status: Mapping[str, Any]) -> bool:
    current = current or {}
    return without_times(current.get("conditions")) == without_times(status.get("conditions")) and {
        k: v for k, v in current.items() if k != "conditions"
    } == {k: v for k, v in status.items() if k != "conditions"}


class Compute(Protocol):
    """Turns a fresh read of an object into its status and the transitions to announce."""

    def __call__(
        self, fresh: Mapping[str, Any]
    ) -> Awaitable[tuple[dict[str, Any], list[Transition]]]: ...


async def _converge_status(
    memo: Memo, kind: str, plural: str, body: Mapping[str, Any], compute: Compute
) -> dict[str, Any] | None:
    """Read, compute, write with a resourceVersion precondition; retry conflicts soundly.

    Two writers (a second operator replica during a rollout, a person with
    kubectl) can race on a status.  Without the precondition the slower one
    would overwrite facts it never saw.  With it, a 409 leads to a fresh read:
    if only metadata moved (kopf's own annotations do, all the time), the
    computed status still holds and is written again; if the spec or the
    status changed, the pass is recomputed from the newer facts.
    """
    started = time.monotonic()
    metadata = body["metadata"]
    try:
        with tracing.span(f"reconcile {kind}", attributes=_object_attributes(kind, metadata)):
            status = await _converge_locked(memo, kind, plural, body, compute)
    except Exception:
        metrics.RECONCILES.labels(kind, "error").inc()
        raise
    finally:
        metrics.RECONCILE_SECONDS.labels(kind).observe(time.monotonic() - started)
    metrics.RECONCILES.labels(kind, "success").inc()
    return status


def _object_attributes(kind: str, metadata: Mapping[str, Any]) -> dict[str, str]:
    return {
        "k8s.namespace.name": metadata["namespace"],
        "mcphub.kind": kind,
        "mcphub.object": f"{metadata['namespace']}/{metadata['name']}",
    }


async def _converge_locked(
    memo: Memo, kind: str, plural: str, body: Mapping[str, Any], compute: Compute
) -> dict[str, Any] | None:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    path = resource_path(f"{GROUP}/{VERSION}", plural, namespace, name)
    async with _lock(memo, kind, namespace, name):
        fresh = await memo.kube.get(path)
        if fresh is None:
            return None  # deleted meanwhile; garbage collection removes what it owned
        status, transitions = await compute(fresh)
        for _ in range(CONFLICT_ATTEMPTS):
            if _unchanged(fresh.get("status"), status):
                return status
            try:
                await memo.kube.patch_status(path, status, fresh["metadata"]["resourceVersion"])
            except ConflictError:
                based_on = fresh
                fresh = await memo.kube.get(path)
                if fresh is None:
                    return None
                if _generation_or_status_moved(based_on, fresh):
                    logger.info(
                        "%s %s/%s changed meanwhile (409); recomputing", kind, namespace, name
                    )
                    status, transitions = await compute(fresh)
                continue
            await _post_events(memo, fresh, transitions)
            return status
    raise kopf.TemporaryError(f"the status of {kind} {namespace}/{name} kept conflicting", delay=1)


async def _reverify_forever(memo: Memo, interval: float) -> None:
    """Re-verify each known MCPServer ``interval`` seconds after its last pass.

    A plain task rather than kopf timers: kopf puts a finalizer on every object
    with a timer, and then an MCPServer (and its namespace) could not be
    deleted while the operator is down.  Verification needs no finalizer.  Being
    outside kopf's watches, it is not paused on a standby replica by kopf: it
    pauses itself (see :mod:`mcphub_operator.peering`).

    Each server is due on its own clock, not in rounds of all: a round every
    ``interval`` re-verified hundreds of servers at once, servers that kopf's
    handlers had verified a second earlier among them, and with hundreds of
    servers applied together the rounds landed amid their first verifications:
    of the 7,700 API requests of a 500-server apply, 1,274 were reads for
    passes, most of them those rounds'.  Routine passes also yield slots to
    awaited ones (:mod:`mcphub_operator.slots`), and at most as many run at once
    as there are slots.
    """
    while True:
        await asyncio.sleep(_REVERIFY_TICK_SECONDS)
        if not memo.leadership.leading:
            continue  # a standby's objects are its leader's to verify
        if memo.verify_slots.awaited_waiting:
            continue  # first verifications queue: routine ones would only wait behind them
        now = time.monotonic()
        # No more routine passes at once than there are slots: each reads its object
        # first, and hundreds queued behind the slots would read for nothing.
        room = memo.config.verify_concurrency - len(memo.reverifying)
        due = [
            (key, body)
            for key, body in memo.servers.items()
            if now - memo.passed.get(key, now) >= interval
        ][: max(0, room)]
        for key, _ in due:
            memo.passed[key] = now  # not due again while this pass runs
        for key, body in due:
            task = asyncio.create_task(
                reconcile_server(body, memo, routine=True), name=f"reverify {key}"
            )
            memo.reverifying.add(task)
            task.add_done_callback(_reverified)
            task.add_done_callback(memo.reverifying.discard)


def _reverified(task: asyncio.Task[bool]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("re-verification failed (%s): %s", task.get_name(), task.exception())


def _generation_or_status_moved(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    return bool(
        before["metadata"].get("generation") != after["metadata"].get("generation")
        or before.get("status") != after.get("status")
    )


async def _bounded_verify(slots: Slots, routine: bool, url: str, **options: Any) -> Inventory:
    # The time limit starts once a slot is free: it measures the server, not
    # the operator's own queue when hundreds of servers appear at once.
    async with slots.hold(routine=routine):
        started = time.monotonic()
        address = urllib.parse.urlsplit(url)
        port = address.port or (443 if address.scheme == "https" else 80)
        where: dict[str, str | int] = {
            "server.address": address.hostname or "",
            "server.port": port,
        }
        try:
            with tracing.span("verify", SpanKind.CLIENT, where) as span:
                try:
                    inventory = await verify(url, **options)
                except VerificationError as exc:
                    span.set_attribute("mcphub.verification.result", exc.reason)
                    raise
        except VerificationError as exc:
            metrics.VERIFICATIONS.labels(metrics.result_label(exc.reason)).inc()
            raise
        finally:
            metrics.VERIFICATION_SECONDS.observe(time.monotonic() - started)
        metrics.VERIFICATIONS.labels("success").inc()
        return inventory


def _parse(model: type[_Model], body: Mapping[str, Any]) -> _Model:
    try:
        return model.model_validate(dict(body))
    except pydantic.ValidationError as exc:
        # Admission refuses such objects; one can only come from an older CRD.
        raise kopf.PermanentError(
            f"object does not match the {model.__name__} schema: {exc}"
        ) from exc


class _Workloads:
    """The cluster as a server's pass sees it (:class:`servers.Cluster`).

    A remote server has no Deployment or Service, and its pass deletes them in
    case it had a container before.  Deleting what the operator has never seen
    would be two requests per pass answered 404 -- a third of a remote
    server's requests -- so a delete is sent only for an object the watch of
    owned objects has reported.  One that exists but was not reported yet
    (the operator just started) is reported soon, and its event reconciles
    its owner, which deletes it then.
    """

    def __init__(self, kube: KubeClient, owned: set[str]) -> None:
        self._kube = kube
        self._owned = owned

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return await self._kube.apply(manifest)

    async def get(self, path: str) -> dict[str, Any] | None:
        return await self._kube.get(path)

    async def delete(self, path: str) -> None:
        if path in self._owned:
            await self._kube.delete(path)


async def reconcile_server(body: Mapping[str, Any], memo: Memo, *, routine: bool = False) -> bool:
    """Reconcile one MCPServer; whether it is Ready afterwards.

    ``routine``: a timed re-verification, which yields verification slots to
    passes that someone waits for (see :mod:`mcphub_operator.slots`).
    """
    settings = servers.Settings(
        bridge_image=memo.config.bridge_image, verify_timeout=memo.config.verify_timeout
    )

    async def compute(fresh: Mapping[str, Any]) -> tuple[dict[str, Any], list[Transition]]:
        outcome = await servers.reconcile(
            _parse(MCPServer, fresh),
            fresh.get("status"),
            cluster=_Workloads(memo.kube, memo.owned),
            verifier=functools.partial(_bounded_verify, memo.verify_slots, routine),
            settings=settings,
            now=_now,
        )
        return outcome.status, outcome.transitions

    metadata = body["metadata"]
    try:
        status = await _converge_status(memo, "MCPServer", "mcpservers", body, compute)
    finally:
        key = (metadata["namespace"], metadata["name"])
        if key in memo.servers:  # not deleted meanwhile
            memo.passed[key] = time.monotonic()
    return status_of((status or {}).get("conditions"), "Ready") == "True"


def _snapshot(body: Mapping[str, Any]) -> groups.ServerSnapshot:
    status = body.get("status") or {}
    ready = condition_of(status.get("conditions"), "Ready")
    return groups.ServerSnapshot(
        name=body["metadata"]["name"],
        labels=dict(body["metadata"].get("labels") or {}),
        tools=tuple(tool["name"] for tool in status.get("tools") or []),
        ready=ready.get("status") == "True",
        why=ready.get("reason") or "NotObservedYet",
        progress=progress_of(body),
    )


async def reconcile_group(body: Mapping[str, Any], memo: Memo, snapshots: Iterable[Any]) -> None:
    members = list(snapshots)

    async def compute(fresh: Mapping[str, Any]) -> tuple[dict[str, Any], list[Transition]]:
        return groups.resolve(_parse(MCPGroup, fresh), members, fresh.get("status"), _now())

    await _converge_status(memo, "MCPGroup", "mcpgroups", body, compute)


async def reconcile_policy(
    body: Mapping[str, Any], memo: Memo, server_names: Iterable[str], group_names: Iterable[str]
) -> None:
    servers_now, groups_now = set(server_names), set(group_names)

    async def compute(fresh: Mapping[str, Any]) -> tuple[dict[str, Any], list[Transition]]:
        policy = _parse(AccessPolicy, fresh)
        return policies.resolve(policy, servers_now, groups_now, fresh.get("status"), _now())

    await _converge_status(memo, "AccessPolicy", "accesspolicies", body, compute)


def _in(indexes: Mapping[str, Any], name: str, key: Any) -> list[Any]:
    """The values under ``key`` of the kopf index ``name`` (kopf passes indexes as kwargs)."""
    index: kopf.Index[Any, Any] = indexes[name]
    return list(index.get(key, []))


SERVERS = (GROUP, VERSION, "mcpservers")
GROUPS = (GROUP, VERSION, "mcpgroups")
POLICIES = (GROUP, VERSION, "accesspolicies")


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Register every handler on ``registry`` with the intervals of ``config``."""
    _register_lifecycle(registry, config)
    _register_tracking(registry)
    _register_indexes(registry)
    _register_servers(registry, config)
    _register_groups_and_policies(registry)


def _register_lifecycle(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    @kopf.on.startup(registry=registry)
    async def startup(
        settings: kopf.OperatorSettings, memo: Any, logger: kopf.Logger, **_: Any
    ) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 10
        settings.batching.worker_limit = config.workers
        settings.networking.error_backoffs = retry.API.attempts(8)
        # Handler retries are expected (a server on its way up); only our own
        # condition transitions become Events.
        settings.posting.level = logging.ERROR
        # First what can fail, so that a retried startup (kopf retries one that
        # raised) neither binds twice nor leaves sessions and tasks behind.
        try:
            credentials = connection()
        except kube_config.ConfigException as exc:
            raise kopf.PermanentError(
                f"no Kubernetes credentials: set KUBECONFIG or run in a pod ({exc})"
            ) from exc
        try:
            memo.endpoint = await serving.serve(config.host, config.port)
        except serving.EndpointError as exc:
            raise kopf.PermanentError(str(exc)) from exc
        memo.kube = KubeClient(
            credentials, workloads.FIELD_MANAGER, concurrency=config.api_concurrency
        )
        leadership: Leadership = memo.leadership
        if leadership.peering is not None:
            settings.peering.priority = leadership.peering.priority
            settings.peering.lifetime = leadership.peering.lifetime
            try:
                await leadership.join(memo.kube)
            except BaseException:
                await memo.kube.close()
                await memo.endpoint.cleanup()
                raise
        memo.locks = {}
        memo.verify_slots = Slots(config.verify_concurrency)
        memo.servers = {}
        memo.owned = set()
        memo.passed = {}
        memo.reverifying = set()
        memo.known = {kind: set() for kind in metrics.KINDS}
        for kind, known in memo.known.items():
            metrics.MANAGED_OBJECTS.labels(kind).set_function(functools.partial(len, known))
        memo.reverifier = asyncio.create_task(_reverify_forever(memo, config.verify_interval))
        memo.follower = asyncio.create_task(leadership.follow(memo.kube))

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A private registry starts without kopf's default login handlers.
        return kopf.login_via_client(**kwargs)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        memo.reverifier.cancel()
        memo.follower.cancel()
        for task in memo.reverifying:
            task.cancel()
        await memo.kube.close()
        await memo.endpoint.cleanup()


def _register_tracking(registry: kopf.OperatorRegistry) -> None:
    for kind, resource in zip(metrics.KINDS, (SERVERS, GROUPS, POLICIES), strict=True):
        _track(registry, kind, resource)


def _track(registry: kopf.OperatorRegistry, kind: str, resource: tuple[str, str, str]) -> None:
    @kopf.on.event(*resource, id=f"track-{resource[-1]}", registry=registry)
    def track(memo: Any, event: kopf.RawEvent, namespace: str | None, name: str, **_: Any) -> None:
        key = (namespace or "", name)
        known = memo.known[kind]
        if event["type"] == "DELETED":
            known.discard(key)
            if kind == "MCPServer":
                memo.servers.pop(key, None)
                memo.passed.pop(key, None)
        else:
            known.add(key)
            if kind == "MCPServer":
                memo.servers[key] = {"metadata": {"namespace": key[0], "name": key[1]}}


def _register_indexes(registry: kopf.OperatorRegistry) -> None:
    # Handler ids are explicit: kopf stores progress in annotations named after
    # them, and index ids are the kwarg names handlers receive indexes under.
    @kopf.index(*SERVERS, id="server_snapshots", registry=registry)
    def server_snapshots(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str, Any]:
        return {namespace or "": _snapshot(body)}

    @kopf.index(*GROUPS, id="group_bodies", registry=registry)
    def group_bodies(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str, Any]:
        return {namespace or "": body}

    @kopf.index(*POLICIES, id="policy_bodies", registry=registry)
    def policy_bodies(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str, Any]:
        return {namespace or "": body}


def _register_servers(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    @kopf.on.resume(*SERVERS, id="reconcile-server", registry=registry)
    @kopf.on.create(*SERVERS, id="reconcile-server", registry=registry)
    @kopf.on.update(*SERVERS, id="reconcile-server", registry=registry)
    async def server_changed(body: kopf.Body, memo: Any, retry: int = 0, **_: Any) -> None:
        ready = await reconcile_server(body, memo)
        if not ready:
            # Come back sooner than the next re-verification while it is on its way up.
            raise kopf.TemporaryError(
                "not Ready yet", delay=min(2.0**retry, config.verify_interval)
            )

    def owned_trigger(*resource: str) -> None:
        @kopf.on.event(
            *resource, id=f"repair-{resource[-1]}", labels=_OWNED_LABELS, registry=registry
        )
        async def owned_changed(body: kopf.Body, memo: Any, event: kopf.RawEvent, **_: Any) -> None:
            metadata = body["metadata"]
            path = resource_path(
                body["apiVersion"], resource[-1], metadata["namespace"], metadata["name"]
            )
            if event["type"] == "DELETED":
                memo.owned.discard(path)
            else:
                memo.owned.add(path)
            owner_name = (metadata.get("labels") or {}).get(workloads.SERVER_LABEL)
            # The servers tracked for re-verification are the owners to look up.
            server = memo.servers.get((metadata["namespace"], owner_name))
            if server is not None:
                await reconcile_server(server, memo)

    owned_trigger("apps", "v1", "deployments")
    owned_trigger("v1", "services")


def _register_groups_and_policies(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.resume(*GROUPS, id="resolve-group", registry=registry)
    @kopf.on.create(*GROUPS, id="resolve-group", registry=registry)
    @kopf.on.update(*GROUPS, id="resolve-group", registry=registry)
    async def group_changed(
        body: kopf.Body, memo: Any, namespace: str | None, **indexes: Any
    ) -> None:
        await reconcile_group(body, memo, _in(indexes, "server_snapshots", namespace))

    @kopf.on.resume(*POLICIES, id="resolve-policy", registry=registry)
    @kopf.on.create(*POLICIES, id="resolve-policy", registry=registry)
    @kopf.on.update(*POLICIES, id="resolve-policy", registry=registry)
    async def policy_changed(
        body: kopf.Body, memo: Any, namespace: str | None, **indexes: Any
    ) -> None:
        await reconcile_policy(
            body,
            memo,
            (s.name for s in _in(indexes, "server_snapshots", namespace)),
            (g["metadata"]["name"] for g in _in(indexes, "group_bodies", namespace)),
        )

    @kopf.on.event(*SERVERS, id="namespace-changed", registry=registry)
    @kopf.on.event(*GROUPS, id="namespace-changed", registry=registry)
    async def namespace_changed(memo: Any, namespace: str | None, **indexes: Any) -> None:
        snapshots = _in(indexes, "server_snapshots", namespace)
        group_list = _in(indexes, "group_bodies", namespace)
        tasks: list[Coroutine[Any, Any, None]] = [
            reconcile_group(group, memo, snapshots) for group in group_list
        ]
        tasks += [
            reconcile_policy(
                policy,
                memo,
                [s.name for s in snapshots],
                [g["metadata"]["name"] for g in group_list],
            )
            for policy in _in(indexes, "policy_bodies", namespace)
        ]
        await asyncio.gather(*tasks)
