"""Shared building blocks of the API: the model base, conditions, selectors, metadata.

Kubernetes API conventions shape everything here.  Fields are camelCase on
the wire and snake_case in Python; every field carries a description (the
attribute's docstring), because ``kubectl explain`` is where a cluster admin
learns the API; lists and strings have bounds, because the API server prices
CEL rules by the worst case they allow; conditions follow ``metav1.Condition``
so that ``kubectl wait``, Flux and Argo CD understand them without plugins.

Cross-field rules are written once, in CEL, with :func:`cel`.  The API server
evaluates them at admission; the standalone loader evaluates the same strings.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "mcphub.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
GLOB = r"^[A-Za-z0-9_.*?\[\]/:@-]+$"

Name = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
Glob = Annotated[str, Field(min_length=1, max_length=256, pattern=GLOB)]


def cel(
    rule: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: str = "FieldValueInvalid",
) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry: a CEL rule and what to fix when it fails."""
    entry = {"rule": rule, "message": message, "reason": reason}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def rules(*entries: dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules, for a model config or a field."""
    return {"x-kubernetes-validations": list(entries)}


def list_map(*keys: str) -> dict[str, Any]:
    """Mark a list of objects as a map keyed by ``keys``: duplicates are refused."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


class APIModel(BaseModel):
    """Base of every API type: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=to_camel,
        use_attribute_docstrings=True,
        validate_default=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, no unset optionals."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def api_config(*entries: dict[str, str]) -> ConfigDict:
    """The base model config plus CEL rules attached to this object."""
    config = ConfigDict(**APIModel.model_config)
    if entries:
        config["json_schema_extra"] = rules(*entries)
    return config


class Condition(APIModel):
    """One aspect of the object's state, in the shape of ``metav1.Condition``."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    )
    """Kind of condition, in CamelCase: Ready, Available, Verified, Degraded, ..."""

    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds: True, False or Unknown."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this condition was computed from."""

    last_transition_time: datetime.datetime
    """When the status last changed from one value to another."""

    reason: str = Field(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    )
    """Why the condition is in this state: one CamelCase word, for machines."""

    message: str = Field(default="", max_length=32768)
    """Why the condition is in this state: a sentence, for people."""


Conditions = Annotated[
    list[Condition],
    Field(max_length=16, json_schema_extra=list_map("type")),
]


class LabelSelectorRequirement(APIModel):
    """One label requirement: a key, an operator and, for In and NotIn, values."""

    model_config = api_config(
        cel(
            "self.operator in ['In', 'NotIn'] ? size(self.values) > 0 : size(self.values) == 0",
            "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
            field_path=".values",
        )
    )

    key: str = Field(min_length=1, max_length=317)
    """The label key the requirement applies to."""

    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the key's value relates to the listed values."""

    values: list[Annotated[str, Field(max_length=63)]] = Field(default=[], max_length=64)
    """Label values: non-empty for In and NotIn, empty for Exists and DoesNotExist."""


class LabelSelector(APIModel):
    """Selects objects by labels; requirements are ANDed, like ``metav1.LabelSelector``."""

    match_labels: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(
        default=None, max_length=32
    )
    """Labels that must all be present with exactly these values."""

    match_expressions: list[LabelSelectorRequirement] | None = Field(default=None, max_length=32)
    """Requirements on label keys and values, all of which must hold."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``metav1.LabelSelector`` semantics: every requirement must hold."""
        for key, wanted in (self.match_labels or {}).items():
            if labels.get(key) != wanted:
                return False
        for requirement in self.match_expressions or []:
            present = requirement.key in labels
            value = labels.get(requirement.key)
            holds = {
                "In": present and value in requirement.values,
                "NotIn": not present or value not in requirement.values,
                "Exists": present,
                "DoesNotExist": not present,
            }[requirement.operator]
            if not holds:
                return False
        return True


class SecretKeySelector(APIModel):
    """A key of a Secret in the object's own namespace."""

    name: Name
    """Name of the Secret."""

    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    """Key within the Secret's data."""


class ConfigMapKeySelector(APIModel):
    """A key of a ConfigMap in the object's own namespace."""

    name: Name
    """Name of the ConfigMap."""

    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    """Key within the ConfigMap's data."""


class ObjectMeta(BaseModel):
    """The part of Kubernetes object metadata that mcphub reads.

    Lenient on purpose: objects read from a cluster carry many server-set
    fields (managedFields, uid, ...) that mcphub has no use for.
    """

    model_config = ConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, alias_generator=to_camel
    )

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    namespace: str = Field(default="default", max_length=63, pattern=DNS_LABEL)
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    generation: int = 0
    uid: str = ""
    resource_version: str = ""


class KindInfo(BaseModel):
    """How one kind is named and shown by the API server (the CRD's ``names``)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("mcphub",)
    printer_columns: tuple[dict[str, str], ...] = ()
    root_rules: tuple[dict[str, str], ...] = ()
    description: str = ""


class Resource(APIModel):
    """A whole object of one of the kinds: apiVersion, kind, metadata, spec, status."""

    model_config = ConfigDict(**APIModel.model_config)
    info: ClassVar[KindInfo]

    api_version: Literal["mcphub.dev/v1alpha1"] = "mcphub.dev/v1alpha1"
    kind: str
    metadata: ObjectMeta
    """Standard object metadata: name, namespace, labels, annotations."""


def ready_column() -> dict[str, str]:
    return {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Whether the object is ready for use.",
    }


def age_column() -> dict[str, str]:
    return {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def dns_label_name_rule(what: str) -> dict[str, str]:
    """Root rule: the object's name must be a DNS-1035 label, since it names ``what``."""
    return cel(
        f"self.metadata.name.matches('{DNS_LABEL}')",
        "metadata.name must be a DNS label: at most 63 lowercase letters, digits and '-', "
        f"starting with a letter and ending with a letter or digit, because it names {what}",
    )
