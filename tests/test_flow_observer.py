"""The payload-observer hook: what the TLS stage will see of each stream."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import corpus_captures, corpus_ids

from handshaker.flow.tcp import TcpTracker

SEEN: dict[tuple[int, int], bytearray] = {}


class Collect:
    """Wants everything of the streams whose first payload starts with a TLS record."""

    def __init__(self, stream: int) -> None:
        self.stream = stream
        self.wants = [True, True]

    def segment(self, direction: int, frame: int, ts: int, seq: int, length: int,
                payload: bytes, analysis: int) -> None:
        SEEN.setdefault((self.stream, direction), bytearray()).extend(payload)


def collect(st, d, first: bytes):
    return Collect(st.number) if first[:1] == b"\x16" else None


@pytest.mark.parametrize("path", [p for p in corpus_captures() if "tls" in str(p)][:12],
                         ids=[i for i in corpus_ids() if "tls" in i][:12])
def test_observer_sees_every_payload_byte_of_its_streams(path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from handshaker import analysis

    SEEN.clear()
    real = TcpTracker.__init__

    def init(self, keep=None, on_done=None, observe_=None, observe=None):
        real(self, keep, on_done, collect)

    monkeypatch.setattr(TcpTracker, "__init__", init)
    with_obs = analysis.analyze(str(path), tls=False)
    monkeypatch.setattr(TcpTracker, "__init__", real)
    plain = analysis.analyze(str(path), tls=False)
    kept = analysis.analyze(str(path), keep_tcp=lambda n: True, tls=False)
    assert with_obs.tcp == plain.tcp  # observing changes no result
    for (stream, d), data in SEEN.items():
        st = kept.kept[stream]
        # from the first payload of that direction on, every payload byte, in capture order
        want = b"".join(s.payload for s in st.segments if s.sender == d and s.len > 0)
        assert bytes(data) == want
