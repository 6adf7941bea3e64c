"""Transient API-server trouble (a starting, restarting or overloaded API server) is expected: it is logged
as one readable WARNING line and retried, never as an ERROR with a traceback.

- `temporary(...)`: inside a kopf handler, turns a transient error into kopf.TemporaryError, which kopf
  retries and logs as one line (any other exception keeps kopf's traceback: it is a bug or a refusal).
- `KopfRetryLines`: kopf logs each retry of its own API requests at ERROR with the exception's full repr
  (the API server's whole Status object); this filter makes it a WARNING saying what failed and why. A
  filter on kopf's output, because kopf offers no setting for the level or text of these lines.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import kopf

from . import kube as k

_KOPF_RETRY = re.compile(
    r"^Request attempt (?P<attempt>\S+) failed; will retry: (?P<what>\S+ \S+) -> (?P<error>.*)$", re.S
)
# kopf's exceptions print as Class('message', {...Status...}, status=503) or Class(...underlying error...).
_ERROR_TEXT = re.compile(r"^(?P<cls>\w+)\((?P<quote>['\"])(?P<text>.*?)(?P=quote)")
_STATUS = re.compile(r"status=(\d{3})\)$")
MAX_ERROR_TEXT = 200


@contextlib.contextmanager
def temporary(delay: float = 5.0) -> Iterator[None]:
    """Re-raises a transient error of the Kubernetes client as kopf.TemporaryError (retried after `delay`)."""
    try:
        yield
    except (k.KubeError, k.ClusterUnavailable) as exc:
        if not k.transient(exc):
            raise
        raise kopf.TemporaryError(f"the Kubernetes API is not available right now: {exc}", delay=delay) from None


def _summary(error: str) -> str:
    found = _ERROR_TEXT.match(error)
    text = f"{found['cls']}: {found['text']}" if found else error
    status = _STATUS.search(error)
    if status:
        text = f"{status.group(1)} {text}"
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


class KopfRetryLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf.") or record.levelno != logging.ERROR:
            return True
        found = _KOPF_RETRY.match(record.getMessage())
        if found:
            method, url = found["what"].split(" ", 1)
            path = re.sub(r"^https?://[^/]+", "", url).split("?", 1)[0]
            record.msg = "kopf retries %s %s (attempt %s): %s"
            record.args = (method, path, found["attempt"], _summary(found["error"]))
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def install_log_filter() -> None:
    """After kopf.configure: applies KopfRetryLines to every handler of the root logger."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, KopfRetryLines) for f in handler.filters):
            handler.addFilter(KopfRetryLines())
