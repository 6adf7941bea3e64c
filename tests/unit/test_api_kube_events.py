"""Events as the details page shows them: both Event shapes read, equal ones merged, newest first."""

from __future__ import annotations

from kubefoundry.api.kube_events import event_rows

POD = {"kind": "Pod", "name": "qwen-worker-1"}


def core(
    reason: str, message: str, count: int, first: str, last: str, involved: dict[str, str] = POD
) -> dict[str, object]:
    return {
        "involvedObject": involved,
        "type": "Warning",
        "reason": reason,
        "message": message,
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "source": {"component": "default-scheduler"},
    }


def test_equal_events_are_merged_and_rows_are_newest_first() -> None:
    rows = event_rows(
        [
            core("FailedScheduling", "0/3 nodes", 2, "2026-01-01T00:00:10Z", "2026-01-01T00:01:00Z"),
            core("FailedScheduling", "0/3 nodes", 3, "2026-01-01T00:00:00Z", "2026-01-01T00:00:30Z"),
            core("Scheduled", "assigned", 1, "2026-01-01T00:02:00Z", "2026-01-01T00:02:00Z"),
            core(
                "FailedScheduling",
                "0/3 nodes",
                1,
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:00:00Z",
                {"kind": "Pod", "name": "other"},
            ),
        ]
    )
    assert [(r["reason"], r["object"]["name"], r["count"]) for r in rows] == [
        ("Scheduled", "qwen-worker-1", 1),
        ("FailedScheduling", "qwen-worker-1", 5),
        ("FailedScheduling", "other", 1),
    ]
    merged = rows[1]
    assert (merged["firstSeen"], merged["lastSeen"], merged["source"]) == (
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:01:00Z",
        "default-scheduler",
    )


def test_events_k8s_io_shape_with_series_and_microseconds() -> None:
    [row] = event_rows(
        [
            {
                "regarding": POD,
                "type": "Warning",
                "reason": "FailedScheduling",
                "note": "0/3 nodes are available",
                "eventTime": "2026-01-01T00:00:05.123456Z",
                "series": {"count": 7, "lastObservedTime": "2026-01-01T00:09:00.000001Z"},
                "reportingController": "default-scheduler",
            }
        ]
    )
    assert row["message"] == "0/3 nodes are available" and row["object"] == POD
    assert (row["count"], row["firstSeen"], row["lastSeen"]) == (7, "2026-01-01T00:00:05Z", "2026-01-01T00:09:00Z")
    assert row["source"] == "default-scheduler"


def test_missing_fields_do_not_break_a_row() -> None:
    [row] = event_rows([{"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "count": "x"}])
    assert row["type"] == "Normal" and row["count"] == 1
    assert row["firstSeen"] == row["lastSeen"] == "2026-01-01T00:00:00Z"
