"""The dashboard's command-line settings, each with an ``MCPHUB_UI_*`` environment fallback."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hub_proxy.auth.errors import AuthConfigError
from hub_proxy.dashboard.settings import Admins, DashboardSettings, OIDCSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "dashboard", "the web dashboard at /ui, under the same sign-in and policies as /mcp"
    )
    environ = os.environ
    group.add_argument(
        "--no-ui",
        action="store_true",
        default=environ.get("MCPHUB_UI_DISABLED", "") == "true",
        help="do not serve the dashboard [MCPHUB_UI_DISABLED=true]",
    )
    group.add_argument(
        "--ui-write",
        action="store_true",
        default=environ.get("MCPHUB_UI_WRITE", "") == "true",
        help="let dashboard administrators add, edit and remove servers in the --config folder "
        "(standalone only; in a cluster the dashboard only shows YAML) [MCPHUB_UI_WRITE=true]",
    )
    group.add_argument(
        "--ui-admin",
        action="append",
        default=[s for s in environ.get("MCPHUB_UI_ADMINS", "").split(",") if s.strip()],
        metavar="KIND:NAME",
        help="a dashboard administrator, named as an AccessPolicy subject: Group:NAME, User:NAME, "
        "APIKey:NAMESPACE/NAME or ServiceAccount:NAMESPACE/NAME; repeatable "
        "[MCPHUB_UI_ADMINS, comma-separated]",
    )
    group.add_argument(
        "--ui-oidc-client-id",
        default=environ.get("MCPHUB_UI_OIDC_CLIENT_ID"),
        help="sign people in with OpenID Connect (authorization code with PKCE) as this client "
        "of the --oidc-issuer [MCPHUB_UI_OIDC_CLIENT_ID]",
    )
    group.add_argument(
        "--ui-oidc-client-secret-file",
        type=Path,
        default=environ.get("MCPHUB_UI_OIDC_CLIENT_SECRET_FILE"),
        metavar="FILE",
        help="the client's secret, for a confidential client [MCPHUB_UI_OIDC_CLIENT_SECRET_FILE]",
    )
    group.add_argument(
        "--ui-oidc-issuer",
        default=environ.get("MCPHUB_UI_OIDC_ISSUER"),
        metavar="URL",
        help="which --oidc-issuer signs people in, when there are several [MCPHUB_UI_OIDC_ISSUER]",
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
