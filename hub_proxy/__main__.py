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

Every request to an MCP endpoint is authenticated (see :mod:`hub_proxy.access`):
API keys whose hashes are in Secrets labelled ``mcphub.dev/api-key`` (the
folder's, or the namespace's) always work; JWT issuers (``--hs256``,
``--jwks``, ``--oidc-issuer``, all for ``--audience``) and ServiceAccount
tokens (``--token-review``, in a cluster) when configured; a request with no
credentials only with ``--anonymous``.  What an authenticated caller may see
and do is what the AccessPolicies in force allow, and nothing else.

The web dashboard is served at ``/ui`` under the same sign-in and policies
(see :mod:`hub_proxy.dashboard`; ``--ui-*`` settings).

``/mcp/$smart`` and ``/mcp/$smart/{group}`` serve smart routing (see
:mod:`hub_proxy.smart`): the tool search index lives in memory with the
offline model unless ``--database-url`` (PostgreSQL with pgvector, shared by
replicas) or ``--embedding-url`` (an OpenAI-compatible API) say otherwise.

Tracing is configured by the standard ``OTEL_*`` environment variables (see
:mod:`mcphub_runtime.tracing`).

An invalid folder, access-control or tracing setting at start is exit status 2
with every problem listed: the same contract as a command-line usage error,
because the configuration is the command line of a standalone hub.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Final

from aiohttp import web
from kubernetes.config import config_exception as kube_config

from hub_proxy import kube
from hub_proxy.access import AccessControl
from hub_proxy.app import create_app
from hub_proxy.auth.audit import Audit
from hub_proxy.auth.authenticator import Authenticator, AuthSettings
from hub_proxy.auth.errors import AuthConfigError
from hub_proxy.auth.jwt_tokens import JWTIssuer
from hub_proxy.auth.sealing import load_key
from hub_proxy.catalog import in_cluster, load_catalog
from hub_proxy.dashboard import cli as dashboard_cli
from hub_proxy.dashboard import mount as mount_dashboard
from hub_proxy.live import LiveCatalog, log_catalog
from hub_proxy.search import SearchError, SearchIndex
from hub_proxy.search.embedding import Embedder
from hub_proxy.search.embedding.local import LocalEmbedder
from hub_proxy.search.embedding.openai import OpenAIEmbedder
from hub_proxy.search.memory import MemoryStore
from hub_proxy.search.postgres import PostgresStore
from hub_proxy.search.store import Store
from hub_proxy.smart import SmartRouting
from hub_proxy.transport import EndpointOptions, SessionLimits, Sessions
from hub_proxy.transport.sessions import (
    DEFAULT_IDLE_SECONDS,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_SESSIONS_PER_OWNER,
)
from hub_proxy.upstreams import Upstreams
from mcphub_api.errors import LoadError
from mcphub_runtime import cli, logs, tracing

EXAMPLE_CONFIG: Final = Path(__file__).parent / "examples" / "standalone"
# Long enough for running calls to get their answers, short enough for a restart.
_HTTP_SHUTDOWN_SECONDS: Final = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(prog="mcphub-hub", description=__doc__.split("\n\n")[0])
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
        help="the one namespace served with --cluster (default: the pod's, POD_NAMESPACE, "
        "else default)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="TCP port to listen on")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on this port of --host instead of beside the MCP endpoints: "
        "metrics name servers and policies, so keep them off the port clients reach",
    )
    _session_arguments(parser)
    _access_arguments(parser)
    dashboard_cli.add_arguments(parser)
    _search_arguments(parser)
    args = parser.parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    connection: kube.Connection | None = None
    if args.cluster:
        try:
            connection = kube.connection()
        except kube_config.ConfigException as exc:
            print(f"mcphub-hub: no Kubernetes credentials: {exc}", file=sys.stderr)
            return 2
        # Empty until the first snapshot of the namespace arrives, a moment later.
        catalog = in_cluster([], [])
    else:
        try:
            catalog = load_catalog(args.config)
        except LoadError as exc:
            print(f"mcphub-hub: invalid configuration in {args.config}:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 2
        log_catalog(catalog)
    live = LiveCatalog(catalog)
    reviews = (
        kube.TokenReviews(connection) if connection is not None and args.token_review else None
    )
    try:
        access = _access_control(args, live, reviews)
        session_key = _session_key(args.session_key)
        dashboard = dashboard_cli.settings_from(args)
        limits = SessionLimits(
            args.max_sessions, args.max_sessions_per_principal, args.session_idle_timeout
        )
        # Before the app: it installs tracing's middleware only if tracing is on.
        traces = tracing.configure("mcphub-hub")
    except (AuthConfigError, OSError, ValueError) as exc:
        print(f"mcphub-hub: {exc}", file=sys.stderr)
        return 2
    upstreams = Upstreams(catalog.servers)
    try:
        smart = SmartRouting(_search_index(args), live, upstreams, access)
    except (SearchError, OSError, ValueError) as exc:
        print(f"mcphub-hub: {exc}", file=sys.stderr)
        return 2
    app = create_app(
        live,
        upstreams,
        access,
        session_key,
        options=EndpointOptions(sessions=Sessions(limits)),
        folder=None if args.cluster else args.config,
        cluster=(connection, args.namespace) if connection is not None else None,
        smart=smart,
        metrics_at=(args.host, args.metrics_port) if args.metrics_port is not None else None,
    )
    if dashboard is not None:
        mount_dashboard(app, access, session_key, dashboard)
    if reviews is not None:
        app.on_cleanup.append(lambda _app: reviews.close())
    _serve(app, args, traces)
    return 0


def _serve(app: web.Application, args: argparse.Namespace, traces: tracing.Tracing) -> None:
    """Serve until stopped, then export the spans still queued."""
    try:
        web.run_app(
            app,
            host=args.host,
            port=args.port,
            access_log=None,
            shutdown_timeout=_HTTP_SHUTDOWN_SECONDS,
            print=None,
        )
    finally:
        traces.shutdown()


def _session_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "sessions", "how many MCP sessions the hub holds (legacy SSE streams count too)"
    )
    group.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        help="sessions this replica holds at most; more are refused with 503 "
        f"(default: {DEFAULT_MAX_SESSIONS})",
    )
    group.add_argument(
        "--max-sessions-per-principal",
        type=int,
        default=DEFAULT_MAX_SESSIONS_PER_OWNER,
        help="sessions one principal (user, API key, ServiceAccount; all anonymous callers "
        "are one) holds at most on this replica; more are refused with 429 "
        f"(default: {DEFAULT_MAX_SESSIONS_PER_OWNER})",
    )
    group.add_argument(
        "--session-idle-timeout",
        type=float,
        default=DEFAULT_IDLE_SECONDS,
        metavar="SECONDS",
        help="a session with nothing in flight and no stream open this long is closed "
        f"(default: {DEFAULT_IDLE_SECONDS:g})",
    )


def _access_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "access control",
        "API keys from Secrets labelled mcphub.dev/api-key always work; these add other ways in",
    )
    group.add_argument(
        "--audience",
        help="the audience (aud) JWTs and ServiceAccount tokens must be issued for",
    )
    group.add_argument(
        "--hs256",
        action="append",
        default=[],
        metavar="ISSUER=FILE",
        help="accept HS256 JWTs from ISSUER, signed with the secret in FILE "
        "(a mounted Secret key; at least 32 bytes); repeatable",
    )
    group.add_argument(
        "--jwks",
        action="append",
        default=[],
        metavar="ISSUER=URL",
        help="accept RS256/ES256 JWTs from ISSUER, with keys from the JWKS at URL; repeatable",
    )
    group.add_argument(
        "--oidc-issuer",
        action="append",
        default=[],
        metavar="URL",
        help="accept RS256/ES256 JWTs from an OpenID Connect issuer, keys found by discovery; "
        "repeatable",
    )
    for what, claim in (("username", "sub"), ("groups", "groups")):
        group.add_argument(
            f"--{what}-prefix",
            action="append",
            default=[],
            metavar="ISSUER=PREFIX",
            help=f"put PREFIX before the {what} ({claim} claim) of ISSUER's tokens; default: "
            "none with one JWT issuer, 'ISSUER#' with several, so that no issuer can name "
            "another's users; repeatable",
        )
    group.add_argument(
        "--token-review",
        action="store_true",
        help="accept Kubernetes ServiceAccount tokens issued for --audience, checked by "
        "TokenReview (with --cluster)",
    )
    group.add_argument(
        "--anonymous",
        action="store_true",
        help="serve requests without credentials as User system:anonymous, in Group "
        "system:unauthenticated (AccessPolicies still decide what it sees)",
    )
    group.add_argument(
        "--session-key",
        type=Path,
        metavar="FILE",
        help="32-byte key (raw or base64) sealing session ids, shared by every replica so any "
        "of them serves any session; without it, sessions stay on the replica that opened "
        "them",
    )
    group.add_argument(
        "--public-url",
        help="the hub's URL as clients reach it (https), for OAuth protected-resource "
        "metadata; default: from each request",
    )


def _search_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "smart routing",
        "tool search at /mcp/$smart: in memory with the offline model unless told otherwise",
    )
    group.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL with pgvector holding the search index, shared by replicas "
        "(postgresql://user:password@host/db); default: in memory",
    )
    group.add_argument(
        "--embedding-url",
        metavar="URL",
        help="an OpenAI-compatible embeddings API (its /v1 base URL); default: the offline "
        "model all-MiniLM-L6-v2 on the CPU",
    )
    group.add_argument(
        "--embedding-model",
        default="text-embedding-3-small",
        help="the model the --embedding-url API embeds with",
    )
    group.add_argument(
        "--embedding-dimensions",
        type=int,
        default=1536,
        help="the size of its vectors",
    )
    group.add_argument(
        "--embedding-key-file",
        type=Path,
        metavar="FILE",
        help="file holding the API key (a mounted Secret)",
    )


def _search_index(args: argparse.Namespace) -> SearchIndex:
    embedder: Embedder
    if args.embedding_url:
        embedder = OpenAIEmbedder(
            args.embedding_url,
            args.embedding_model,
            args.embedding_dimensions,
            key_file=args.embedding_key_file,
        )
    else:
        embedder = LocalEmbedder()
    store: Store = PostgresStore(args.database_url) if args.database_url else MemoryStore()
    return SearchIndex(store, embedder)


def _access_control(
    args: argparse.Namespace, live: LiveCatalog, reviews: kube.TokenReviews | None
) -> AccessControl:
    """The authenticator the arguments describe, over the catalog in ``live``."""
    issuers = [
        *(_issuer(spec, "--hs256", args.audience, secret_file=True) for spec in args.hs256),
        *(_issuer(spec, "--jwks", args.audience, secret_file=False) for spec in args.jwks),
        *(JWTIssuer(url, _audience(args.audience, "--oidc-issuer")) for url in args.oidc_issuer),
    ]
    issuers = [_with_prefixes(issuer, args) for issuer in issuers]
    named = {issuer.issuer for issuer in issuers}
    for spec in (*args.username_prefix, *args.groups_prefix):
        if not any(spec.startswith(f"{name}=") for name in named):
            raise AuthConfigError(
                f"a prefix takes ISSUER=PREFIX for a configured issuer "
                f"({', '.join(sorted(named)) or 'none is'}), not {spec!r}"
            )
    if args.token_review and reviews is None:
        raise AuthConfigError("--token-review needs --cluster: it asks the Kubernetes API")
    settings = AuthSettings(
        jwt_issuers=tuple(issuers),
        token_review_audience=_audience(args.audience, "--token-review")
        if args.token_review
        else None,
        anonymous=args.anonymous,
    )
    return AccessControl(
        Authenticator(settings, review=reviews), live, Audit(), public_url=args.public_url
    )


def _with_prefixes(issuer: JWTIssuer, args: argparse.Namespace) -> JWTIssuer:
    """``issuer`` with the --username-prefix and --groups-prefix given for it."""

    def given(specs: list[str]) -> str | None:
        start = f"{issuer.issuer}="
        found = [spec.removeprefix(start) for spec in specs if spec.startswith(start)]
        return found[-1] if found else None

    return dataclasses.replace(
        issuer,
        username_prefix=given(args.username_prefix),
        groups_prefix=given(args.groups_prefix),
    )


def _issuer(spec: str, flag: str, audience: str | None, *, secret_file: bool) -> JWTIssuer:
    issuer, separator, where = spec.rpartition("=")
    if not separator or not issuer or not where:
        raise AuthConfigError(
            f"{flag} takes ISSUER={'FILE' if secret_file else 'URL'}, not {spec!r}"
        )
    audience = _audience(audience, flag)
    if secret_file:
        return JWTIssuer(issuer, audience, secret=Path(where).read_bytes().strip())
    return JWTIssuer(issuer, audience, jwks_url=where)


def _audience(audience: str | None, flag: str) -> str:
    if not audience:
        raise AuthConfigError(f"{flag} needs --audience: the aud its tokens must carry")
    return audience


def _session_key(path: Path | None) -> bytes:
    if path is None:
        logging.getLogger(__name__).warning(
            "no --session-key: session ids are sealed with a key of this process alone, "
            "so a session is served only by the replica that opened it"
        )
    return load_key(path)


if __name__ == "__main__":
    sys.exit(main())
