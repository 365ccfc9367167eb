"""Fresh, real loopback captures of the lab scenarios, for any test that wants one.

In a test module::

    from loopback import loopback_capture, scenario_results  # noqa: F401 (fixture)

    def test_something(loopback_capture):
        pcap = loopback_capture("tcp_basic")          # a Path to a pcapng file
        pcap = loopback_capture("tcp_refused+tcp_abort")  # several, in one file

Each name (or ``+``-joined list of names, see ``handshaker.lab.peers.SCENARIOS``)
is captured once per test session, on demand, and the same Path is handed out
afterwards: treat the files as read-only. Beside ``NAME.pcap`` lie
``NAME.json`` (what the scenarios did: ports, writes, who closed first; read
it with :func:`scenario_results`), and for TLS scenarios ``NAME.keylog`` (NSS
key log) and, for ``tls12_rsa``, ``NAME.key.pem`` (the server's RSA key).

Capturing needs root (CAP_NET_RAW): without it the test is skipped on a
developer machine and fails in CI (``require``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import require

from handshaker.lab.loopcap import capture_possible
from handshaker.lab.peers import SCENARIOS, record

__all__ = ["loopback_capture", "scenario_results"]


def scenario_results(pcap: Path) -> list[dict[str, Any]]:
    """What the scenarios in a loopback_capture file did, one dict per scenario."""
    results: list[dict[str, Any]] = json.loads(pcap.with_suffix(".json").read_text())
    return results


@pytest.fixture(scope="session")
def loopback_capture(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A function: scenario name(s) -> Path of a fresh real capture (made once per session)."""
    base = tmp_path_factory.mktemp("loopback")
    made: dict[str, Path] = {}
    lock = threading.Lock()

    def capture(spec: str) -> Path:
        names = [n.strip() for n in spec.split("+") if n.strip()]
        for name in names:
            if name not in SCENARIOS:
                raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        ok, why = capture_possible()
        require(ok, why)
        key = "+".join(names)
        with lock:
            if key not in made:
                path = base / f"{key.replace('+', '__')}.pcap"
                results = record(path, names)
                path.with_suffix(".json").write_text(json.dumps(results, indent=1))
                made[key] = path
            return made[key]

    return capture
