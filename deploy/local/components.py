"""The processes of a local kwokctl cluster (binary runtime): which run, their ports, why one died.

cluster.sh calls it; everything comes from the cluster's own directory: kwok.yaml (the components,
their ports and arguments, as kwokctl saved them), pids/<binary>.pid and logs/<component>.log.

    components.py stopped DIR               the components whose process is not running (one line)
    components.py exited DIR                those that were started (a pid file) and no longer run
    components.py pids DIR                  the pids of those that run
    components.py forget-stopped DIR        delete the pid files of those that do not (kwokctl takes a
                                            dead component's zombie for a running one and skips it)
    components.py errors DIR [NAME ...]     each component's own last error line (kwokctl starts a
                                            component's log afresh each time it starts it)
    components.py free-ports DIR ROOT [NAME ...]
                                            give free ports to the (stopped) components whose ports
                                            something else holds; ROOT holds all clusters, whose ports
                                            are never chosen
"""

from __future__ import annotations

import json
import re
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

# kwokctl picks ports downwards from here; so do we, skipping every cluster's.
PORT_CEILING = 32767
PORT_FLOOR = 10000
MAX_LINE = 400


def _config_text(cluster: Path) -> tuple[str, str]:
    """kwok.yaml split into its first document (the kwokctl configuration) and the rest (stages)."""
    text = (cluster / "kwok.yaml").read_text()
    head, sep, rest = text.partition("\n---\n")
    return head, sep + rest


def components(cluster: Path) -> list[dict[str, Any]]:
    head, _ = _config_text(cluster)
    return list((yaml.safe_load(head) or {}).get("components") or [])


def _pid(cluster: Path, component: dict[str, Any]) -> int | None:
    try:
        return int(_pid_file(cluster, component).read_text().strip())
    except (OSError, ValueError):
        return None


def running(pid: int | None, binary: str) -> bool:
    """Alive, not a zombie, and still the component's program (a pid can be reused)."""
    if pid is None:
        return False
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return False
    return state != "Z" and Path(argv0).name == Path(binary).name


def stopped(cluster: Path) -> list[str]:
    return [c["name"] for c in components(cluster) if not running(_pid(cluster, c), str(c.get("binary", "")))]


def exited(cluster: Path) -> list[str]:
    found = [(c, _pid(cluster, c)) for c in components(cluster)]
    return [c["name"] for c, pid in found if pid is not None and not running(pid, str(c.get("binary", "")))]


def _pid_file(cluster: Path, component: dict[str, Any]) -> Path:
    return cluster / "pids" / f"{Path(str(component.get('binary', ''))).name}.pid"


def forget_stopped(cluster: Path) -> None:
    for c in components(cluster):
        if not running(_pid(cluster, c), str(c.get("binary", ""))):
            _pid_file(cluster, c).unlink(missing_ok=True)


def pids(cluster: Path) -> list[int]:
    found = [(c, _pid(cluster, c)) for c in components(cluster)]
    return [pid for c, pid in found if pid is not None and running(pid, str(c.get("binary", "")))]


# --- why a component died --------------------------------------------------------------------------

_KLOG_FATAL = re.compile(r"^F\d{4} ")
_KLOG_ERROR = re.compile(r"^E\d{4} ")


def _json_level(line: str) -> tuple[str, str] | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    level = str(record.get("level") or record.get("severity") or "").lower()
    text = " ".join(str(record[k]) for k in ("msg", "error", "err") if record.get(k))
    return level, text or line


def error_line(lines: Iterable[str]) -> str | None:
    """The line that says why: the last fatal one (a structured record before a bare `panic:`), else the
    last error, else the last line."""
    best: tuple[int, str] | None = None
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        rank, text = 0, line
        parsed = _json_level(line)
        if parsed is not None:
            level, text = parsed
            rank = 4 if level in ("fatal", "panic", "dpanic") else 1 if level == "error" else 0
        elif _KLOG_FATAL.match(line) or line.startswith("Error: "):
            rank = 4
        elif line.startswith("panic: "):
            rank = 3
        elif _KLOG_ERROR.match(line):
            rank = 1
        if best is None or rank >= best[0]:
            best = (rank, text)
    if best is None:
        return None
    found = best[1]
    return found if len(found) <= MAX_LINE else found[: MAX_LINE - 1] + "…"


def errors(cluster: Path, names: list[str]) -> list[str]:
    out = []
    for name in names or [c["name"] for c in components(cluster)]:
        log = cluster / "logs" / f"{name}.log"
        line = error_line(log.read_text(errors="replace").splitlines()) if log.exists() else None
        if line:
            out.append(f"{name}: {line}")
    return out


# --- ports -----------------------------------------------------------------------------------------


def _ports(cluster: Path) -> dict[str, list[int]]:
    return {c["name"]: [int(p["port"]) for p in c.get("ports") or [] if p.get("port")] for c in components(cluster)}


def in_use(port: int) -> bool:
    """Whether something listens on (or holds) the port, on loopback or every interface, as a server with
    SO_REUSEADDR (Go's default) would find it."""
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return True
    return False


def _replace_port(text: str, old: int, new: int) -> str:
    # Ports appear as host:PORT, --…-port=PORT and `…port: PORT` (port:, etcdPort:, ...); other numbers stay.
    return re.sub(rf"(?:(?<=:)|(?<=[pP]ort=)|(?<=[pP]ort: )){old}(?!\d)", str(new), text)


def free_ports(cluster: Path, root: Path, names: list[str]) -> list[str]:
    """Moves every port of these stopped components (all: none named) that something else holds;
    returns what moved."""
    taken_by_clusters = {
        p for other in root.iterdir() if (other / "kwok.yaml").exists() for ps in _ports(other).values() for p in ps
    }
    moved: dict[int, int] = {}
    said = []
    candidate = PORT_CEILING
    for name, ports in _ports(cluster).items():
        if names and name not in names:
            continue
        for port in ports:
            if port in moved or not in_use(port):
                continue
            while candidate > PORT_FLOOR and (
                candidate in taken_by_clusters or candidate in moved.values() or in_use(candidate)
            ):
                candidate -= 1
            if candidate <= PORT_FLOOR:
                raise SystemExit(f"no free port for {name} (was {port})")
            moved[port] = candidate
            said.append(f"{name}: port {port} is taken by another process; using {candidate}")
    if not moved:
        return said
    head, rest = _config_text(cluster)
    kubeconfig = cluster / "kubeconfig.yaml"
    config = kubeconfig.read_text()
    for old, new in moved.items():
        head = _replace_port(head, old, new)
        config = _replace_port(config, old, new)
    (cluster / "kwok.yaml").write_text(head + rest)
    kubeconfig.write_text(config)
    return said


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, cluster = argv[0], Path(argv[1])
    if command == "stopped":
        print(" ".join(stopped(cluster)))
    elif command == "pids":
        print("\n".join(str(p) for p in pids(cluster)))
    elif command == "exited":
        print(" ".join(exited(cluster)))
    elif command == "forget-stopped":
        forget_stopped(cluster)
    elif command == "errors":
        print("\n".join(errors(cluster, argv[2:])))
    elif command == "free-ports" and len(argv) >= 3:
        print("\n".join(free_ports(cluster, Path(argv[2]), argv[3:])))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
