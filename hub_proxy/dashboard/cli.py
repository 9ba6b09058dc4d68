"""The dashboard's command-line settings (each also an ``MCPHUB_*`` variable, as every flag is)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub_proxy.auth.errors import AuthConfigError
from hub_proxy.dashboard.settings import Admins, DashboardSettings, OIDCSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "dashboard", "the web dashboard at /ui, under the same sign-in and policies as /mcp"
    )
    group.add_argument(
        "--no-ui",
        action="store_true",
        help="do not serve the dashboard",
    )
    group.add_argument(
        "--ui-write",
        action="store_true",
        help="let dashboard administrators add, edit and remove servers in the --config folder "
        "(standalone only; in a cluster the dashboard only shows YAML)",
    )
    group.add_argument(
        "--ui-admin",
        action="append",
        default=[],
        metavar="KIND:NAME",
        help="a dashboard administrator, named as an AccessPolicy subject: Group:NAME, User:NAME, "
        "APIKey:NAMESPACE/NAME or ServiceAccount:NAMESPACE/NAME; repeatable",
    )
    group.add_argument(
        "--ui-oidc-client-id",
        help="sign people in with OpenID Connect (authorization code with PKCE) as this client "
        "of the --oidc-issuer",
    )
    group.add_argument(
        "--ui-oidc-client-secret-file",
        type=Path,
        metavar="FILE",
        help="the client's secret, for a confidential client",
    )
    group.add_argument(
        "--ui-oidc-issuer",
        metavar="URL",
        help="which --oidc-issuer signs people in, when there are several",
    )


def settings_from(args: argparse.Namespace) -> DashboardSettings | None:
    """The dashboard's settings from parsed arguments; None with --no-ui."""
    if args.no_ui:
        return None
    admins = tuple(spec.strip() for spec in args.ui_admin)
    Admins(admins)  # refuses a malformed subject now, at start
    return DashboardSettings(
        write=args.ui_write and not args.cluster,
        admins=admins,
        oidc=_oidc(args),
        public_url=args.public_url,
    )


def _oidc(args: argparse.Namespace) -> OIDCSettings | None:
    if not args.ui_oidc_client_id:
        return None
    issuers: list[str] = args.oidc_issuer
    issuer = args.ui_oidc_issuer or (issuers[0] if len(issuers) == 1 else None)
    if issuer is None or issuer not in issuers:
        raise AuthConfigError(
            "--ui-oidc-client-id signs people in with an --oidc-issuer the hub trusts: give "
            "exactly one --oidc-issuer, or name one of them with --ui-oidc-issuer"
        )
    secret_file: Path | None = args.ui_oidc_client_secret_file
    secret = secret_file.read_text().strip() if secret_file is not None else None
    return OIDCSettings(issuer, args.ui_oidc_client_id, secret)
