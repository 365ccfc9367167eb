"""A lean TCP option scanner for the hot path (SYN and SYN+ACK segments).

The per-packet decoder (:mod:`handshaker.dissect.packet`) gives every option
with its offsets for detail views; the flow stage only needs what a SYN
announces, for every SYN of a million-packet capture, so this reads just
that and never raises.
"""

from __future__ import annotations

from handshaker.flow.tcp import SynOptions

# RFC 9293 §3.2 (EOL 0, NOP 1, MSS 2), RFC 7323 (WS 3, TS 8), RFC 2018 (SACK-permitted 4),
# RFC 7413 (TFO 34), and the experimental TFO option 254 with magic 0xF989
EOL, NOP, MSS, WSCALE, SACK_PERM, TIMESTAMPS, TFO, EXPERIMENTAL = 0, 1, 2, 3, 4, 8, 34, 254


def syn_options(buf: bytes | bytearray | memoryview, start: int, end: int) -> SynOptions:
    """Options found in ``buf[start:end]`` (the bytes after the 20-byte TCP header)."""
    opts = SynOptions()
    i = start
    while i < end:
        kind = buf[i]
        if kind == EOL:
            break
        if kind == NOP:
            i += 1
            continue
        if i + 1 >= end:
            break
        length = buf[i + 1]
        if length < 2 or i + length > end:
            break  # malformed: the detail view reports it
        if kind == MSS and length == 4:
            opts.mss = (buf[i + 2] << 8) | buf[i + 3]
        elif kind == WSCALE and length == 3:
            opts.wscale = buf[i + 2]
        elif kind == SACK_PERM and length == 2:
            opts.sack_permitted = True
        elif kind == TIMESTAMPS and length == 10:
            opts.timestamps = True
        elif kind == TFO or (kind == EXPERIMENTAL and length >= 4
                             and buf[i + 2] == 0xF9 and buf[i + 3] == 0x89):
            opts.tfo = True
        i += length
    return opts
