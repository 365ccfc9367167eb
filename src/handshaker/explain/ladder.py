"""The Ladder: one connection as arrows between two lanes, each explained.

Built once from the flow stage's segments and summary; every renderer
(terminal, JSON, later SVG/HTML/Mermaid) only draws it. Labels and notes
come from :mod:`handshaker.explain.i18n`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handshaker.dissect.columns import ACK, FIN, FLAG_NAMES, RST, SYN
from handshaker.explain.i18n import CATALOG, t, word
from handshaker.flow.tcp import (
    ANY_RETRANSMISSION,
    Segment,
    TcpStream,
    TcpSummary,
    analysis_names,
)


@dataclass(frozen=True, slots=True)
class Step:
    frame: int
    time_ns: int  # from the connection's first packet
    dir: str  # "c2s" / "s2c"
    flags: tuple[str, ...]
    seq: int
    ack: int
    seq_raw: int
    ack_raw: int
    len: int
    nxtseq: int  # the next sequence number this side will use (tshark's tcp.nxtseq)
    window: int
    analysis: tuple[str, ...]
    phase: str  # "handshake", "data", "close", "reset"
    label: str
    note: str
    tls: tuple[str, ...] = ()
    client_state: str | None = None  # RFC 9293 state after this segment, as the observer infers
    server_state: str | None = None
    tls_notes: tuple[str, ...] = ()  # one explanation per TLS message in ``tls``

    @property
    def has_ack(self) -> bool:
        return "ack" in self.flags

    def as_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "time": round(self.time_ns / 1e9, 9),
            "dir": self.dir,
            "flags": list(self.flags),
            "seq": self.seq,
            "ack": self.ack,
            "seq_raw": self.seq_raw,
            "ack_raw": self.ack_raw,
            "len": self.len,
            "nxtseq": self.nxtseq,
            "window": self.window,
            "tls": list(self.tls),
            "tls_notes": list(self.tls_notes),
            "analysis": list(self.analysis),
            "phase": self.phase,
            "label": self.label,
            "note": self.note,
            "states": {"client": self.client_state, "server": self.server_state},
        }


@dataclass(slots=True)
class Ladder:
    stream: int
    client: tuple[str, int]
    server: tuple[str, int]
    steps: list[Step]
    summary: TcpSummary
    lang: str = "en"
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "client": {"ip": self.client[0], "port": self.client[1]},
            "server": {"ip": self.server[0], "port": self.server[1]},
            "handshake": self.summary.handshake,
            "close": self.summary.close,
            "role_guess": self.summary.role_guess,
            "steps": [s.as_dict() for s in self.steps],
        }


def flag_names(flags: int) -> tuple[str, ...]:
    return tuple(name for bit, name in FLAG_NAMES if flags & bit)


TLS_TITLES = {
    "client_hello": "Client Hello", "server_hello": "Server Hello",
    "hello_retry_request": "Hello Retry Request", "certificate": "Certificate",
    "server_key_exchange": "Server Key Exchange", "server_hello_done": "Server Hello Done",
    "client_key_exchange": "Client Key Exchange", "change_cipher_spec": "Change Cipher Spec",
    "finished": "Finished (encrypted)", "encrypted_handshake": "Encrypted handshake",
    "new_session_ticket": "New Session Ticket", "certificate_request": "Certificate Request",
    "certificate_verify": "Certificate Verify", "application_data": "Application Data",
    "alert": "Alert", "certificate_status": "Certificate Status",
}


def _tls_on(session: Any, frame: int, direction: str, lang: str) -> tuple[list[str], list[str]]:
    """The TLS messages this segment completed, and a note for each (RFC 5246 / 8446 order)."""
    if session is None:
        return [], []
    types: list[str] = []
    notes: list[str] = []
    kx = session.key_exchange or ""
    group = session.group or "?"
    for m in session.messages:
        if m.frame != frame or m.dir != direction:
            continue
        kind = m.type
        if kind == "application_data" and "application_data" in types:
            continue
        types.append(kind)
        if kind == "client_hello":
            sni = f" (SNI {session.sni})" if session.sni else ""
            notes.append(t("tls_client_hello", lang, sni=sni))
        elif kind == "server_hello":
            notes.append(t("tls_server_hello", lang, version=session.version or "?",
                           suite=session.cipher_suite_name or "?"))
        elif kind == "hello_retry_request":
            notes.append(t("tls_hello_retry_request", lang,
                           group=session.hello_retry_group or "?"))
        elif kind == "server_key_exchange":
            key = "tls_server_key_exchange_dhe" if kx.startswith("dhe") else \
                "tls_server_key_exchange_ecdhe"
            notes.append(t(key, lang, group=group))
        elif kind == "client_key_exchange":
            key = {"rsa": "tls_client_key_exchange_rsa", "dhe": "tls_client_key_exchange_dhe"
                   }.get(kx, "tls_client_key_exchange_ecdhe")
            notes.append(t(key, lang, group=group))
        elif kind == "alert":
            names = [a.name for a in session.alerts if a.frame == frame] or ["?"]
            notes.append(t("tls_alert", lang, name=", ".join(names)))
        elif f"tls_{kind}" in CATALOG:
            notes.append(t(f"tls_{kind}", lang))
        else:
            notes.append(t("tls_other", lang, name=TLS_TITLES.get(kind, kind)))
        if kind == "server_hello_done" and session.verification:
            # the client checks the certificate here, before its Client Key Exchange
            notes.append(t("tls_verify", lang, summary=session.verification["summary"]))
    return types, notes


def build_ladder(st: TcpStream, summary: TcpSummary, lang: str = "en") -> Ladder:
    """Turn a kept stream into a Ladder with labels and notes in ``lang``."""
    segs: list[Segment] = st.segments or []
    c = summary.client_dir
    who = {0: t("client", lang), 1: t("server", lang)}  # by role: 0 client, 1 server
    hs = summary.handshake
    cl = summary.close
    hs_frames = hs.get("frames", [])
    role_of = {c: 0, 1 - c: 1}
    close_frames: list[int] = list(cl.get("frames", [])) if cl.get("kind") not in (
        "reset", "none") else []
    steps: list[Step] = []
    t0 = segs[0].ts_ns if segs else 0
    prev_syn_ts: int | None = None
    for seg in segs:
        role = role_of[seg.sender]
        direction = "c2s" if role == 0 else "s2c"
        f = seg.flags
        names = flag_names(f)
        an = analysis_names(seg.analysis)
        phase = "data"
        label = t("data", lang) if seg.len else t("ack", lang)
        note = ""
        retx = bool(seg.analysis & ANY_RETRANSMISSION)
        if f & SYN and not f & ACK:
            phase = "handshake"
            if retx or (hs_frames and seg.frame != hs_frames[0] and role == 0):
                label = t("hs_syn_retx", lang)
                gap = "?" if prev_syn_ts is None else f"{(seg.ts_ns - prev_syn_ts) / 1e6:.0f}"
                note = t("n_syn_retx", lang, gap=gap)
            elif hs.get("state") == "simultaneous_open":
                label = t("hs_sim_syn", lang)
                note = t("n_syn", lang, isn=seg.seq_raw)
            else:
                label = t("hs_syn", lang)
                note = t("n_syn", lang, isn=seg.seq_raw)
            prev_syn_ts = seg.ts_ns
        elif f & SYN:
            phase = "handshake"
            if retx or (len(hs_frames) > 1 and seg.frame != hs_frames[1]):
                label = t("hs_synack_retx", lang)
            else:
                label = t("hs_synack", lang)
                note = t("n_synack", lang, isn=seg.seq_raw, ack=seg.ack)
        elif f & RST:
            phase = "reset"
            label = t("rst", lang)
            if hs.get("state") == "refused":
                port = summary.server.port
                note = t("n_rst_syn", lang, port=port)
            else:
                note = t("n_rst", lang, who=who[role])
        elif seg.frame in close_frames:
            phase = "close"
            i = close_frames.index(seg.frame) + 1
            kind = cl.get("kind")
            what = "+".join(n.upper() for n in names if n in ("fin", "ack"))
            if kind == "four_way" and len(close_frames) == 4:
                label = t("close4", lang, i=i, what=what)
            elif kind == "three_way":
                label = t("close3", lang, i=i, what=what)
            elif kind == "simultaneous":
                label = t("close_sim", lang, what=what)
            else:
                label = t("close4", lang, i=i, what=what)
            if i == 1:
                note = t("n_fin1", lang, who=who[role], seq=seg.seq)
            elif kind == "simultaneous":
                # RFC 9293 figure 13: the second FIN does not acknowledge the first
                note = t("n_sim_fin", lang, who=who[role], seq=seg.seq, ack=seg.ack) \
                    if f & FIN else t("n_sim_ack", lang, who=who[role], ack=seg.ack)
            elif f & FIN and f & ACK and kind == "three_way":
                note = t("n_fin2_ack", lang, who=who[role], seq=seg.seq, ack=seg.ack)
            elif f & FIN:
                note = t("n_fin2", lang, who=who[role], seq=seg.seq)
            elif i == len(close_frames):
                note = t("n_last_ack", lang, who=who[role], ack=seg.ack)
            else:
                note = t("n_fin_ack", lang, who=who[role], ack=seg.ack)
        elif hs_frames and len(hs_frames) == 3 and seg.frame == hs_frames[2]:
            phase = "handshake"
            label = t("hs_ack", lang)
            note = t("n_ack", lang, seq=seg.seq, ack=seg.ack)
        elif f & FIN:
            phase = "close"
            label = t("close_fin", lang)
        elif seg.len:
            end = seg.seq + seg.len - 1
            note = t("n_data", lang, len=seg.len, seq=seg.seq, end=end, nxt=seg.seq + seg.len)
        elif f & ACK:
            note = t("n_ack_data", lang, ack=seg.ack)
        if an:
            why = " ".join(t(f"a_{name}", lang, seq=seg.seq, ack=seg.ack, n=seg.dupack_num)
                           for name in an)
            # a retransmitted or out-of-order segment is not new data: say only what it is
            note = why if retx or "out_of_order" in an or (phase == "data" and not seg.len) \
                else f"{note} {why}".strip()
        tls_types, tls_notes = _tls_on(summary.tls, seg.frame, direction, lang)
        if tls_types and phase == "data":
            phase = "tls"
            label = "TLS: " + ", ".join(TLS_TITLES.get(x, x) for x in tls_types)
            if not an:
                note = ""  # the TLS notes say what these bytes are
        steps.append(Step(
            frame=seg.frame, time_ns=seg.ts_ns - t0, dir=direction, flags=names,
            seq=seg.seq, ack=seg.ack, seq_raw=seg.seq_raw, ack_raw=seg.ack_raw, len=seg.len,
            nxtseq=(seg.seq + seg.len + (1 if f & (SYN | FIN) else 0)) & 0xFFFFFFFF,
            window=seg.window, analysis=tuple(an), phase=phase, label=label, note=note,
            client_state=seg.states[c].value if seg.states else None,
            server_state=seg.states[1 - c].value if seg.states else None,
            tls=tuple(tls_types), tls_notes=tuple(tls_notes),
        ))
    client = (summary.client.ip, summary.client.port)
    server = (summary.server.ip, summary.server.port)
    notes = []
    if summary.role_guess:
        notes.append(t("role_guess", lang, why=summary.role_guess))
    notes.append(t("hs_state", lang, state=word(hs.get("state"), lang)))
    close_kind = word(cl.get("kind"), lang)
    if cl.get("initiator"):
        close_kind += f" ({t(cl['initiator'], lang)})"
    notes.append(t("close_state", lang, kind=close_kind))
    return Ladder(summary.stream, client, server, steps, summary, lang, notes)
