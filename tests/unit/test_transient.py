"""Which API-server errors count as transient, and how kopf's retry lines are rewritten."""

from __future__ import annotations

import logging

import kopf
import pytest

from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.transient import KopfRetryLines, temporary


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (k.ClusterUnavailable("connection refused"), True),
        (k.KubeError(503, "ServiceUnavailable", "starting"), True),
        (k.KubeError(429, "TooManyRequests", "storage is (re)initializing"), True),
        (k.KubeError(504, "Timeout", "gateway"), True),
        (k.KubeError(422, "Invalid", "spec.replicas"), False),
        (k.KubeError(403, "Forbidden", "rbac"), False),
        (k.Gone(410, "Expired", "too old"), False),
        (ValueError("a bug"), False),
    ],
)
def test_transient(exc: BaseException, expected: bool) -> None:
    assert k.transient(exc) is expected


def test_temporary_turns_only_transient_errors_into_kopf_retries() -> None:
    with pytest.raises(kopf.TemporaryError, match="not available right now: 503"), temporary():
        raise k.KubeError(503, "ServiceUnavailable", "starting")
    with pytest.raises(k.KubeError), temporary():
        raise k.KubeError(422, "Invalid", "bad")


def test_kopf_retry_lines_become_short_warnings() -> None:
    message = (
        "Request attempt #4/9 failed; will retry: GET https://127.0.0.1:6443/apis/kubefoundry.io/v1alpha1/"
        "kubefoundrydeployments?watch=true&resourceVersion=357 -> APIServerError('the request has been made before "
        "all known HTTP paths have been installed, please try again', {'kind': 'Status', 'code': 503}, status=503)"
    )
    record = logging.LogRecord("kopf._cogs.clients.watching", logging.ERROR, __file__, 1, message, None, None)
    assert KopfRetryLines().filter(record)
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        "kopf retries GET /apis/kubefoundry.io/v1alpha1/kubefoundrydeployments (attempt #4/9): 503 APIServerError: "
        "the request has been made before all known HTTP paths have been installed, please try again"
    )
    other = logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, "Handler 'x' failed", None, None)
    assert KopfRetryLines().filter(other) and other.levelname == "ERROR"
