"""Kubernetes Events as people read them: one row per distinct happening, counted, newest first.

Both shapes of Event are read: the core/v1 one (count, firstTimestamp, lastTimestamp) and the
events.k8s.io/v1 one served through core/v1 (eventTime, series.count, series.lastObservedTime), which
newer controllers (the scheduler among them) emit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]


def _count(event: Obj) -> int:
    series = event.get("series") or {}
    for value in (series.get("count"), event.get("count")):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 1


def _second(value: Any) -> str:
    """RFC 3339 to the second (`2026-01-02T03:04:05Z`), so that strings compare in time order."""
    text = str(value or "")
    return f"{text[:19]}Z" if len(text) >= 19 else text


def _times(event: Obj) -> tuple[str, str]:
    """(first seen, last seen), to the second."""
    created = (event.get("metadata") or {}).get("creationTimestamp")
    first = _second(event.get("firstTimestamp") or event.get("eventTime") or created)
    series = event.get("series") or {}
    last = _second(series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime")) or first
    return first, max(first, last)


def _source(event: Obj) -> str:
    source = event.get("source") or {}
    return str(event.get("reportingComponent") or source.get("component") or event.get("reportingController") or "")


def event_rows(events: Iterable[Obj]) -> list[Obj]:
    """Events merged by (object, type, reason, message): counts added, first/last seen widened; newest first."""
    rows: dict[tuple[str, str, str, str, str], Obj] = {}
    for event in events:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        kind, name = str(involved.get("kind") or ""), str(involved.get("name") or "")
        type_ = str(event.get("type") or "Normal")
        reason = str(event.get("reason") or "")
        message = str(event.get("message") or event.get("note") or "").strip()
        first, last = _times(event)
        key = (kind, name, type_, reason, message)
        row = rows.get(key)
        if row is None:
            rows[key] = {
                "type": type_,
                "reason": reason,
                "message": message,
                "object": {"kind": kind, "name": name},
                "count": _count(event),
                "firstSeen": first,
                "lastSeen": last,
                "source": _source(event),
            }
            continue
        row["count"] += _count(event)
        row["firstSeen"] = min(row["firstSeen"], first)
        row["lastSeen"] = max(row["lastSeen"], last)
    return sorted(rows.values(), key=lambda r: (r["lastSeen"], r["firstSeen"]), reverse=True)
