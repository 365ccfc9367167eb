"""The observer state table (RFC 9293): every (state, event) pair, and random walks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handshaker.flow.state import SYNCHRONIZED, TRANSITIONS, Event, TcpState, step


def test_every_pair_is_defined_or_refused_without_error() -> None:
    for state in TcpState:
        for event in Event:
            nxt, ok = step(state, event)
            assert ok == ((state, event) in TRANSITIONS)
            assert nxt is (TRANSITIONS[(state, event)] if ok else state)


def test_textbook_paths() -> None:
    # three-way handshake, client side and server side
    c, s = TcpState.CLOSED, TcpState.CLOSED
    c, _ = step(c, Event.SND_SYN)
    s, _ = step(s, Event.RCV_SYN)
    s, _ = step(s, Event.SND_SYNACK)
    c, _ = step(c, Event.RCV_SYNACK)
    s, _ = step(s, Event.RCV_ACK)
    assert (c, s) == (TcpState.ESTABLISHED, TcpState.ESTABLISHED)
    # four-way close: the client closes first and ends in TIME_WAIT
    c, _ = step(c, Event.SND_FIN)
    s, _ = step(s, Event.RCV_FIN)
    c, _ = step(c, Event.RCV_ACK)
    s, _ = step(s, Event.SND_FIN)
    c, _ = step(c, Event.RCV_FIN)
    s, _ = step(s, Event.RCV_ACK)
    assert (c, s) == (TcpState.TIME_WAIT, TcpState.CLOSED)


def test_simultaneous_close_goes_through_closing() -> None:
    a = TcpState.ESTABLISHED
    a, _ = step(a, Event.SND_FIN)
    a, _ = step(a, Event.RCV_FIN)
    assert a is TcpState.CLOSING
    a, _ = step(a, Event.RCV_ACK)
    assert a is TcpState.TIME_WAIT


def test_rst_closes_every_open_state() -> None:
    for state in TcpState:
        if state is TcpState.CLOSED:
            continue
        assert step(state, Event.RCV_RST)[0] is TcpState.CLOSED
        assert step(state, Event.SND_RST)[0] is TcpState.CLOSED


@given(st.lists(st.sampled_from(list(Event)), max_size=60))
def test_random_walks_stay_in_the_table(events: list[Event]) -> None:
    state = TcpState.CLOSED
    for ev in events:
        nxt, ok = step(state, ev)
        assert isinstance(nxt, TcpState)
        if not ok:
            assert nxt is state
        state = nxt


@given(st.lists(st.sampled_from([Event.SND_ACK, Event.RCV_ACK]), max_size=20))
def test_pure_acks_never_change_a_synchronized_state(events: list[Event]) -> None:
    for start in SYNCHRONIZED:
        if start in (TcpState.FIN_WAIT_1, TcpState.CLOSING, TcpState.LAST_ACK):
            continue  # an ACK of the FIN moves these on
        state = start
        for ev in events:
            state, _ = step(state, ev)
        assert state is start
