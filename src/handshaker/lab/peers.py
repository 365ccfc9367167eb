"""Real peers on loopback: scenarios that make one kind of handshake happen.

Nothing here reimplements TCP or TLS. The peers are the kernel's TCP (plain
Python sockets) and OpenSSL (Python's ``ssl``); a scenario only decides who
writes what, when, and who closes first. Server and client run in threads,
bound to 127.0.0.1; every socket operation has a timeout, so a scenario
either finishes within a few seconds or raises LabError.

Each scenario function takes a port (None: pick a free one) and returns a
small JSON-ready dict saying what was done: ports, the writes each side made,
bytes per direction, who closed first and how the connection ended. To get a
capture of it, use :func:`record`::

    results = record(Path("basic.pcap"), ["tcp_basic"])

which picks the ports first, captures ``lo`` filtered to them (see
:mod:`handshaker.lab.loopcap`) and runs the scenarios in order. TLS scenarios
write the NSS key log beside the capture (``basic.keylog`` for
``basic.pcap``) and ``tls12_rsa`` also the server's private key
(``basic.key.pem``, PKCS#1 PEM), so that the capture can be decrypted.

Scenario names: see ``SCENARIOS``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handshaker.lab.loopcap import LabError, capture_loopback

__all__ = [
    "HOST",
    "SCENARIOS",
    "SNI",
    "Scenario",
    "compare_rsa_ecdhe",
    "key_pem_path",
    "keylog_path",
    "pick_port",
    "record",
    "tcp_abort",
    "tcp_basic",
    "tcp_half_close",
    "tcp_many",
    "tcp_refused",
    "tcp_server_closes",
    "tcp_short",
    "tcp_simultaneous_close",
    "tcp_syn_retry",
    "tls12_client_cert",
    "tls12_dhe",
    "tls12_ecdhe",
    "tls12_ecdsa",
    "tls12_resume",
    "tls12_rsa",
    "tls13",
    "tls13_client_cert",
    "tls13_hrr",
    "tls13_resume",
    "tls_alert",
    "udp_basic",
]

HOST = "127.0.0.1"
SNI = "handshaker.test"
# Every blocking socket call gives up after this long (seconds).
TIMEOUT = 5.0
# Pause between two small writes by the same side: with TCP_NODELAY each
# send() then leaves as its own segment and Seq visibly advances. (Setting
# TCP_MAXSEG does not split data on lo: loopback hands GSO super-segments to
# the capture. Small, spaced writes are what makes many segments.)
WRITE_GAP = 0.02
# Pause between seeing the peer's FIN and closing: longer than the delayed
# ACK timer (40 ms min on Linux), so the ACK of the FIN leaves on its own and
# the close is the textbook four segments, not FIN, FIN/ACK, ACK.
CLOSE_PAUSE = 0.2
# Scenario ports come from here: below Linux's ephemeral range (32768-60999,
# where connect() picks client ports) so that no client socket of another
# program takes ours, and away from the bench templates' 15500-15599.
PORT_RANGE = (20000, 32000)
# An administratively scoped group (RFC 2365); it is sent on lo only.
MULTICAST_GROUP = "239.255.0.77"
BROADCAST = "127.255.255.255"

Result = dict[str, Any]

# A request and a response in the shape of HTTP/1.1, small enough that every
# segment stays far below any GSO size.
REQUEST_PARTS = (b"GET /hello HTTP/1.1\r\n", b"Host: handshaker.test\r\n", b"\r\n")
RESPONSE_BODY = b"hello, handshake\n"
RESPONSE_PARTS = (
    b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(RESPONSE_BODY)).encode() + b"\r\n\r\n",
    RESPONSE_BODY,
)
REQUEST = b"".join(REQUEST_PARTS)
RESPONSE = b"".join(RESPONSE_PARTS)

_picked: set[int] = set()
_picked_lock = threading.Lock()


# --------------------------------------------------------------------------- ports, sockets


def pick_port() -> int:
    """A port on 127.0.0.1 free for both TCP and UDP, not handed out before by this process."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(*PORT_RANGE)
        with _picked_lock:
            if port in _picked:
                continue
        if _bindable(port, socket.SOCK_STREAM) and _bindable(port, socket.SOCK_DGRAM):
            with _picked_lock:
                _picked.add(port)
            return port
    raise LabError(f"no free port found in {PORT_RANGE[0]}-{PORT_RANGE[1]} on {HOST}")


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _listener(port: int, timeout: float) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # A previous run's TIME_WAIT on this port must not stop us.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port))
        s.listen(8)
        s.settimeout(timeout)
    except OSError as err:
        s.close()
        raise LabError(f"cannot listen on {HOST}:{port}: {err}") from err
    return s


def _client(timeout: float) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    s.settimeout(timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _accept(listener: socket.socket, timeout: float) -> socket.socket:
    conn, _ = listener.accept()
    conn.settimeout(timeout)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _recv_until(sock: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    buf = b""
    while marker not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise LabError(f"peer closed after {len(buf)} bytes, before {marker!r}")
        buf += chunk
        if len(buf) > limit:
            raise LabError(f"no {marker!r} within {limit} bytes")
    return buf


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise LabError(f"peer closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def _recv_eof(sock: socket.socket, limit: int = 65536) -> bytes:
    """Read until the peer's FIN (or close_notify on an SSLSocket)."""
    buf = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return buf
        buf += chunk
        if len(buf) > limit:
            raise LabError(f"peer sent more than {limit} bytes without closing")


def _send_parts(sock: socket.socket, parts: tuple[bytes, ...]) -> list[int]:
    sizes = []
    for i, part in enumerate(parts):
        if i:
            time.sleep(WRITE_GAP)
        sock.sendall(part)
        sizes.append(len(part))
    return sizes


def _endpoint(addr: Any) -> dict[str, Any]:
    return {"ip": addr[0], "port": addr[1]}


class _Peer(threading.Thread):
    """One side of a scenario in a thread; its result or its error comes back in finish()."""

    def __init__(self, name: str, fn: Callable[[], Any]) -> None:
        super().__init__(name=f"handshaker-lab-{name}", daemon=True)
        self._fn: Callable[[], Any] = fn
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._fn()
        except BaseException as err:  # handed to finish(), raised there
            self.error = err

    def finish(self, timeout: float) -> Any:
        self.join(timeout)
        if self.is_alive():
            raise LabError(f"{self.name} did not finish within {timeout:.0f} s")
        if self.error is not None:
            raise LabError(f"{self.name} failed: {self.error!r}") from self.error
        return self.result


def _serve(name: str, fn: Callable[[], Any]) -> _Peer:
    peer = _Peer(name, fn)
    peer.start()
    return peer


# --------------------------------------------------------------------------- TCP


def _tcp_exchange(
    listener: socket.socket,
    port: int,
    timeout: float,
    *,
    request_parts: tuple[bytes, ...],
    response_parts: tuple[bytes, ...],
    closer: str,
) -> Result:
    """One connection on an already listening socket: request, response, close.

    ``closer`` is who closes first: ``client`` or ``server`` (both with FIN).
    The other side closes CLOSE_PAUSE after it has seen that FIN.
    """
    request = b"".join(request_parts)
    response = b"".join(response_parts)

    def server() -> dict[str, Any]:
        with _accept(listener, timeout) as conn:
            got = _recv_until(conn, b"\r\n\r\n")
            sizes = _send_parts(conn, response_parts)
            if closer == "server":
                # The whole request has been read: close() now sends FIN (with
                # unread data it would send RST, RFC 2525 §2.17).
                conn.close()
                return {"read": len(got), "writes": sizes}
            rest = _recv_eof(conn)
            time.sleep(CLOSE_PAUSE)
            return {"read": len(got) + len(rest), "writes": sizes}

    peer = _serve("tcp-server", server)
    with _client(timeout) as cli:
        cli.connect((HOST, port))
        client_addr = cli.getsockname()
        c_sizes = _send_parts(cli, request_parts)
        got = _recv_exact(cli, len(response))
        if closer == "server":
            _recv_eof(cli)
            time.sleep(CLOSE_PAUSE)
    srv = peer.finish(timeout + 2 * CLOSE_PAUSE + 1)
    if got != response or srv["read"] != len(request):
        raise LabError("the exchange did not carry the bytes written")
    return {
        "client": _endpoint(client_addr),
        "writes": {"c2s": c_sizes, "s2c": srv["writes"]},
        "bytes": {"c2s": sum(c_sizes), "s2c": sum(srv["writes"])},
        "first_close": closer,
        "end": "fin",
    }


def _tcp_result(name: str, port: int, connections: list[Result], **more: Any) -> Result:
    return {
        "scenario": name,
        "proto": "tcp",
        "server": {"ip": HOST, "port": port},
        "connections": connections,
        **more,
    }


def tcp_basic(port: int | None = None, *, timeout: float = TIMEOUT) -> Result:
    """Handshake; the client writes a request in 3 send()s, the server answers in 2;
    the client closes first (FIN), the server after: a four-way close."""
    port = port or pick_port()
    with _listener(port, timeout) as lst:
        conn = _tcp_exchange(
            lst, port, timeout,
            request_parts=REQUEST_PARTS, response_parts=RESPONSE_PARTS, closer="client",
        )
    return _tcp_result("tcp_basic", port, [conn])


def tcp_short(port: int | None = None, *, timeout: float = TIMEOUT) -> Result:
    """One short connection: request and response in one write each; client closes first."""
    port = port or pick_port()
    with _listener(port, timeout) as lst:
        conn = _tcp_exchange(
            lst, port, timeout,
            request_parts=(REQUEST,), response_parts=(RESPONSE,), closer="client",
        )
    return _tcp_result("tcp_short", port, [conn])


def tcp_many(port: int | None = None, *, count: int = 4, timeout: float = TIMEOUT) -> Result:
    """``count`` short connections one after another to the same server port.

    Each gets its own client port and, from the kernel, its own random
    initial sequence numbers (RFC 6528): put side by side, they show that
    ISNs do not start at 0 or 1.
    """
    port = port or pick_port()
    conns = []
    with _listener(port, timeout) as lst:
        for _ in range(count):
            conns.append(
                _tcp_exchange(
                    lst, port, timeout,
                    request_parts=(REQUEST,), response_parts=(RESPONSE,), closer="client",
                )
            )
    return _tcp_result("tcp_many", port, conns)


def tcp_server_closes(port: int | None = None, *, timeout: float = TIMEOUT) -> Result:
    """Request, response, then the server closes first; the client closes after."""
    port = port or pick_port()
    with _listener(port, timeout) as lst:
        conn = _tcp_exchange(
            lst, port, timeout,
            request_parts=(REQUEST,), response_parts=RESPONSE_PARTS, closer="server",
        )
    return _tcp_result("tcp_server_closes", port, [conn])


def tcp_refused(port: int | None = None, *, timeout: float = TIMEOUT) -> Result:
    """A SYN to a port nobody listens on: the kernel answers RST/ACK (RFC 9293 §3.10.7.1)."""
    port = port or pick_port()
    # Hold the port (bound, not listening) so no one starts listening on it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hold, _client(timeout) as cli:
        hold.bind((HOST, port))
        client_addr = cli.getsockname()
        try:
            cli.connect((HOST, port))
        except ConnectionRefusedError:
            refused = True
        else:
            refused = False
    if not refused:
        raise LabError(f"connect to {HOST}:{port} was not refused")
    return _tcp_result(
        "tcp_refused", port,
        [{"client": _endpoint(client_addr), "writes": {"c2s": [], "s2c": []},
          "bytes": {"c2s": 0, "s2c": 0}, "first_close": "server", "end": "refused"}],
    )


def tcp_abort(port: int | None = None, *, timeout: float = TIMEOUT) -> Result:
    """Request and response, then the client closes with SO_LINGER {on, 0 s}: RST, not FIN."""
    port = port or pick_port()

    def server(lst: socket.socket) -> dict[str, Any]:
        with _accept(lst, timeout) as conn:
            got = _recv_until(conn, b"\r\n\r\n")
            sizes = _send_parts(conn, RESPONSE_PARTS)
            try:
                rest = conn.recv(4096)
            except ConnectionResetError:
                return {"read": len(got), "writes": sizes, "saw": "reset"}
            saw = "data" if rest else "eof"
            return {"read": len(got) + len(rest), "writes": sizes, "saw": saw}

    with _listener(port, timeout) as lst:
        peer = _serve("tcp-server", lambda: server(lst))
        with _client(timeout) as cli:
            cli.connect((HOST, port))
            client_addr = cli.getsockname()
            c_sizes = _send_parts(cli, (REQUEST,))
            _recv_exact(cli, len(RESPONSE))
            # RFC 9293 §3.10.4 ABORT: linger on with a zero timeout makes close() abort.
            cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        srv = peer.finish(timeout + 1)
    if srv["saw"] != "reset":
        raise LabError(f"the server saw {srv['saw']}, not a reset")
    return _tcp_result(
        "tcp_abort", port,
        [{"client": _endpoint(client_addr), "writes": {"c2s": c_sizes, "s2c": srv["writes"]},
          "bytes": {"c2s": sum(c_sizes), "s2c": sum(srv["writes"])},
          "first_close": "client", "end": "rst"}],
    )


def tcp_half_close(port: int | None = None, *, timeout: float = TIMEOUT) -> Result:
    """The client sends its request and shuts down its sending side (FIN) at once; the
    half-closed connection still carries the server's answer, sent after that FIN in
    several writes; then the server closes (RFC 9293 §3.6: a half-closed connection)."""
    port = port or pick_port()

    def server(lst: socket.socket) -> dict[str, Any]:
        with _accept(lst, timeout) as conn:
            got = _recv_eof(conn)  # the request, then the client's FIN
            time.sleep(WRITE_GAP)
            sizes = _send_parts(conn, RESPONSE_PARTS)
            time.sleep(CLOSE_PAUSE)
        return {"read": len(got), "writes": sizes}

    with _listener(port, timeout) as lst:
        peer = _serve("tcp-server", lambda: server(lst))
        with _client(timeout) as cli:
            cli.connect((HOST, port))
            client_addr = cli.getsockname()
            c_sizes = _send_parts(cli, (REQUEST,))
            cli.shutdown(socket.SHUT_WR)  # FIN: no more from the client, still reading
            got = _recv_eof(cli)
        srv = peer.finish(timeout + 2 * CLOSE_PAUSE + 1)
    if got != RESPONSE or srv["read"] != len(REQUEST):
        raise LabError("the half-closed connection did not carry the bytes written")
    return _tcp_result(
        "tcp_half_close", port,
        [{"client": _endpoint(client_addr), "writes": {"c2s": c_sizes, "s2c": srv["writes"]},
          "bytes": {"c2s": sum(c_sizes), "s2c": sum(srv["writes"])},
          "first_close": "client", "end": "fin", "half_close": True}],
    )


#: the moment both sides close is this far ahead, time enough for the helper to start
SIMULTANEOUS_LEAD_NS = 250_000_000
#: the server's side of a simultaneous close: a helper process that waits, spinning, for
#: the agreed moment on the system's monotonic clock, then shuts its socket down
_SHUTDOWN_AT = (
    "import socket, sys, time\n"
    "s = socket.socket(fileno=int(sys.argv[2]))\n"
    "t = int(sys.argv[1])\n"
    "while time.monotonic_ns() < t:\n"
    "    pass\n"
    "s.shutdown(socket.SHUT_WR)\n"
    "s.detach()\n"
)


def tcp_simultaneous_close(port: int | None = None, *, timeout: float = TIMEOUT,
                           tries: int = 3) -> Result:
    """Both sides close at the same moment, ``tries`` times on fresh connections: when
    both FINs leave before either arrives, each side goes FIN_WAIT_1 -> CLOSING ->
    TIME_WAIT (RFC 9293 §3.6, figure 13), and each FIN is answered by a bare ACK.

    On loopback a FIN is delivered within microseconds, usually before the other side's
    close has started; a barrier between two threads is too loose for that. So the
    server's socket is handed to a helper process, and both processes spin on the
    monotonic clock until the same instant, then call shutdown() on two CPUs at once
    (with one CPU the kernel decides; the capture tells which close each try made).
    """
    import subprocess
    import sys

    port = port or pick_port()
    conns = []
    with _listener(port, timeout) as lst:
        for _ in range(tries):
            with _client(timeout) as cli:
                cli.connect((HOST, port))
                client_addr = cli.getsockname()
                with _accept(lst, timeout) as srv:
                    cli.sendall(REQUEST)
                    _recv_exact(srv, len(REQUEST))
                    srv.sendall(RESPONSE)
                    _recv_exact(cli, len(RESPONSE))
                    at = time.monotonic_ns() + SIMULTANEOUS_LEAD_NS
                    helper = subprocess.Popen(
                        [sys.executable, "-c", _SHUTDOWN_AT, str(at), str(srv.fileno())],
                        pass_fds=(srv.fileno(),))
                    try:
                        while time.monotonic_ns() < at:
                            pass
                        cli.shutdown(socket.SHUT_WR)
                        if helper.wait(timeout) != 0:
                            raise LabError("the server's shutdown helper failed")
                    finally:
                        # interrupted (Ctrl-C reaches a helper still starting too late for
                        # it to notice): the helper goes with the run
                        if helper.poll() is None:
                            helper.kill()
                            helper.wait()
                    _recv_eof(cli)
                    _recv_eof(srv)
                    time.sleep(CLOSE_PAUSE)
            conns.append({"client": _endpoint(client_addr),
                          "writes": {"c2s": [len(REQUEST)], "s2c": [len(RESPONSE)]},
                          "bytes": {"c2s": len(REQUEST), "s2c": len(RESPONSE)},
                          "first_close": "both", "end": "fin"})
    return _tcp_result("tcp_simultaneous_close", port, conns)


def tcp_syn_retry(port: int | None = None, *, timeout: float = TIMEOUT) -> Result:
    """A SYN the server's kernel drops, and the client's kernel sends again.

    The listener's accept queue holds one connection (backlog 0) and a first
    connection fills it; the second client's SYN finds the queue full and is
    dropped without an answer (Linux's tcp_conn_request). Its kernel sends the
    SYN again after the initial retransmission timeout (1 s, RFC 6298 §2.1);
    meanwhile the server has accepted the first connection, so the second
    SYN gets its SYN/ACK. Nothing is added to the system: no firewall rule,
    no namespace.
    """
    port = port or pick_port()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(0)
    s.settimeout(timeout)
    waited: dict[str, Any] = {}
    with s, _client(timeout) as first, _client(timeout + 4) as second:
        first.connect((HOST, port))  # fills the accept queue

        def connect_second() -> None:
            t0 = time.monotonic()
            try:
                second.connect((HOST, port))
            except OSError as err:
                waited["error"] = str(err)
            waited["seconds"] = time.monotonic() - t0

        t = threading.Thread(target=connect_second, name="syn-retry-client")
        t.start()
        time.sleep(0.4)  # the second SYN has come and been dropped
        with _accept(s, timeout) as a:  # the queue has room again
            first.sendall(REQUEST)
            _recv_exact(a, len(REQUEST))
            a.sendall(RESPONSE)
            _recv_exact(first, len(RESPONSE))
            first.close()
            _recv_eof(a)
        t.join(timeout + 4)
        if "error" in waited:
            raise LabError(f"the retried connection failed: {waited['error']}")
        with _accept(s, timeout) as b:
            second.sendall(REQUEST)
            _recv_exact(b, len(REQUEST))
            b.sendall(RESPONSE)
            _recv_exact(second, len(RESPONSE))
            client_addr = second.getsockname()
            second.shutdown(socket.SHUT_WR)
            _recv_eof(b)
        time.sleep(CLOSE_PAUSE)
    if waited.get("seconds", 0) < 0.8:
        raise LabError("the second SYN was answered at once: the kernel did not drop it")
    return _tcp_result(
        "tcp_syn_retry", port,
        [{"client": _endpoint(client_addr), "writes": {"c2s": [len(REQUEST)],
                                                       "s2c": [len(RESPONSE)]},
          "bytes": {"c2s": len(REQUEST), "s2c": len(RESPONSE)}, "first_close": "client",
          "end": "fin", "connect_seconds": round(waited["seconds"], 3)}],
    )


# --------------------------------------------------------------------------- UDP

UDP_REQUEST = b"what time is it?"
UDP_RESPONSE = b"time to shake hands"
# Separate sendto()s of different sizes; each arrives as one datagram of the
# same size (message boundaries are kept, unlike in a TCP byte stream).
UDP_SIZES = (1, 32, 200, 1000)


def udp_basic(port: int | None = None, *, timeout: float = TIMEOUT) -> Result:
    """A UDP request/response, datagrams of several sizes, one broadcast and one multicast.

    Broadcast goes to 127.255.255.255, lo's broadcast address (the kernel's
    local table has the route). Multicast goes to MULTICAST_GROUP with
    IP_MULTICAST_IF = 127.0.0.1, which makes lo the outgoing interface, and
    IP_MULTICAST_LOOP so a local member receives it; TTL 1. No route has to be
    added for this. If the kernel refuses any of it, multicast is skipped and
    the result says why.
    """
    port = port or pick_port()
    stack = contextlib.ExitStack()
    with stack:
        srv = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        srv.bind((HOST, port))
        srv.settimeout(timeout)
        # A socket bound to the broadcast address receives what is sent to it.
        bcast_rx = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        bcast_rx.bind((BROADCAST, port))
        bcast_rx.settimeout(timeout)
        mcast_rx: socket.socket | None = None
        mcast_why = ""
        try:
            rx = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            rx.bind((MULTICAST_GROUP, port))
            rx.setsockopt(
                socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                socket.inet_aton(MULTICAST_GROUP) + socket.inet_aton(HOST),
            )
            rx.settimeout(timeout)
            mcast_rx = rx
        except OSError as err:
            mcast_why = f"cannot join {MULTICAST_GROUP} on lo: {err}"

        def server() -> dict[str, Any]:
            data, peer = srv.recvfrom(65535)
            if data != UDP_REQUEST:
                raise LabError(f"unexpected request {data!r}")
            srv.sendto(UDP_RESPONSE, peer)
            sizes = [len(srv.recvfrom(65535)[0]) for _ in UDP_SIZES]
            return {"sizes": sizes}

        peer = _serve("udp-server", server)
        cli = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        cli.bind((HOST, 0))
        cli.settimeout(timeout)
        client_addr = cli.getsockname()
        cli.sendto(UDP_REQUEST, (HOST, port))
        answer, _ = cli.recvfrom(65535)
        for n in UDP_SIZES:
            time.sleep(WRITE_GAP)
            cli.sendto(bytes(i & 0xFF for i in range(n)), (HOST, port))
        got = peer.finish(timeout + 1)

        time.sleep(WRITE_GAP)
        cli.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        bcast = b"hello, everyone on lo"
        cli.sendto(bcast, (BROADCAST, port))
        bcast_got = bcast_rx.recvfrom(65535)[0]

        mcast = b"hello, group"
        mcast_sent = False
        if mcast_rx is not None:
            time.sleep(WRITE_GAP)
            try:
                cli.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(HOST))
                cli.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
                cli.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                cli.sendto(mcast, (MULTICAST_GROUP, port))
                mcast_sent = mcast_rx.recvfrom(65535)[0] == mcast
                if not mcast_sent:
                    mcast_why = "the multicast datagram came back changed"
            except OSError as err:
                mcast_why = f"multicast on lo failed: {err}"
    if answer != UDP_RESPONSE or bcast_got != bcast:
        raise LabError("the UDP exchange did not carry the bytes sent")
    sizes = [len(UDP_REQUEST), *UDP_SIZES]
    return {
        "scenario": "udp_basic",
        "proto": "udp",
        "server": {"ip": HOST, "port": port},
        "client": _endpoint(client_addr),
        "datagrams": {"c2s": sizes, "s2c": [len(UDP_RESPONSE)]},
        "bytes": {"c2s": sum(sizes), "s2c": len(UDP_RESPONSE)},
        "boundaries_kept": got["sizes"] == list(UDP_SIZES),
        "broadcast": {"dst": BROADCAST, "len": len(bcast)},
        "multicast": (
            {"dst": MULTICAST_GROUP, "len": len(mcast), "sent": True}
            if mcast_sent else {"dst": MULTICAST_GROUP, "sent": False, "why": mcast_why}
        ),
    }


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True, slots=True)
class _Pki:
    """A throwaway CA, a server leaf for SNI and, if asked for, a client certificate, as PEM."""

    ca_cert: bytes
    leaf_cert: bytes
    leaf_key: bytes  # RSA: PKCS#1 ("RSA PRIVATE KEY"): what Wireshark's RSA key table reads
    client_cert: bytes | None = None
    client_key: bytes | None = None


CLIENT_CN = "handshaker lab client"


def _make_pki(leaf_kind: str = "rsa", client: bool = False) -> _Pki:
    """``leaf_kind``: the server key, ``rsa`` (2048 bits) or ``ec`` (P-256)."""
    # Imported here: only the TLS scenarios need it.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "handshaker lab"),
        x509.NameAttribute(NameOID.COMMON_NAME, "handshaker throwaway CA"),
    ])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(key: Any, cn: str, usage: Any, *, sni: bool, encipherment: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                # key_encipherment: the RSA key exchange encrypts the premaster
                # secret to this key (RFC 5246 §7.4.7.1); an EC key only signs.
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=encipherment, data_encipherment=False,
                    key_agreement=False, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
        )
        if sni:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(SNI)]),
                                            critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM

    def key_pem(key: Any) -> bytes:
        return bytes(key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))

    if leaf_kind == "ec":
        leaf_key: Any = ec.generate_private_key(ec.SECP256R1())
    else:
        leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = issue(leaf_key, SNI, ExtendedKeyUsageOID.SERVER_AUTH, sni=True,
                 encipherment=leaf_kind == "rsa")
    client_cert = client_key = None
    if client:
        ckey = ec.generate_private_key(ec.SECP256R1())
        client_cert = issue(ckey, CLIENT_CN, ExtendedKeyUsageOID.CLIENT_AUTH, sni=False,
                            encipherment=False).public_bytes(pem)
        client_key = key_pem(ckey)
    return _Pki(
        ca_cert=ca.public_bytes(pem),
        leaf_cert=leaf.public_bytes(pem),
        leaf_key=key_pem(leaf_key),
        client_cert=client_cert,
        client_key=client_key,
    )


def _ffdhe2048_pem() -> bytes:
    """RFC 7919's ffdhe2048 group as PKCS#3 DH parameters (PEM), computed from its definition.

    OpenSSL 3 through Python's ``ssl`` picks no DH group by itself: a DHE suite needs
    ``load_dh_params``. The group is a safe prime fixed by a formula (RFC 7919 Appendix A.1):
    p = 2^2048 - 2^1984 + (floor(2^1918 * e) + 560316) * 2^64 - 1, g = 2.
    """
    import base64

    # floor(2^1918 * e) from e = sum 1/k!, with 64 guard bits
    guard = 64
    term = total = 1 << (1918 + guard)
    k = 0
    while term:
        k += 1
        term //= k
        total += term
    p = 2**2048 - 2**1984 + ((total >> guard) + 560316) * 2**64 - 1
    # DHParameter ::= SEQUENCE { prime INTEGER, base INTEGER } (PKCS #3), in DER
    def der(tag: int, body: bytes) -> bytes:
        n = len(body)
        size = bytes([n]) if n < 128 else bytes([0x80 | 2]) + n.to_bytes(2, "big")
        return bytes([tag]) + size + body

    prime = p.to_bytes(257, "big")  # a leading zero byte: the INTEGER stays positive
    body = der(0x30, der(0x02, prime) + der(0x02, b"\x02"))
    text = base64.encodebytes(body).decode("ascii").replace("\n", "")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("-----BEGIN DH PARAMETERS-----\n" + "\n".join(lines) +
            "\n-----END DH PARAMETERS-----\n").encode("ascii")


@dataclass(frozen=True, slots=True)
class _TlsProfile:
    name: str
    version: ssl.TLSVersion
    server_ciphers: str | None  # TLS 1.2 suites the server accepts (None: OpenSSL's default)
    client_ciphers: str | None  # what the client offers for TLS 1.2
    leaf: str = "rsa"  # the server certificate's key: rsa or ec
    connections: int = 1  # each connection after the first resumes the session before it
    client_cert: bool = False  # the server asks for a certificate; the client sends one
    server_group: str | None = None  # the one group the server takes (None: OpenSSL's list)
    dhe: bool = False  # load DH parameters (ffdhe2048) for DHE suites
    trusted: bool = True  # False: the client does not trust the CA and aborts with an alert


# The client offers a browser-like TLS 1.2 list, ECDHE first and plain RSA
# last; the server's list decides which one is taken.
_CLIENT_TLS12 = (
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384"
)
_CLIENT_TLS12_ALL = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:" + _CLIENT_TLS12 + ":DHE-RSA-AES128-GCM-SHA256"
)
_TLS12, _TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
_ECDHE_RSA = "ECDHE-RSA-AES128-GCM-SHA256"
_PROFILES = {
    p.name: p
    for p in (
        _TlsProfile("tls12_rsa", _TLS12, "AES128-GCM-SHA256", _CLIENT_TLS12),
        _TlsProfile("tls12_ecdhe", _TLS12, _ECDHE_RSA, _CLIENT_TLS12),
        _TlsProfile("tls13", _TLS13, None, None),
        _TlsProfile("tls12_dhe", _TLS12, "DHE-RSA-AES128-GCM-SHA256", _CLIENT_TLS12_ALL,
                    dhe=True),
        _TlsProfile("tls12_ecdsa", _TLS12, "ECDHE-ECDSA-AES128-GCM-SHA256", _CLIENT_TLS12_ALL,
                    leaf="ec"),
        _TlsProfile("tls12_client_cert", _TLS12, _ECDHE_RSA, _CLIENT_TLS12, client_cert=True),
        _TlsProfile("tls12_resume", _TLS12, _ECDHE_RSA, _CLIENT_TLS12, connections=2),
        _TlsProfile("tls13_resume", _TLS13, None, None, connections=2),
        _TlsProfile("tls13_client_cert", _TLS13, None, None, client_cert=True),
        # The client's one key share is for X25519 (OpenSSL's first group); a server that
        # takes only P-256 asks for another (RFC 8446 §4.1.4).
        _TlsProfile("tls13_hrr", _TLS13, None, None, server_group="prime256v1"),
        _TlsProfile("tls_alert", _TLS12, _ECDHE_RSA, _CLIENT_TLS12, trusted=False),
    )
}


@contextlib.contextmanager
def _contexts(
    profile: _TlsProfile, pki: _Pki, keylog: Path | None
) -> Iterator[tuple[ssl.SSLContext, ssl.SSLContext]]:
    with tempfile.TemporaryDirectory(prefix="handshaker-lab-") as tmp:
        cert = Path(tmp, "leaf.pem")
        key = Path(tmp, "leaf.key")
        cert.write_bytes(pki.leaf_cert)
        key.write_bytes(pki.leaf_key)
        key.chmod(0o600)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(cert, key)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if profile.trusted:
            client.load_verify_locations(cadata=pki.ca_cert.decode("ascii"))
        for ctx in (server, client):
            ctx.minimum_version = profile.version
            ctx.maximum_version = profile.version
            ctx.set_alpn_protocols(["http/1.1"])
        if profile.server_ciphers:
            server.set_ciphers(profile.server_ciphers)
        if profile.client_ciphers:
            client.set_ciphers(profile.client_ciphers)
        if profile.dhe:
            params = Path(tmp, "dh.pem")
            params.write_bytes(_ffdhe2048_pem())
            server.load_dh_params(str(params))
        if profile.server_group:
            # OpenSSL 3: SSL_CTX_set1_groups with this one group, TLS 1.3 included
            server.set_ecdh_curve(profile.server_group)
        if profile.client_cert and pki.client_cert and pki.client_key:
            ccert, ckey = Path(tmp, "client.pem"), Path(tmp, "client.key")
            ccert.write_bytes(pki.client_cert)
            ckey.write_bytes(pki.client_key)
            ckey.chmod(0o600)
            client.load_cert_chain(ccert, ckey)
            server.verify_mode = ssl.CERT_REQUIRED
            server.load_verify_locations(cadata=pki.ca_cert.decode("ascii"))
        if keylog is not None:
            # Python appends to the key log (record() starts it empty): the scenarios of
            # one capture share it
            client.keylog_filename = str(keylog)
        yield server, client


def _tls_connection(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, lst: socket.socket, port: int,
    timeout: float, session: ssl.SSLSession | None,
) -> tuple[Result, ssl.SSLSession | None]:
    """One TLS connection: request, response, close_notify both ways, then FIN from the
    client. ``session``: resume it. Returns the connection's result and its session."""

    def server() -> dict[str, Any]:
        with _accept(lst, timeout) as raw:
            tls = server_ctx.wrap_socket(raw, server_side=True)
            got = _recv_until(tls, b"\r\n\r\n")
            sizes = _send_parts(tls, RESPONSE_PARTS)
            # The client's close_notify makes recv() return b"" (RFC 8446 §6.1);
            # then answer with our own close_notify.
            rest = _recv_eof(tls)
            peer_cert = tls.getpeercert()
            plain = tls.unwrap()
            # And then the client's FIN on the bare TCP connection.
            tail = _recv_eof(plain)
            time.sleep(CLOSE_PAUSE)
            plain.close()
            return {"read": len(got) + len(rest), "writes": sizes, "after": len(tail),
                    "client_cert": bool(peer_cert)}

    peer = _serve("tls-server", server)
    with _client(timeout) as raw:
        raw.connect((HOST, port))
        client_addr = raw.getsockname()
        tls = client_ctx.wrap_socket(raw, server_hostname=SNI, session=session)
        c_sizes = _send_parts(tls, (REQUEST,))
        got = _recv_exact(tls, len(RESPONSE))
        version = tls.version()
        cipher = tls.cipher()
        alpn = tls.selected_alpn_protocol()
        reused = tls.session_reused
        # TLS 1.3 tickets come after the handshake; they have been read with the response
        new_session = tls.session
        # Sends close_notify and waits for the server's (SSL_shutdown twice).
        plain = tls.unwrap()
        plain.close()
    srv = peer.finish(timeout + 2 * CLOSE_PAUSE + 1)
    if got != RESPONSE or srv["read"] != len(REQUEST) or srv["after"] != 0:
        raise LabError("the TLS exchange did not carry the bytes written")
    return {
        "client": _endpoint(client_addr),
        "writes": {"c2s": c_sizes, "s2c": srv["writes"]},
        "bytes": {"c2s": sum(c_sizes), "s2c": sum(srv["writes"])},
        "first_close": "client",
        "end": "fin",
        "tls": {"version": version, "cipher_suite": cipher[0] if cipher else None,
                "alpn": alpn, "resumed": reused, "client_cert": srv["client_cert"]},
    }, new_session


def _tls_rejected(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, lst: socket.socket, port: int,
    timeout: float,
) -> Result:
    """A handshake the client aborts: it does not trust the server's certificate, sends a
    fatal alert (RFC 5246 §7.2.2) and closes. The result names the alert as the server's
    OpenSSL received it."""

    def server() -> dict[str, Any]:
        with _accept(lst, timeout) as raw:
            try:
                server_ctx.wrap_socket(raw, server_side=True)
            except ssl.SSLError as err:
                return {"reason": err.reason or str(err)}
            raise LabError("the server's handshake succeeded although the client rejects it")

    peer = _serve("tls-server", server)
    with _client(timeout) as raw:
        raw.connect((HOST, port))
        client_addr = raw.getsockname()
        try:
            client_ctx.wrap_socket(raw, server_hostname=SNI)
        except ssl.SSLCertVerificationError as err:
            rejected = err.verify_message
        else:
            raise LabError("the client accepted a certificate it has no CA for")
    srv = peer.finish(timeout + 1)
    # OpenSSL's reason names the alert it received, e.g. TLSV1_ALERT_UNKNOWN_CA
    reason = str(srv["reason"]).lower()
    alert = reason.split("alert_", 1)[1] if "alert_" in reason else reason
    return {
        "client": _endpoint(client_addr),
        "writes": {"c2s": [], "s2c": []},
        "bytes": {"c2s": 0, "s2c": 0},
        "first_close": "client",
        "end": "alert",
        "tls": {"alert": alert, "client_error": rejected},
    }


def _tls(
    profile: _TlsProfile, port: int | None, keylog: Path | None, key_pem: Path | None,
    timeout: float, pki: _Pki | None = None,
) -> Result:
    port = port or pick_port()
    pki = pki or _make_pki(profile.leaf, client=profile.client_cert)
    if key_pem is not None:
        key_pem.write_bytes(pki.leaf_key)

    conns: list[Result] = []
    with _contexts(profile, pki, keylog) as (server_ctx, client_ctx), \
            _listener(port, timeout) as lst:
        if not profile.trusted:
            conns.append(_tls_rejected(server_ctx, client_ctx, lst, port, timeout))
        session = None
        for _ in range(profile.connections if profile.trusted else 0):
            conn, session = _tls_connection(server_ctx, client_ctx, lst, port, timeout,
                                            session)
            conns.append(conn)
    first: dict[str, Any] = conns[0]["tls"]
    if profile.connections > 1 and not all(c["tls"]["resumed"] for c in conns[1:]):
        raise LabError(f"{profile.name}: OpenSSL did not resume the session")
    if profile.client_cert and not first["client_cert"]:
        raise LabError(f"{profile.name}: the server got no client certificate")
    return {
        "scenario": profile.name,
        "proto": "tcp",
        "server": {"ip": HOST, "port": port},
        "connections": conns,
        "tls": {
            "sni": SNI,
            **first,
            "keylog": str(keylog) if keylog is not None else None,
            "server_key": str(key_pem) if key_pem is not None else None,
            **_promises(profile),
        },
    }


def _promises(profile: _TlsProfile) -> dict[str, Any]:
    """What a scenario makes happen beyond the negotiated suite, for tests to check."""
    out: dict[str, Any] = {}
    if profile.dhe:
        out["dh_bits"] = 2048  # ffdhe2048
    if profile.connections > 1:
        # TLS 1.2: Python's ssl keeps session tickets on (RFC 5077); TLS 1.3: a PSK
        out["resumption"] = "ticket" if profile.version == _TLS12 else "psk"
    if profile.server_group:
        out["hello_retry_group"] = profile.server_group
    return out


def tls12_rsa(
    port: int | None = None, *, keylog: Path | None = None, key_pem: Path | None = None,
    timeout: float = TIMEOUT,
) -> Result:
    """TLS 1.2 with TLS_RSA_WITH_AES_128_GCM_SHA256 (0x009c): RSA key exchange.

    ``key_pem`` receives the server's private key, which alone decrypts this
    session: RSA key exchange has no forward secrecy.
    """
    return _tls(_PROFILES["tls12_rsa"], port, keylog, key_pem, timeout)


def tls12_ecdhe(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """TLS 1.2 with TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (0xc02f): ephemeral ECDH."""
    return _tls(_PROFILES["tls12_ecdhe"], port, keylog, None, timeout)


def tls12_dhe(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """TLS 1.2 with TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 (0x009e): ephemeral finite-field
    DH in RFC 7919's ffdhe2048 group, sent in the ServerKeyExchange."""
    return _tls(_PROFILES["tls12_dhe"], port, keylog, None, timeout)


def tls12_ecdsa(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """TLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xc02b): the server's
    certificate holds a P-256 key, which signs the ServerKeyExchange."""
    return _tls(_PROFILES["tls12_ecdsa"], port, keylog, None, timeout)


def tls12_client_cert(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """TLS 1.2 ECDHE where the server sends a CertificateRequest and the client answers
    with its certificate and a CertificateVerify (RFC 5246 §7.4.4, §7.4.6, §7.4.8)."""
    return _tls(_PROFILES["tls12_client_cert"], port, keylog, None, timeout)


def tls12_resume(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """Two TLS 1.2 ECDHE connections; the second resumes the first's session with the
    ticket it got (RFC 5077): an abbreviated handshake, no Certificate, no key exchange."""
    return _tls(_PROFILES["tls12_resume"], port, keylog, None, timeout)


def tls13(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """TLS 1.3 with OpenSSL's defaults (TLS_AES_256_GCM_SHA384, X25519)."""
    return _tls(_PROFILES["tls13"], port, keylog, None, timeout)


def tls13_resume(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """Two TLS 1.3 connections; the second resumes with the first's ticket as a PSK, with
    a fresh X25519 exchange beside it (psk_dhe_ke, RFC 8446 §4.2.9)."""
    return _tls(_PROFILES["tls13_resume"], port, keylog, None, timeout)


def tls13_client_cert(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """TLS 1.3 where the server's encrypted flight holds a CertificateRequest and the
    client's holds its Certificate and CertificateVerify before its Finished (RFC 8446
    §4.3.2, §4.4): all of it encrypted, only the record sizes show without keys."""
    return _tls(_PROFILES["tls13_client_cert"], port, keylog, None, timeout)


def tls13_hrr(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """TLS 1.3 where the server takes only P-256 and the client's key share is X25519:
    a HelloRetryRequest, a second ClientHello, then the handshake (RFC 8446 §4.1.4)."""
    return _tls(_PROFILES["tls13_hrr"], port, keylog, None, timeout)


def tls_alert(
    port: int | None = None, *, keylog: Path | None = None, timeout: float = TIMEOUT
) -> Result:
    """A failed TLS 1.2 handshake: the client does not trust the server's CA and ends it
    with a fatal alert (unknown_ca), in the clear before any ChangeCipherSpec."""
    return _tls(_PROFILES["tls_alert"], port, keylog, None, timeout)


def compare_rsa_ecdhe(
    port: int | None = None, *, keylog: Path | None = None, key_pem: Path | None = None,
    timeout: float = TIMEOUT,
) -> Result:
    """The same server, with the same certificate and RSA key, twice: once with RSA key
    exchange (TLS_RSA_WITH_AES_128_GCM_SHA256), once with ECDHE
    (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256). ``key_pem`` receives that one key: it opens
    the first session and not the second (forward secrecy)."""
    port = port or pick_port()
    pki = _make_pki("rsa")
    parts = [_tls(_PROFILES[name], port, keylog, key_pem, timeout, pki)
             for name in ("tls12_rsa", "tls12_ecdhe")]
    return {
        "scenario": "compare_rsa_ecdhe",
        "proto": "tcp",
        "server": {"ip": HOST, "port": port},
        "connections": [c for p in parts for c in p["connections"]],
        "tls": {**parts[0]["tls"], "cipher_suites": [p["tls"]["cipher_suite"] for p in parts]},
    }


# --------------------------------------------------------------------------- registry, capture


def keylog_path(capture: Path) -> Path:
    """Where a TLS scenario writes its key log: beside the capture, suffix .keylog."""
    return capture.with_suffix(".keylog")


def key_pem_path(capture: Path) -> Path:
    """Where tls12_rsa writes the server's private key: beside the capture, .key.pem."""
    return capture.with_suffix(".key.pem")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named scenario: ``run(port, capture_path, timeout)`` makes the traffic."""

    name: str
    summary: str
    run: Callable[[int, Path, float], Result]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("tcp_basic", "three-way handshake, 3+2 small writes, client closes first",
                 lambda p, c, t: tcp_basic(p, timeout=t)),
        Scenario("tcp_short", "one short request/response connection",
                 lambda p, c, t: tcp_short(p, timeout=t)),
        Scenario("tcp_many", "4 short connections in a row: random ISNs side by side",
                 lambda p, c, t: tcp_many(p, timeout=t)),
        Scenario("tcp_server_closes", "the server closes first",
                 lambda p, c, t: tcp_server_closes(p, timeout=t)),
        Scenario("tcp_refused", "SYN to a closed port: RST/ACK",
                 lambda p, c, t: tcp_refused(p, timeout=t)),
        Scenario("tcp_abort", "some data, then the client aborts with RST (SO_LINGER 0)",
                 lambda p, c, t: tcp_abort(p, timeout=t)),
        Scenario("tcp_half_close", "the client half-closes; the server still answers, "
                 "then closes", lambda p, c, t: tcp_half_close(p, timeout=t)),
        Scenario("tcp_simultaneous_close", "both sides close at the same instant: FINs "
                 "cross", lambda p, c, t: tcp_simultaneous_close(p, timeout=t)),
        Scenario("tcp_syn_retry", "a SYN dropped (full accept queue), sent again after 1 s",
                 lambda p, c, t: tcp_syn_retry(p, timeout=t)),
        Scenario("udp_basic", "UDP request/response, sized datagrams, broadcast, multicast",
                 lambda p, c, t: udp_basic(p, timeout=t)),
        Scenario("tls12_rsa", "TLS 1.2, RSA key exchange (AES128-GCM-SHA256)",
                 lambda p, c, t: tls12_rsa(p, keylog=keylog_path(c), key_pem=key_pem_path(c),
                                           timeout=t)),
        Scenario("tls12_ecdhe", "TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256",
                 lambda p, c, t: tls12_ecdhe(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls13", "TLS 1.3",
                 lambda p, c, t: tls13(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls12_dhe", "TLS 1.2, DHE-RSA-AES128-GCM-SHA256 in ffdhe2048",
                 lambda p, c, t: tls12_dhe(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls12_ecdsa", "TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256 (a P-256 certificate)",
                 lambda p, c, t: tls12_ecdsa(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls12_client_cert", "TLS 1.2 ECDHE; the server asks for a client certificate",
                 lambda p, c, t: tls12_client_cert(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls12_resume", "two TLS 1.2 connections; the second resumes by ticket",
                 lambda p, c, t: tls12_resume(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls13_resume", "two TLS 1.3 connections; the second resumes with a PSK",
                 lambda p, c, t: tls13_resume(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls13_client_cert", "TLS 1.3; the server asks for a client certificate",
                 lambda p, c, t: tls13_client_cert(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls13_hrr", "TLS 1.3 with a HelloRetryRequest (the server takes P-256 only)",
                 lambda p, c, t: tls13_hrr(p, keylog=keylog_path(c), timeout=t)),
        Scenario("tls_alert", "a failed handshake: the client rejects the certificate (alert)",
                 lambda p, c, t: tls_alert(p, keylog=keylog_path(c), timeout=t)),
        Scenario("compare_rsa_ecdhe", "one server, one RSA key: RSA key exchange, then ECDHE",
                 lambda p, c, t: compare_rsa_ecdhe(p, keylog=keylog_path(c),
                                                   key_pem=key_pem_path(c), timeout=t)),
    )
}


def record(capture: Path | str, names: list[str], *, timeout: float = TIMEOUT) -> list[Result]:
    """Run the named scenarios in order while capturing lo into ``capture``.

    Each scenario gets its own port; the capture is filtered to those ports.
    Returns the scenarios' results, each with ``"capture"`` added.
    """
    path = Path(capture)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise LabError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    ports = [pick_port() for _ in names]
    bpf = " or ".join(f"port {p}" for p in ports)
    keylog_path(path).unlink(missing_ok=True)  # the TLS scenarios append to it
    results = []
    with capture_loopback(path, bpf):
        for name, port in zip(names, ports, strict=True):
            results.append(SCENARIOS[name].run(port, path, timeout))
    for res in results:
        res["capture"] = str(path)
    return results
