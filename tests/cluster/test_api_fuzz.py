"""Property-based fuzzing of the live API with schemathesis, driven by our own OpenAPI document.

The server runs as `python -m kubefoundry.api` on a random port against the test cluster. Schemathesis
generates valid and invalid requests for every documented operation (examples, coverage and fuzzing
phases) and checks that none gets a 5xx, every status and header is documented, every body matches
its documented schema, invalid input is rejected and undocumented methods get 405.

Writes stay in this test's namespace: a hook points every well-formed `namespace` at it (malformed
ones are left alone so invalid requests stay invalid), and settings go to a ConfigMap there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import BackgroundProcess, Cluster, free_port

MAX_EXAMPLES = 100  # per operation and phase; the run makes well over 500 requests
MIN_REQUESTS = 500
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
    ]
)

HOOKS = """
import os
import re

import schemathesis

NAMESPACE = os.environ["KF_FUZZ_NAMESPACE"]
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _well_formed(value):
    return isinstance(value, str) and len(value) <= 63 and DNS_LABEL.fullmatch(value) is not None


@schemathesis.hook
def before_call(context, case, **kwargs):
    if isinstance(case.query, dict) and _well_formed(case.query.get("namespace")):
        case.query["namespace"] = NAMESPACE
    if isinstance(case.body, dict) and _well_formed(case.body.get("namespace")):
        case.body["namespace"] = NAMESPACE
"""


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except OSError:
        return 0


@pytest.fixture
def live_api(cluster: Cluster, kubefoundry_crds: None, provider_crds: Path, namespace: str) -> Iterator[str]:
    port = free_port()
    proc = BackgroundProcess(
        "api-fuzz",
        [sys.executable, "-m", "kubefoundry.api", "--host", "127.0.0.1", "--port", str(port)],
        cluster.kubeconfig,
        {"KUBEFOUNDRY_NAMESPACE": namespace},
    )
    proc.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(f"{base}/api/deployments") != 200 or _get(f"{base}/api/cluster/gpus") != 200:
            assert proc.running(), proc.log()
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.2)
        yield base
    finally:
        proc.stop()
    # No handler failed (aiohttp's own parser logs requests it cannot parse, e.g. a NUL in a header).
    assert " ERROR kubefoundry" not in proc.log(), proc.log()


def test_schemathesis_finds_no_server_error_or_schema_violation(live_api: str, namespace: str, tmp_path: Path) -> None:
    (tmp_path / "kf_fuzz_hooks.py").write_text(HOOKS)
    har = tmp_path / "fuzz.har"
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "kf_fuzz_hooks",
        # Only the hooks' folder: an empty entry would put the repository's `operator/` before the stdlib's.
        "PYTHONPATH": str(tmp_path),
        "KF_FUZZ_NAMESPACE": namespace,
    }
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st), "run", f"{live_api}/api/openapi.json",
            "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing",
            # Installing or removing a provider would change the shared cluster for everyone; an event stream
            # never ends (tests/cluster/test_api_live.py reads it). One regex: a second flag replaces the first.
            "--exclude-path-regex", "/installation/providers/.*/(install|upgrade|uninstall)$|/deployments/events$",
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", "20261126",
            # One worker: with two threads, Hypothesis's internal caches (not thread-safe) once failed
            # an internal assertion and the run reported an error that was not the server's.
            "--workers", "1",
            "--suppress-health-check", "all",
            "--request-timeout", "20",
            "--report", "har", "--report-har-path", str(har),
            "--no-color",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = [e["response"]["status"] for e in entries]
    print(f"schemathesis: {len(entries)} requests, statuses {dict(sorted(Counter(statuses).items()))}")
    assert len(entries) >= MIN_REQUESTS, (len(entries), output[-3000:])
    assert not [s for s in statuses if s >= 500], output[-3000:]
    # The run exercised successes and rejections, not just one of them.
    assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
    # Every error is the envelope with details as an object (schemathesis checks the documented schema too).
    errors = [json.loads(e["response"]["content"]["text"]) for e in entries if e["response"]["status"] >= 400]
    assert errors and all(set(body) == {"error", "code", "details"} for body in errors), errors[:3]
    assert all(isinstance(body["details"], dict) for body in errors), [
        b for b in errors if not isinstance(b["details"], dict)
    ][:3]
    print(f"schemathesis: error codes {dict(sorted(Counter(b['code'] for b in errors).items()))}")
