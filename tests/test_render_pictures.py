"""Ladders as SVG and Mermaid: well-formed, every arrow in order with its label, and
strings from packets harmless in both."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from handshaker.analysis import analyze
from handshaker.cli import main
from handshaker.explain.ladder import Ladder, build_ladder
from handshaker.render.mermaid import mermaid_text, render_mermaid
from handshaker.render.svg import LEFT, RIGHT, render_svg
from handshaker.render.text import step_text

DATA = Path(__file__).resolve().parent.parent / "src" / "handshaker" / "data"
SVG = "{http://www.w3.org/2000/svg}"
#: the same length as "handshaker.test", so the capture stays consistent. In the ClientHello's
#: SNI: a script element, a quote and an ANSI colour; in the certificate: it closes the SVG
#: <title>, opens an element, has a quote and an ANSI escape sequence
EVIL = b'<script>"\x1b[31mx'
EVIL_CERT = b'</title><b>"\x1b[m'


def ladders(lang: str = "en") -> list[Ladder]:
    out = []
    for name in ("tour-tcp.pcap", "tour-reset.pcap", "tour-tls12-rsa.pcap", "tour-tls13.pcap",
                 "tour-isn.pcap"):
        a = analyze(DATA / name, keep_tcp=lambda n: True)
        out += [build_ladder(a.kept[c.stream], c, lang) for c in a.tcp]
    return out


def evil_capture(tmp: Path) -> Path:
    raw = (DATA / "tour-tls12-rsa.pcap").read_bytes()
    assert len(EVIL) == len(EVIL_CERT) == len(b"handshaker.test")
    assert raw.count(b"handshaker.test") == 3  # the ClientHello's SNI, then the certificate
    path = tmp / "evil.pcap"
    path.write_bytes(raw.replace(b"handshaker.test", EVIL, 1).replace(b"handshaker.test",
                                                                      EVIL_CERT))
    return path


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_svg_arrows_in_order_with_labels(lang: str) -> None:
    for ladder in ladders(lang):
        svg = render_svg(ladder)
        root = ET.fromstring(svg.split("\n", 1)[1])  # well-formed XML
        assert root.get("viewBox", "").startswith("0 0 ")
        steps = [g for g in root.iter(f"{SVG}g") if g.get("class") == "step"]
        assert len(steps) == len(ladder.steps)
        prev_y = -1.0
        for g, s in zip(steps, ladder.steps, strict=True):
            assert int(g.get("data-frame", "0")) == s.frame and g.get("data-dir") == s.dir
            line = g.find(f"{SVG}line")
            assert line is not None
            x1, x2 = float(line.get("x1", 0)), float(line.get("x2", 0))
            y1, y2 = float(line.get("y1", 0)), float(line.get("y2", 0))
            assert (x1, x2) == ((LEFT, RIGHT) if s.dir == "c2s" else (RIGHT, LEFT))
            assert y2 > y1 > prev_y  # top to bottom, sloping down
            prev_y = y1
            label = next(t for t in g.iter(f"{SVG}text") if t.get("class") == "label")
            assert label.text == step_text(s, False)
            tls = [t.text for t in g.iter(f"{SVG}text") if t.get("class") == "tls"]
            assert tls == list(s.tls)


def test_svg_absolute_numbers() -> None:
    ladder = ladders()[0]
    svg = render_svg(ladder, absolute=True)
    assert f"Seq={ladder.steps[0].seq_raw}" in svg


def test_mermaid_one_message_per_segment() -> None:
    for ladder in ladders():
        text = render_mermaid(ladder)
        lines = text.splitlines()
        assert lines[0] == "sequenceDiagram"
        messages = [ln.strip() for ln in lines if re.match(r"\s+[CS]->>[CS]:", ln)]
        assert len(messages) == len(ladder.steps)
        for m, s in zip(messages, ladder.steps, strict=True):
            assert m.startswith("C->>S:" if s.dir == "c2s" else "S->>C:")
            assert mermaid_text(step_text(s, False)) in m
        assert text.count("    rect ") == text.count("    end")


def test_strings_from_packets_are_harmless(tmp_path: Path) -> None:
    a = analyze(evil_capture(tmp_path), keep_tcp=lambda n: True)
    ladder = build_ladder(a.kept[0], a.tcp[0], "en")
    assert any("<script>" in n for s in ladder.steps for n in s.tls_notes)  # it got in
    svg = render_svg(ladder)
    root = ET.fromstring(svg.split("\n", 1)[1])
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("b", "script")]
    assert "\x1b" not in svg
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any('<script>"' in t for t in titles)  # shown as text, not as markup
    mm = render_mermaid(ladder)
    assert "\x1b" not in mm and "<" not in mm.replace("->>", "")


def test_terminal_output_stays_clean(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The tls and ladder commands print no escape sequence that came from a packet."""
    evil = evil_capture(tmp_path)
    for args in (["tls", str(evil)], ["ladder", str(evil), "--stream", "0"],
                 ["analyze", str(evil)]):
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out, args
    assert main(["tls", str(evil), "--format", "json"]) == 0
    assert "<script>" in capsys.readouterr().out  # JSON keeps the value (escaped as JSON)


def test_ladder_command_writes_svg_and_mermaid(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "l.svg"
    assert main(["ladder", str(DATA / "tour-tcp.pcap"), "--stream", "0", "--format", "svg",
                 "-o", str(out)]) == 0
    ET.fromstring(out.read_text().split("\n", 1)[1])
    assert main(["ladder", str(DATA / "tour-tcp.pcap"), "--stream", "0", "--format",
                 "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("sequenceDiagram\n")
