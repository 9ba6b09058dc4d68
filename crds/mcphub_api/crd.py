"""Generate the CRD YAML under ``crds/`` from the models: ``python -m mcphub_api.crd``.

The committed YAML is a build artefact that reviewers can read and GitOps
pipelines can apply; ``--check`` (run by the test suite) fails when it has
drifted from the models, so the two can never disagree in a release.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from mcphub_api.accesspolicy import AccessPolicy
from mcphub_api.mcpgroup import MCPGroup
from mcphub_api.mcpserver import MCPServer
from mcphub_api.meta import GROUP, VERSION, Resource
from mcphub_api.schema import Schema, structural_schema

KINDS: tuple[type[Resource], ...] = (MCPServer, MCPGroup, AccessPolicy)
CRD_DIR = Path(__file__).resolve().parent.parent
_API_VERSION_DOC = (
    "Versioned schema of this representation of an object; servers convert recognized "
    "schemas to the latest internal value."
)
_KIND_DOC = "The REST resource this object represents, in CamelCase."
HEADER = "# Generated from crds/mcphub_api by `python -m mcphub_api.crd`; do not edit.\n"


def openapi_schema(resource: type[Resource]) -> Schema:
    """The openAPIV3Schema of one kind, root CEL rules included."""
    schema = structural_schema(resource)
    properties = schema["properties"]
    # The API server owns these three: it validates metadata itself and sets
    # apiVersion and kind, so the schema only names and describes them.
    properties["apiVersion"] = {"type": "string", "description": _API_VERSION_DOC}
    properties["kind"] = {"type": "string", "description": _KIND_DOC}
    properties["metadata"] = {"type": "object"}
    schema["description"] = resource.info.description.strip()
    if resource.info.root_rules:
        schema["x-kubernetes-validations"] = list(resource.info.root_rules)
    return schema


def custom_resource_definition(resource: type[Resource]) -> dict[str, Any]:
    info = resource.info
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
        "categories": list(info.categories),
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "mcphub"},
        },
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(info.printer_columns),
                    "schema": {"openAPIV3Schema": openapi_schema(resource)},
                }
            ],
        },
    }


def crd_file_name(resource: type[Resource]) -> str:
    return f"{GROUP}_{resource.info.plural}.yaml"


class _Dumper(yaml.SafeDumper):
    """Writes shared sub-schemas out in full: anchors would only puzzle readers."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(document: dict[str, Any]) -> str:
    return HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=True, width=100)


def rendered() -> dict[str, str]:
    """File name -> content of every generated file under ``crds/``."""
    files = {crd_file_name(kind): _dump(custom_resource_definition(kind)) for kind in KINDS}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    files["kustomization.yaml"] = _dump(kustomization)
    return files


def drifted(folder: Path = CRD_DIR) -> list[str]:
    """Names of generated files whose committed content differs from the models."""
    return [
        name
        for name, content in rendered().items()
        if not (folder / name).exists() or (folder / name).read_text() != content
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the YAML has drifted")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted()
        if stale:
            print(f"stale CRD files: {', '.join(stale)}; run `make crds`", file=sys.stderr)
            return 1
        return 0
    for name, content in rendered().items():
        (CRD_DIR / name).write_text(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
