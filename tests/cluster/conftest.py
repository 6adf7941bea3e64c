"""Fixtures for the cluster tests: the Dynamo STAND-IN controller (not NVIDIA Dynamo) as a subprocess.

`dynamo_standin` starts `python -m kubefoundry.simulator.dynamo` once per session against the test
cluster, after the provider CRDs are installed, and waits until its admission policy is enforced and it
has listed the DynamoGraphDeployments. A failing test that uses it gets the tail of the stand-in's log in
its report; the stand-in is stopped at the end of the session, and a stand-in that died during the session
fails the teardown with its log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

# Before any test module imports it, so that its assertions are rewritten wherever it is used.
pytest.register_assert_rewrite("api_fixtures", "faulty_apiserver", "support")

from harness import BackgroundProcess, Cluster  # noqa: E402

READY_MARKER = "ready: watching"
POLICY_MARKER = "admission policy active"
START_TIMEOUT = 90.0
LOG_TAIL_LINES = 150

_running: BackgroundProcess | None = None


def log_tail(proc: BackgroundProcess, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(proc.log().splitlines()[-lines:])


def _exit_code(proc: BackgroundProcess) -> int | None:
    return proc.proc.poll() if proc.proc is not None else None


@pytest.fixture(scope="session")
def dynamo_standin(cluster: Cluster, provider_crds: Path) -> Iterator[BackgroundProcess]:
    """The Dynamo stand-in, reconciling DGDs in every namespace of the test cluster."""
    global _running
    standin = BackgroundProcess(
        "dynamo-standin",
        [sys.executable, "-m", "kubefoundry.simulator.dynamo", "--kubeconfig", cluster.kubeconfig],
        cluster.kubeconfig,
    )
    standin.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while READY_MARKER not in standin.log():
            if not standin.running():
                pytest.fail(
                    f"the Dynamo stand-in exited at startup (code {_exit_code(standin)}); its log "
                    f"({standin.log_path}):\n{log_tail(standin)}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the Dynamo stand-in was not ready after {START_TIMEOUT:.0f}s; its log "
                    f"({standin.log_path}):\n{log_tail(standin)}",
                    pytrace=False,
                )
            time.sleep(0.1)
        if POLICY_MARKER not in standin.log():
            pytest.fail(
                f"the Dynamo stand-in's admission policy is not enforced; its log ({standin.log_path}):\n"
                f"{log_tail(standin)}",
                pytrace=False,
            )
    except BaseException:
        standin.stop()
        raise
    _running = standin
    try:
        yield standin
    finally:
        _running = None
        died = not standin.running()
        standin.stop()
    if died:
        pytest.fail(
            f"the Dynamo stand-in exited during the session (code {_exit_code(standin)}); its log "
            f"({standin.log_path}):\n{log_tail(standin)}",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _running is not None and "dynamo_standin" in getattr(item, "fixturenames", ()):
        state = "running" if _running.running() else f"EXITED with code {_exit_code(_running)}"
        report.sections.append((f"Dynamo stand-in log ({state}; {_running.log_path})", log_tail(_running)))
    return report
