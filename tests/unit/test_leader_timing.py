"""The lease timings must leave a leader time to renew before a standby may take over."""

from __future__ import annotations

import pytest

from kubefoundry.operator.runtime.leader import LeaseTiming


def test_defaults_are_controller_runtimes() -> None:
    timing = LeaseTiming()
    assert (timing.lease_duration, timing.renew_deadline, timing.retry_period) == (15.0, 10.0, 2.0)


@pytest.mark.parametrize(
    ("duration", "deadline", "retry"),
    [(10, 10, 2), (10, 12, 2), (10, 5, 5), (10, 5, 0)],
)
def test_timings_that_would_let_two_replicas_act_are_refused(duration: float, deadline: float, retry: float) -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline > retry_period > 0"):
        LeaseTiming(duration, deadline, retry)
