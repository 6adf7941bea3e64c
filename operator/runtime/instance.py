"""Which operator handles which ProviderInstall and KubeFoundryDeployment, and the names of its kopf bookkeeping.

Several operators can share a cluster (a developer's next to the deployed one, tests next to both). One
started with $KUBEFOUNDRY_OPERATOR_INSTANCE=x handles only ProviderInstalls and KubeFoundryDeployments
labelled kubefoundry.io/operator-instance=x, with a finalizer and annotations of its own; one without it
handles only unlabelled ones. Two operators never reconcile the same object (they would force-apply under
one field manager, flap the provider resource and post every Event twice). The API labels the objects it
creates the same way, from its own environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import kopf

FINALIZER = "kubefoundry.io/finalizer"
ANNOTATION_PREFIX = "kubefoundry.io"
INSTANCE_ENV = "KUBEFOUNDRY_OPERATOR_INSTANCE"
INSTANCE_LABEL = "kubefoundry.io/operator-instance"


def configure(settings: kopf.OperatorSettings) -> None:
    """KubeFoundry's finalizer and bookkeeping annotations (operator-wide settings in kopf).

    kopf has one finalizer per operator, so the name is the project's, not this kind's. An operator
    instance gets names of its own: kopf removes its finalizer from every watched object that none of
    its handlers needs, so two operators sharing one finalizer name would strip each other's and let
    objects go without their uninstall.
    """
    prefix = annotation_prefix()
    settings.persistence.finalizer = finalizer_name()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=prefix, key="last-handled-configuration"
    )


def operator_instance() -> str | None:
    return os.environ.get(INSTANCE_ENV) or None


def finalizer_name() -> str:
    instance = operator_instance()
    return f"{FINALIZER}-{instance}" if instance else FINALIZER


def annotation_prefix() -> str:
    instance = operator_instance()
    return f"{instance}.{ANNOTATION_PREFIX}" if instance else ANNOTATION_PREFIX


def instance_labels() -> dict[str, str]:
    """Labels a ProviderInstall or KubeFoundryDeployment needs to be handled by an operator like this process."""
    instance = operator_instance()
    return {INSTANCE_LABEL: instance} if instance else {}


def label_filter() -> dict[str, Any]:
    """kopf's `labels=` filter selecting the ProviderInstalls this process handles."""
    instance = operator_instance()
    return {INSTANCE_LABEL: instance if instance else kopf.ABSENT}


def handles(obj: Mapping[str, Any]) -> bool:
    """Whether an operator with this process's environment handles `obj` (the same rule as label_filter)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(INSTANCE_LABEL) == operator_instance()
