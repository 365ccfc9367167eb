"""Shared test fixtures: the public corpus and tshark as an oracle.

In CI (``CI=true``) tshark and root are required: a missing oracle fails the
test run instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = (ROOT.parent / "shared" / "corpus").resolve()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz")


def corpus_captures() -> list[Path]:
    """Every capture file in ../shared/corpus, sorted."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES))


def corpus_ids() -> list[str]:
    return [str(p.relative_to(CORPUS)) for p in corpus_captures()]


@contextlib.contextmanager
def python_lane() -> Iterator[None]:
    """TCP trackers made inside take their fast lane in Python, not in C (flow/_lane.c)."""
    from handshaker.flow import tcp

    saved = tcp._lane
    tcp._lane = None
    try:
        yield
    finally:
        tcp._lane = saved


@pytest.fixture(params=["compiled", "python"])
def lane(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with the fast lane in C (required in CI) and in Python."""
    if request.param == "python":
        with python_lane():
            yield "python"
    else:
        from handshaker.flow import tcp

        require(tcp._lane is not None, "the compiled fast lane (flow/_lane.c) was not built")
        yield "compiled"


def require(condition: bool, why: str) -> None:
    """Skip when a tool is missing on a developer machine; fail in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {why}")
    pytest.skip(why)


_TSHARK_CONF = tempfile.mkdtemp(prefix="hs-tshark-conf-")


def tshark_fields(path: Path | str, fields: list[str], *, display_filter: str | None = None,
                  extra: list[str] | None = None, two_pass: bool = False) -> list[list[str]]:
    """Run tshark -T fields on a capture and return one list of values per frame.

    Runs with an empty, private config dir so that no personal settings leak in.
    Repeated field occurrences are joined with ','.
    """
    require(shutil.which("tshark") is not None, "tshark is not installed")
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a",
           "-E", "separator=\t", "-E", "aggregator=,"]
    if two_pass:
        cmd.append("-2")
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    cmd += extra or []
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=_TSHARK_CONF)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = out.stdout.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.split("\t") for line in lines]


@pytest.fixture(scope="session")
def corpus() -> Path:
    require(CORPUS.is_dir(), f"corpus not found at {CORPUS}")
    return CORPUS


def read_frames(path: Path | str) -> list:
    """Every frame of a capture, through the project's reader."""
    from handshaker.capture import open_capture

    with open_capture(path) as cap:
        return list(cap.frames())
