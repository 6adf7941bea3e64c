"""How often the ProviderInstall handlers retry and look again (environment overrides for tests)."""

from __future__ import annotations

import os


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


RETRY_BASE = _env_float("KUBEFOUNDRY_INSTALL_RETRY_BASE_SECONDS", 10.0)
RETRY_MAX = _env_float("KUBEFOUNDRY_INSTALL_RETRY_MAX_SECONDS", 300.0)
# A release another helm operation holds: how often to look again, and when to call it stuck.
PENDING_RECHECK = _env_float("KUBEFOUNDRY_HELM_PENDING_RECHECK_SECONDS", 15.0)
STUCK_AFTER = _env_float("KUBEFOUNDRY_HELM_STUCK_SECONDS", 900.0)
# The monitor daemon: until Ready, then once Ready.
MONITOR_FAST = _env_float("KUBEFOUNDRY_INSTALL_MONITOR_FAST_SECONDS", 2.0)
MONITOR_SLOW = _env_float("KUBEFOUNDRY_INSTALL_MONITOR_SECONDS", 30.0)


def retry_delay(retry: int) -> float:
    """Exponential backoff for kopf retries: base, 2x base, 4x base, ... capped."""
    return float(min(RETRY_BASE * (2 ** min(retry, 16)), RETRY_MAX))
