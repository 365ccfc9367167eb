"""``analyze --format csv``: one row per connection, spreadsheet formulas defused."""

from __future__ import annotations

from typing import Any

from handshaker.analysis import Renderer
from handshaker.render.json_out import connection_dict

CSV_COLUMNS = ("file", "proto", "stream", "client_ip", "client_port", "server_ip",
               "server_port", "first_frame", "last_frame", "packets", "bytes_c2s", "bytes_s2c",
               "handshake", "client_isn", "server_isn", "rtt_ms", "close", "close_initiator",
               "conn_state", "history", "anomalies")


def csv_safe(value: Any) -> Any:
    """Defuse spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class CsvRender(Renderer):
    """A connection as its CSV row (formulas defused), made as soon as it is over."""

    def __init__(self, path: str) -> None:
        self.path = path

    def render(self, conn: Any) -> list[Any]:
        return [csv_safe(v) for v in _csv_row(self.path, connection_dict(conn))]

    def renumber(self, item: list[Any], old: int, stream: int) -> list[Any]:
        item[CSV_COLUMNS.index("stream")] = stream
        return item


def _csv_row(path: str, c: dict[str, Any]) -> list[Any]:
    hs = c["handshake"] or {}
    cl = c["close"] or {}
    return [path, c["proto"], c["stream"], c["client"]["ip"], c["client"]["port"],
            c["server"]["ip"], c["server"]["port"], c["first_frame"], c["last_frame"],
            c["packets"], c["bytes"]["c2s"], c["bytes"]["s2c"], hs.get("state", ""),
            hs.get("client_isn", ""), hs.get("server_isn", ""), hs.get("rtt_ms", ""),
            cl.get("kind", ""), cl.get("initiator", "") or "", c["conn_state"], c["history"],
            ";".join(f"{x['kind']}@{x['frame']}" for x in c["anomalies"])]
