"""The mcphub API: ``MCPServer``, ``MCPGroup`` and ``AccessPolicy``, group ``mcphub.dev``.

These pydantic models are the single source of truth for the API.  The CRD
YAML under ``crds/`` is generated from them (``python -m mcphub_api.crd``), the
operator and the hub parse objects with them, and the standalone loader
validates YAML files with them -- including the very CEL rules that the API
server enforces, evaluated from the generated schema, so a file the hub
accepts is a file ``kubectl apply`` accepts and vice versa.
"""

from mcphub_api.accesspolicy import AccessPolicy, AccessPolicySpec, AccessPolicyStatus
from mcphub_api.mcpgroup import MCPGroup, MCPGroupSpec, MCPGroupStatus
from mcphub_api.mcpserver import MCPServer, MCPServerSpec, MCPServerStatus
from mcphub_api.meta import API_VERSION, GROUP, VERSION, Condition, ObjectMeta

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "AccessPolicy",
    "AccessPolicySpec",
    "AccessPolicyStatus",
    "Condition",
    "MCPGroup",
    "MCPGroupSpec",
    "MCPGroupStatus",
    "MCPServer",
    "MCPServerSpec",
    "MCPServerStatus",
    "ObjectMeta",
]
