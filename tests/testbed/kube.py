"""A real Kubernetes control plane on loopback, started the way envtest does.

``etcd``, ``kube-apiserver`` and ``kube-controller-manager`` run as child
processes on free 127.0.0.1 ports with throwaway credentials made fresh for
each run: a CA, a serving certificate for the API server, a ``system:masters``
client certificate for the tests, and a service-account signing key pair.
RBAC authorization is on, as in a real cluster, so permission bugs surface
here rather than in production.  There is no kubelet: pods are scheduled
nowhere, which the operator tests address separately.

The controller manager matters: garbage collection of owned objects, the
Deployment and ReplicaSet controllers, namespace deletion and service-account
tokens all live there, and the operator's correctness leans on them.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mcphub_runtime.kube import Connection
from tests.testbed.errors import TestbedError
from tests.testbed.kube_build import require_assets
from tests.testbed.processes import ManagedProcess, free_port

START_TIMEOUT_SECONDS = 90.0
KUBECTL_TIMEOUT_SECONDS = 60.0
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


@dataclass(frozen=True)
class ControlPlane:
    """How to reach a running control plane."""

    server: str
    kubeconfig: Path
    kubectl_binary: Path
    workdir: Path
    ca_cert: Path

    def wait_ready(self, namespace: str, *objects: str, timeout: int = 30) -> str:
        """``kubectl wait --for=condition=Ready``, as a GitOps tool would wait."""
        return self.kubectl(
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            f"--timeout={timeout}s",
            *objects,
            timeout=timeout + 30,
        )

    def token_kubeconfig(self, token: str, path: Path) -> Path:
        """A kubeconfig that authenticates with ``token``, e.g. a ServiceAccount's."""
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: testbed, cluster: {{server: '{self.server}', "
            f"certificate-authority: '{self.ca_cert}'}}}}]\n"
            f"users: [{{name: token, user: {{token: '{token}'}}}}]\n"
            "contexts: [{name: testbed, context: {cluster: testbed, user: token}}]\n"
            "current-context: testbed\n"
        )
        path.chmod(0o600)
        return path

    def token_connection(self, token: str) -> Connection:
        """The project's own API client settings, authenticated with ``token``."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        return Connection(self.server, context, {"Authorization": f"Bearer {token}"})

    def apply(self, namespace: str, document: Mapping[str, Any]) -> str:
        """``kubectl apply --server-side`` one object (or a List) into ``namespace``."""
        return self.kubectl(
            "apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(document)
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = KUBECTL_TIMEOUT_SECONDS
    ) -> str:
        """Run the kubectl of the same release; return stdout or raise with stderr."""
        done = subprocess.run(
            [str(self.kubectl_binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise TestbedError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout


@dataclass(frozen=True)
class _Credentials:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_public_key: Path
    sa_private_key: Path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    is_ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
    usage: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _make_credentials(folder: Path) -> _Credentials:
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcphub-testbed-ca")])
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, is_ca=True)

    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving = _certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        serving_key,
        ca_name,
        ca_key,
        sans=[
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes.default.svc"),
        ],
        usage=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH],
    )

    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _certificate(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "mcphub-testbed-admin"),
            ]
        ),
        admin_key,
        ca_name,
        ca_key,
        usage=[x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH],
    )

    sa_key = ec.generate_private_key(ec.SECP256R1())
    sa_public = sa_key.public_key().public_bytes(
        pem, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _Credentials(
        ca_cert=_write(folder / "ca.crt", ca.public_bytes(pem)),
        serving_cert=_write(folder / "apiserver.crt", serving.public_bytes(pem)),
        serving_key=_write(folder / "apiserver.key", _key_pem(serving_key)),
        admin_cert=_write(folder / "admin.crt", admin.public_bytes(pem)),
        admin_key=_write(folder / "admin.key", _key_pem(admin_key)),
        sa_public_key=_write(folder / "sa.pub", sa_public),
        sa_private_key=_write(folder / "sa.key", _key_pem(sa_key)),
    )


def _kubeconfig(server: str, creds: _Credentials) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: {server}
    certificate-authority: {creds.ca_cert}
users:
- name: admin
  user:
    client-certificate: {creds.admin_cert}
    client-key: {creds.admin_key}
contexts:
- name: testbed
  context:
    cluster: testbed
    user: admin
current-context: testbed
"""


def _https_ok(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start_etcd(bin_dir: Path, workdir: Path) -> tuple[ManagedProcess, str]:
    client_port, peer_port = free_port(), free_port()
    client_url = f"http://127.0.0.1:{client_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    etcd = ManagedProcess(
        "etcd",
        [
            bin_dir / "etcd",
            f"--data-dir={workdir / 'etcd-data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
        log_dir=workdir / "logs",
    )
    etcd.wait_until(
        lambda: _http_ok(f"{client_url}/health"),
        timeout=START_TIMEOUT_SECONDS,
        what=f"/health answering on {client_url}",
    )
    return etcd, client_url


def _start_apiserver(
    bin_dir: Path, workdir: Path, etcd_url: str, creds: _Credentials, client_tls: ssl.SSLContext
) -> tuple[ManagedProcess, str]:
    port = free_port()
    server = f"https://127.0.0.1:{port}"
    apiserver = ManagedProcess(
        "kube-apiserver",
        [
            bin_dir / "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # The `kubernetes` Service endpoints may not point at loopback, and
            # nothing in the test bed routes to it anyway.
            "--endpoint-reconciler-type=none",
            f"--secure-port={port}",
            f"--tls-cert-file={creds.serving_cert}",
            f"--tls-private-key-file={creds.serving_key}",
            f"--client-ca-file={creds.ca_cert}",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={creds.sa_public_key}",
            f"--service-account-signing-key-file={creds.sa_private_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            # Pods may be created before the controller manager has made the
            # namespace's default ServiceAccount; envtest disables it too.
            "--disable-admission-plugins=ServiceAccount",
            f"--cert-dir={workdir / 'apiserver-certs'}",
        ],
        log_dir=workdir / "logs",
    )
    apiserver.wait_until(
        lambda: _https_ok(f"{server}/readyz", client_tls),
        timeout=START_TIMEOUT_SECONDS,
        what=f"/readyz answering on {server}",
    )
    return apiserver, server


def _start_controller_manager(
    bin_dir: Path, workdir: Path, kubeconfig: Path, creds: _Credentials
) -> ManagedProcess:
    port = free_port()
    manager = ManagedProcess(
        "kube-controller-manager",
        [
            bin_dir / "kube-controller-manager",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={workdir / 'controller-manager-certs'}",
            "--leader-elect=false",
            f"--service-account-private-key-file={creds.sa_private_key}",
            f"--root-ca-file={creds.ca_cert}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        ],
        log_dir=workdir / "logs",
    )
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # its serving cert is self-signed, made at start
    manager.wait_until(
        lambda: _https_ok(f"https://127.0.0.1:{port}/healthz", insecure),
        timeout=START_TIMEOUT_SECONDS,
        what=f"/healthz answering on 127.0.0.1:{port}",
    )
    return manager


@contextmanager
def running_control_plane(workdir: Path) -> Iterator[ControlPlane]:
    """Start etcd, kube-apiserver and kube-controller-manager; stop them on exit."""
    bin_dir = require_assets()
    creds = _make_credentials(workdir / "pki")
    client_tls = ssl.create_default_context(cafile=str(creds.ca_cert))
    client_tls.load_cert_chain(str(creds.admin_cert), str(creds.admin_key))
    started: list[ManagedProcess] = []
    try:
        etcd, etcd_url = _start_etcd(bin_dir, workdir)
        started.append(etcd)
        apiserver, server = _start_apiserver(bin_dir, workdir, etcd_url, creds, client_tls)
        started.append(apiserver)
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(_kubeconfig(server, creds))
        kubeconfig.chmod(0o600)
        started.append(_start_controller_manager(bin_dir, workdir, kubeconfig, creds))
        yield ControlPlane(
            server=server,
            kubeconfig=kubeconfig,
            kubectl_binary=bin_dir / "kubectl",
            workdir=workdir,
            ca_cert=creds.ca_cert,
        )
    finally:
        for process in reversed(started):
            process.stop()
