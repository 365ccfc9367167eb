"""``handshaker report``, opened in a real browser (Debian's chromium, driven by Playwright).

Each test builds a report, opens it headless, and checks what a person would
see and do: the table lists the connections, a click on a connection draws
its ladder, a click on an arrow shows that frame's Seq/Ack and layers in the
panel, the buttons switch Seq/Ack and the language, the filters and sorting
work, strings from packets stay text, and nothing is fetched from anywhere.
Screenshots go to ``test-artifacts/screenshots/`` (CI keeps that folder).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, require
from tcp_synth import ACK, FIN, PSH, SYN, new_conversation
from test_render_pictures import EVIL, evil_capture

from handshaker.analysis import analyze
from handshaker.explain.ladder import build_ladder
from handshaker.render.html import build_report
from handshaker.tls.keys import KeyLog
from handshaker.tls.opener import KeyRing

DATA = ROOT / "src" / "handshaker" / "data"
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
            "chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed (pip install playwright)")
        raise
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists()
                              else shutil.which("chromium"), args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser: Any, html: str, tmp: Path, name: str) -> tuple[Any, list[str], list[str]]:
    """The page, the errors it raised, and every URL it tried to fetch."""
    path = tmp / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    fetched: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(path.as_uri())
    return page, errors, fetched


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_table_ladder_panel_toggles(browser: Any, tmp_path: Path) -> None:
    path = DATA / "tour-udp.pcap"
    html, _ = build_report(path)
    page, errors, fetched = _open(browser, html, tmp_path, "udp")
    a = analyze(path, keep_tcp=lambda n: True)
    rows = page.locator("#conns tbody tr")
    assert rows.count() == len(a.connections)
    shown = sorted((r.get_attribute("data-proto"), int(r.get_attribute("data-stream")))
                   for r in rows.all())
    assert shown == sorted(("tcp" if hasattr(c, "handshake") else "udp", c.stream)
                           for c in a.connections)
    # open the TCP connection: its ladder, one arrow per segment
    conn = a.tcp[0]
    ladder = build_ladder(a.kept[conn.stream], conn, "en")
    page.locator(f'#conns tbody tr[data-proto="tcp"][data-stream="{conn.stream}"]').click()
    arrows = page.locator("#ladder g.step")
    assert arrows.count() == len(ladder.steps)
    # every arrow answers a click (anywhere on its row: the phase bands do not take it)
    for i, st in enumerate(ladder.steps):
        arrows.nth(i).click(timeout=3000)
        assert page.locator("#panel").get_attribute("data-frame") == str(st.frame)
    # click the fourth arrow: the panel shows that frame, its Seq/Ack and its layers
    step = ladder.steps[3]
    arrows.nth(3).click()
    panel = page.locator("#panel")
    assert panel.get_attribute("data-frame") == str(step.frame)
    text = panel.text_content() or ""
    assert f"Seq={step.seq} Ack={step.ack}" in text
    assert "TCP" in text and "Transport" in text and "4 Transport" in text
    assert "Source port" in text  # header fields as tshark names them
    _shot(page, "report-en-relative")
    # absolute numbers, in the ladder and in the panel
    page.click("#seq-toggle")
    assert f"Seq={step.seq_raw} Ack={step.ack_raw}" in (panel.text_content() or "")
    first_label = page.locator("#ladder text.label").first
    assert first_label.text_content() == first_label.get_attribute("data-abs")
    # Chinese: the page, the ladder's lane heads, the panel
    page.click("#lang-toggle")
    assert page.locator("th", has_text="客户端").count() == 1
    assert page.locator("#ladder text.lang-zh", has_text="客户端").is_visible()
    assert not page.locator("#ladder text.lang-en", has_text="client").first.is_visible()
    assert "Seq/Ack: 绝对" in (page.locator("#seq-toggle").text_content() or "")
    zh_panel = page.locator("#panel").text_content() or ""
    assert "传输层" in zh_panel and "以太网 II" in zh_panel and "分层" in zh_panel
    _shot(page, "report-zh-absolute")
    # filter by protocol, then sort by packets
    page.select_option("#f-proto", "udp")
    assert page.locator("#conns tbody tr").count() == len(a.udp)
    page.select_option("#f-proto", "")
    page.locator("th", has_text="包数").click()
    counts = [int(r.locator("td").nth(4).text_content()) for r in page.locator(
        "#conns tbody tr").all()]
    assert counts == sorted(counts)
    assert not errors and all(u.startswith("file:") for u in fetched), (errors, fetched)


def test_decrypted_tls_and_strings_from_packets(browser: Any, tmp_path: Path) -> None:
    """A capture whose SNI opens a <script> and whose certificate names close <title> and
    open an element, with quotes and ANSI escapes: the page shows them as text and nothing
    else happens."""
    evil = evil_capture(tmp_path)
    ring = KeyRing(keylog=KeyLog())
    ring.keylog.add_file(DATA / "tour-tls12-rsa.keylog")
    html, _ = build_report(evil, keys=ring)
    page, errors, fetched = _open(browser, html, tmp_path, "evil")
    cells = page.locator("#conns tbody tr td")
    sni = EVIL.decode("latin-1")
    assert cells.nth(11).text_content() == sni  # the SNI column, as text
    # the bytes changed under the Finished messages: they do not verify, so the session
    # does not count as decrypted although the key log has its secret
    assert cells.nth(9).text_content() == "TLS 1.2"
    page.locator("#conns tbody tr").first.click()
    arrows = page.locator("#ladder g.step")
    for i in range(arrows.count()):  # each answers a click, wherever its row's centre is
        arrows.nth(i).click(timeout=3000)
        assert page.locator("#panel").get_attribute("data-frame") == \
            arrows.nth(i).get_attribute("data-frame")
    arrows.nth(3).click()  # the ClientHello
    panel = page.locator("#panel").text_content() or ""
    assert "SNI " + sni in panel
    assert "cipher suites" in panel and "TLS_RSA_WITH_AES_128_GCM_SHA256" in panel  # offered
    assert "JA4" in panel
    assert page.evaluate("document.querySelectorAll('b').length") == 0
    assert page.evaluate("document.scripts.length") == 2  # the data and the page's own
    assert page.evaluate("document.title") == "handshaker report"
    assert page.locator("#ladder svg").count() == 1  # the SVG was not broken out of
    _shot(page, "report-hostile-strings")
    assert not errors and all(u.startswith("file:") for u in fetched), (errors, fetched)


def test_thousands_of_connections(browser: Any, tmp_path: Path) -> None:
    """3,000 connections: the table fills at once, a ladder draws when it is opened."""
    records = []
    for i in range(3000):
        conv = new_conversation(1000 + i, 5000 + i, cport=10000 + i)
        conv.t_us = 1_000_000 + i * 10_000
        conv.send("c", SYN)
        conv.send("s", SYN | ACK)
        conv.ack("c")
        conv.send("c", PSH | ACK, b"GET / HTTP/1.1\r\n\r\n")
        conv.send("s", PSH | ACK, b"HTTP/1.1 200 OK\r\n\r\n")
        conv.send("c", FIN | ACK)
        conv.send("s", FIN | ACK)
        conv.ack("c")
        records += conv.records
    from capture_writers import pcap_file

    cap = tmp_path / "many.pcap"
    cap.write_bytes(pcap_file(sorted(records, key=lambda r: (r[0], r[1]))))
    t0 = time.monotonic()
    html, counts = build_report(cap)
    built = time.monotonic() - t0
    assert counts["connections"] == 3000 and counts["ladders"] == 2000  # MAX_LADDERS
    page, errors, _ = _open(browser, html, tmp_path, "many")
    t0 = time.monotonic()
    page.wait_for_function("document.querySelectorAll('#conns tbody tr').length === 3000")
    shown = time.monotonic() - t0
    assert page.locator("#ladder g.step").count() == 0  # no ladder drawn before asked
    page.locator('#conns tbody tr[data-stream="1999"]').click()
    assert page.locator("#ladder g.step").count() == 8
    page.locator('#conns tbody tr[data-stream="2999"]').click()
    assert "over the report's limit" in (page.locator("#ladder-hint").text_content() or "")
    assert "Limits reached" in (page.locator("#meta").text_content() or "")
    assert not errors, errors
    print(f"3000 connections: report built in {built:.2f} s, table shown in {shown:.2f} s")
