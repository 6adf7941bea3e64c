"""Browser tests of the web UI: real headless Chromium (Debian's package, driven by Playwright for Python),
the real API server as a process (`python -m kubefoundry.api`, serving the built UI), the real cluster.

Every page a test visits is checked with axe-core (from ui/node_modules) for serious and critical
accessibility violations and saved as a screenshot under build/ui-screenshots/ (the test artifacts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import AXE, UI_BUILD, UiServer, start_server

from harness import CHROMIUM, CHROMIUM_ARGS, SESSION_INSTANCE, Cluster
from kubefoundry.operator.runtime.instance import INSTANCE_ENV


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make chromium` installs Debian's package", pytrace=False)
    # launch() starts Chromium with a fresh temporary profile every session.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": list(CHROMIUM_ARGS)}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}}


@pytest.fixture(scope="session", autouse=True)
def built_ui() -> None:
    for needed, how in ((UI_BUILD / "index.html", "make ui"), (AXE, "make ui (npm ci in ui/)")):
        if not needed.is_file():
            pytest.fail(f"{needed} is missing: run {how} (make test does)", pytrace=False)


@pytest.fixture(scope="session")
def ui(
    cluster: Cluster, kubefoundry_crds: None, provider_crds: Path, operator: Any, dynamo_standin: Any
) -> Iterator[UiServer]:
    """The API and UI on the session's cluster, with the operator and the Dynamo stand-in running."""
    # Deployments made through this UI are labelled for the session operator (harness.SESSION_INSTANCE).
    server = start_server("api-ui", cluster.kubeconfig, env={INSTANCE_ENV: SESSION_INSTANCE})
    yield server
    server.process.stop()
