"""A client's mistakes are logged as one readable line each, never as an ERROR with a traceback.

The API runs as `python -m kubefoundry.api` (its own logging setup) against the test cluster; the
requests are written on raw sockets, as a misbehaving client would.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_fixtures import api_process

from harness import BackgroundProcess, Cluster


@pytest.fixture
def logging_api(
    cluster: Cluster, kubefoundry_crds: None, provider_crds: Path
) -> Iterator[tuple[BackgroundProcess, int]]:
    with api_process("api-logging", cluster.kubeconfig) as running:
        yield running


def _exchange(port: int, raw: bytes, *, hang_up: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        if hang_up:
            time.sleep(0.2)  # the handler is waiting for the rest of the body
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            return b""
        chunks = []  # the server closes the connection after its answer (Connection: close, or a parse error)
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


def _wait_for(proc: BackgroundProcess, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in proc.log():
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{proc.log()}"
        time.sleep(0.1)


HEAD = b"POST /api/deployments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def test_client_mistakes_are_one_line_each(logging_api: tuple[BackgroundProcess, int]) -> None:
    proc, port = logging_api
    # A client that hangs up halfway through its body.
    _exchange(port, HEAD + b'Content-Length: 100\r\n\r\n{"name":', hang_up=True)
    _wait_for(proc, "the client closed the connection mid-body")
    # A body that says gzip and is not, and an encoding the server does not speak: answered in the envelope.
    for coding, status in ((b"gzip", b"400"), (b"deflate", b"400"), (b"br", b"415")):
        answer = _exchange(
            port, HEAD + b"Content-Encoding: " + coding + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        assert answer.startswith(b"HTTP/1.1 " + status) and b'"code": "VALIDATION_ERROR"' in answer, answer
    # A request the HTTP parser itself cannot read (aiohttp answers it before any handler).
    answer = _exchange(port, b"POST /api/deployments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert b" 400 " in answer.split(b"\r\n", 1)[0], answer
    _wait_for(proc, "Invalid character in chunk size")

    log = proc.log()
    assert "Traceback" not in log and " ERROR " not in log, log
    assert log.count("the client closed the connection mid-body") == 1, log
