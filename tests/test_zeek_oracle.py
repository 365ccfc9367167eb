"""conn_state, history, bytes and packets against the Zeek baselines in the corpus.

The zeek/ folder of ../shared/corpus holds conn.log files that Zeek's own
tests expect for some of its traces; where they name a connection, our
Zeek-style fields must say the same.
"""

from __future__ import annotations

from pathlib import Path

from conftest import CORPUS

from handshaker.analysis import analyze
from handshaker.render.json_out import connection_dict


def zeek_log(path: Path) -> list[dict[str, str]]:
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#") and not fields:
            fields = line.split("\t")  # a cut log: its first line names the columns
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=False)))
    return rows


def ours_by_endpoints(capture: Path) -> dict[tuple[str, int, str, int], dict]:
    out = {}
    for c in analyze(capture).connections:
        d = connection_dict(c)
        out[(d["client"]["ip"], d["client"]["port"], d["server"]["ip"], d["server"]["port"])] = d
    return out


def test_udp_dns_conversations() -> None:
    z = zeek_log(CORPUS / "zeek/expected/pcapng-multi-interface.pcapng/conn.log")
    ours = ours_by_endpoints(CORPUS / "zeek/pcapng-multi-interface.pcapng")
    assert len(z) == 3
    for row in z:
        key = (row["id.orig_h"], int(row["id.orig_p"]), row["id.resp_h"], int(row["id.resp_p"]))
        c = ours[key]
        assert c["conn_state"] == row["conn_state"]
        assert c["history"] == row["history"]
        assert c["bytes"]["c2s"] == int(row["orig_bytes"])
        assert c["bytes"]["s2c"] == int(row["resp_bytes"])
        assert c["packets_dir"]["c2s"] == int(row["orig_pkts"])
        assert c["packets_dir"]["s2c"] == int(row["resp_pkts"])


def test_tcp_history_with_a_content_gap() -> None:
    (row,) = zeek_log(CORPUS / "zeek/ldap/expected/gap-data-missing.pcapng/conn.log")
    (c,) = [c for c in analyze(CORPUS / "zeek/ldap/gap-data-missing.pcapng").tcp
            if c.server.port == int(row["id.resp_p"])]
    assert c.client.ip == row["id.orig_h"] and c.server.ip == row["id.resp_h"]
    assert c.history == row["history"]
