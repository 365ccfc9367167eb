"""The hot-path SYN option scanner agrees with the per-packet decoder on every corpus SYN."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import corpus_captures, corpus_ids
from hypothesis import given
from hypothesis import strategies as st

from handshaker.capture import open_capture
from handshaker.dissect.columns import SYN
from handshaker.dissect.packet import decode
from handshaker.dissect.tcpopts import syn_options


@pytest.mark.parametrize("path", corpus_captures(), ids=corpus_ids())
def test_syn_options_agree_with_the_decoder(path: Path) -> None:
    with open_capture(path) as cap:
        for frame in cap.frames():
            pkt = decode(frame)
            s = pkt.summary
            if s["tcp_flags"] < 0 or not s["tcp_flags"] & SYN or s["tcp_hlen"] < 20:
                continue
            end = min(s["l4_off"] + s["tcp_hlen"], len(frame.data))
            got = syn_options(frame.data, s["l4_off"] + 20, end)
            if pkt.problems:
                continue  # malformed options: the decoder reports, the scanner stops early
            assert got.mss == pkt.mss, frame.number
            assert got.wscale == pkt.window_scale, frame.number
            assert got.sack_permitted == bool(pkt.sack_permitted), frame.number
            assert got.timestamps == (pkt.timestamps is not None), frame.number


@given(st.binary(max_size=40))
def test_scanner_never_raises(data: bytes) -> None:
    syn_options(data, 0, len(data))
