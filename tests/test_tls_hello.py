"""The lean hello readers (tls/hello.py) agree with the full parser on every corpus hello."""

from __future__ import annotations

import random

import pytest
from conftest import CORPUS, corpus_captures, require
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tls_corpus import ours

from handshaker.tls import extensions as ext
from handshaker.tls import hello
from handshaker.tls import messages as msg
from handshaker.tls.fingerprints import ja3, ja3s, ja4
from handshaker.tls.hello import (
    ClientHelloFacts,
    ServerHelloFacts,
    client_hello_facts,
    ecdhe_named_group,
    server_hello_facts,
)

TLS_CAPTURES = [str(p.relative_to(CORPUS)) for p in corpus_captures()
                if any(k in str(p) for k in ("tls", "ssl", "https", "ja4", "ssldump", "scapy",
                                             "lekensteyn"))]


def _hellos(rel: str) -> list[tuple[int, bytes, object]]:
    out = []
    for r in ours(rel).values():
        for m in r.messages:
            item = m.item
            if getattr(item, "msg_type", None) in (msg.CLIENT_HELLO, msg.SERVER_HELLO) \
                    and isinstance(m.msg, (msg.ClientHello, msg.ServerHello)):  # not SSLv2
                out.append((item.msg_type, item.body, m.msg))
    return out


@pytest.mark.parametrize("rel", TLS_CAPTURES)
def test_lean_facts_equal_the_full_parser(rel: str) -> None:
    for msg_type, body, full in _hellos(rel):
        if msg_type == msg.CLIENT_HELLO:
            assert isinstance(full, msg.ClientHello)
            f = client_hello_facts(body)
            assert f is not None
            assert f.cipher_suites == list(full.cipher_suites)
            assert f.extension_types == [e.extension_type for e in full.extensions or ()]
            assert f.ja3() == ja3(full)
            assert f.ja4() == ja4(full)
            sni = full.find(ext.SERVER_NAME)
            if sni is not None and isinstance(sni.value, ext.ServerNameList):
                assert f.sni == sni.value.server_name_list[0].host_name.decode("ascii",
                                                                                "replace")
            # the fallback path (facts made from the full parse) gives the same facts
            assert ClientHelloFacts.from_message(full) == f
            assert ClientHelloFacts.from_message(full).offer() is f.offer()
        else:
            assert isinstance(full, msg.ServerHello)
            f2 = server_hello_facts(body)
            if full.legacy_version > 0x0304:
                assert f2 is None  # drafts: the full parser's business
                continue
            assert f2 is not None
            assert f2.cipher_suite == full.cipher_suite
            assert f2.hello_retry == full.is_hello_retry_request
            assert (f2.selected_version or f2.legacy_version) == full.selected_version
            assert f2.ja3s() == ja3s(full)
            assert f2.fingerprint() == (f2.ja3s_string(), f2.ja3s())
            back = ServerHelloFacts.from_message(full)
            assert back.version == f2.version
            assert (back.key_share_group, back.alpn, back.pre_shared_key, back.session_id) \
                == (f2.key_share_group, f2.alpn, f2.pre_shared_key, f2.session_id)


def test_garbage_gives_none_not_an_exception() -> None:
    rnd = random.Random(7)
    for _ in range(3000):
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 120)))
        client_hello_facts(data)
        server_hello_facts(data)


def _ske_bodies() -> list[bytes]:
    """Every ServerKeyExchange body of the corpus's TLS captures."""
    out = []
    for rel in TLS_CAPTURES:
        for r in ours(rel).values():
            for m in r.messages:
                if getattr(m.item, "msg_type", None) == msg.SERVER_KEY_EXCHANGE:
                    out.append(m.item.body)
    return out


def _full_group(body: bytes, with_algorithm: bool) -> int | None:
    from handshaker.tls.buffer import Buffer

    try:
        m = msg.pull_server_key_exchange(Buffer(body, complete=True), kx="ecdhe",
                                         version=msg.TLS12 if with_algorithm else 0x0302)
    except msg.MalformedError:
        return None
    return getattr(m.params, "named_group", None)


def test_lean_ske_group_equals_the_full_parser() -> None:
    """Where the lean ServerKeyExchange reader gives a group, the full parser gives the
    same; on the corpus's bodies, on each of them cut or grown by a byte, and on
    noise."""
    import random

    bodies = _ske_bodies()
    assert len(bodies) >= 10
    rnd = random.Random(11)
    noise = [bytes([3, 0, 29, 32]) + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 90)))
             for _ in range(3000)]
    for body in bodies + [b[:-1] for b in bodies] + [b + b"\0" for b in bodies] + noise:
        for with_algorithm in (True, False):
            lean = ecdhe_named_group(body, with_algorithm)
            if lean is not None:
                assert _full_group(body, with_algorithm) == lean, body.hex()
    # (and the corpus's ECDHE bodies are read lean)
    assert sum(ecdhe_named_group(b, True) is not None for b in bodies) >= 20


def _corpus_hello_bodies() -> list[bytes]:
    return [body for rel in TLS_CAPTURES for _, body, _ in _hellos(rel)]


def _variants(body: bytes, rnd: random.Random) -> list[bytes]:
    """A hello body cut, grown, and with bytes changed: where a reader gives up or not."""
    out = [body, body[:-1], body + b"\0", body[: rnd.randrange(len(body) + 1)]]
    for _ in range(6):
        b = bytearray(body)
        for _ in range(rnd.randint(1, 3)):
            if b:
                b[rnd.randrange(len(b))] = rnd.getrandbits(8)
        out.append(bytes(b))
    return out


def test_the_compiled_readers_equal_their_python_twins() -> None:
    """tls/_hello.c against read_client_hello and read_server_hello: the same facts, or
    both give up, on every corpus hello, each cut, grown and with bytes changed."""
    require(hello._compiled is not None, "the compiled hello readers (tls/_hello.c) were not built")
    rnd = random.Random(5)
    bodies = _corpus_hello_bodies()
    assert len(bodies) >= 100
    given_up = 0
    for body in bodies:
        for v in _variants(body, rnd):
            c, s = hello.read_client_hello(v), hello.read_server_hello(v)
            assert client_hello_facts(v) == c, v.hex()
            assert server_hello_facts(v) == s, v.hex()
            given_up += c is None
    assert given_up > 100  # (the variants reach the giving up)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.binary(min_size=1, max_size=40))
def test_the_compiled_readers_equal_their_twins_on_noise(head: bytes, ext_data: bytes) -> None:
    """The same on noise, and on noise behind a well-formed start with one extension of
    each kind that is read (so that the extension walk is reached)."""
    require(hello._compiled is not None, "the compiled hello readers (tls/_hello.c) were not built")
    # version, random, no session id, then one suite and no compression (client), or the
    # suite and compression method chosen (server)
    client = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    server = b"\x03\x03" + bytes(32) + b"\x00" + b"\x13\x01" + b"\x00"
    assert hello.read_client_hello(client + b"\x00\x00") is not None
    assert hello.read_server_hello(server + b"\x00\x00") is not None
    for et in (0, 10, 11, 13, 16, 35, 41, 43, 51):
        extension = et.to_bytes(2, "big") + len(ext_data).to_bytes(2, "big") + ext_data
        block = len(extension).to_bytes(2, "big") + extension
        for body in (head, client + block, server + block):
            assert client_hello_facts(body) == hello.read_client_hello(body)
            assert server_hello_facts(body) == hello.read_server_hello(body)
