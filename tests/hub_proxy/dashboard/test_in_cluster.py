"""The dashboard of a hub in a cluster: the operator's verified status, the API's YAML, no writes.

Real control plane and operator, a remote ``server-everything``, the hub with
``--cluster`` under its shipped RBAC and ``--ui-write`` (which a cluster must
ignore), and a person signing in with a ServiceAccount token that the hub
checks by TokenReview.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp

from hub_proxy.dashboard.signin import COOKIE
from tests.hub_proxy.dashboard.hub import signed_in
from tests.hub_proxy.test_in_cluster import AUDIENCE, apply, hub_kubeconfig
from tests.testbed.kube import ControlPlane
from tests.testbed.mcp_servers import running_everything_http
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open

VERIFIED_SECONDS = 60.0
VIEWERS: dict[str, object] = {
    "apiVersion": "mcphub.dev/v1alpha1",
    "kind": "AccessPolicy",
    "metadata": {"name": "viewers"},
    "spec": {
        "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}],
        "rules": [{"servers": ["*"], "actions": ["list"]}],
    },
}


async def page(http: aiohttp.ClientSession, url: str, cookie: str) -> tuple[int, str]:
    async with http.get(url, headers={"Cookie": f"{COOKIE}={cookie}"}) as answer:
        return answer.status, await answer.text()


async def test_a_cluster_hub_shows_the_operators_status_and_writes_nothing(
    crds_installed: ControlPlane,
    operator: ManagedProcess,
    namespace: str,
    tmp_path: Path,
) -> None:
    with running_everything_http(tmp_path / "everything") as everything:
        await served_by_a_cluster_hub(crds_installed, namespace, everything, tmp_path)


async def served_by_a_cluster_hub(
    crds_installed: ControlPlane, namespace: str, everything: str, tmp_path: Path
) -> None:
    apply(crds_installed, namespace, VIEWERS)
    server: dict[str, object] = {
        "apiVersion": "mcphub.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": "everything"},
        "spec": {"remote": {"url": everything}},
    }
    apply(crds_installed, namespace, server)
    crds_installed.kubectl("create", "serviceaccount", "viewer", "-n", namespace)
    token = crds_installed.kubectl(
        "create", "token", "viewer", "-n", namespace, f"--audience={AUDIENCE}"
    ).strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hub = ManagedProcess(
        "hub",
        [
            sys.executable, "-m", "hub_proxy", "--cluster", "--namespace", namespace,
            "--port", str(port), "--token-review", f"--audience={AUDIENCE}", "--ui-write",
        ],
        env={
            "KUBECONFIG": str(hub_kubeconfig(crds_installed, tmp_path, namespace)),
            "PATH": os.environ["PATH"],
        },
        cwd=REPO_ROOT,
        log_dir=tmp_path,
    )  # fmt: skip
    try:
        await asyncio.to_thread(
            hub.wait_until, lambda: port_is_open(port), timeout=60, what="the hub listening"
        )
        async with aiohttp.ClientSession() as http:
            cookie, csrf = await signed_in(http, base, token)

            async def verified() -> str:
                status, text = await page(http, f"{base}/ui/servers/everything", cookie)
                return text if status == 200 and ">Verified<" in text else ""

            shown = ""
            for _ in range(int(VERIFIED_SECONDS)):
                shown = await verified()
                if shown:
                    break
                await asyncio.sleep(1)
            assert shown, "the server page never showed the operator's Verified condition"
            # The operator's conditions, the API's own object, and no way to edit it.
            assert re.search(r"<th scope=\"row\">Ready</th><td>True</td>", shown)
            assert "kind: MCPServer" in shown
            assert f"url: {everything}" in shown
            assert "/edit" not in shown
            status, _ = await page(http, f"{base}/ui/servers/everything/edit", cookie)
            assert status == 404
            form = {"csrf": csrf, "name": "made", "runs": "remote", "transport": "streamable-http"}
            form |= {"url": "http://127.0.0.1:1/mcp", "action": "save"}
            async with http.post(
                f"{base}/ui/config/new", data=form, headers={"Cookie": f"{COOKIE}={cookie}"}
            ) as built:
                text = await built.text()
            assert built.status == 200
            assert "configuration goes through Git" in text
            assert "name: made" in text
            assert "Saved as" not in text
        listed = crds_installed.kubectl("get", "mcps", "-n", namespace, "-o", "name")
        assert listed.split() == ["mcpserver.mcphub.dev/everything"]
    finally:
        hub.stop()
