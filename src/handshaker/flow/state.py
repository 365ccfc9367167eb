"""The observer's TCP state machine (RFC 9293 §3.3.2), as a table.

A passive observer sees segments, not system calls, so each endpoint's state
moves on what that endpoint *sends* and what it *receives*. The events are::

    SND_SYN      the endpoint sent a SYN (no ACK)        (active open)
    RCV_SYN      it received a SYN (no ACK)              (passive open, or simultaneous)
    SND_SYNACK   it sent SYN+ACK
    RCV_SYNACK   it received SYN+ACK
    SND_ACK      it sent a segment acknowledging everything seen so far
    RCV_ACK      it received an ACK that covers its SYN or its FIN
    SND_FIN      it sent a FIN
    RCV_FIN      it received a FIN
    SND_RST      it sent a RST
    RCV_RST      it received a RST

RFC 9293 Figure 5, as an observer reads it (transitions kept to the ones a
segment can show; LISTEN is entered implicitly when a SYN arrives)::

                              +---------+ ---------\\      active OPEN
                              |  CLOSED |            \\    -----------
                              +---------+<---------\\   \\   create TCB
                                |     ^              \\   \\  snd SYN
                   passive OPEN |     |   CLOSE        \\   \\
                   ------------ |     | ----------       \\   \\
                    create TCB  |     | delete TCB         \\   \\
                                V     |                      \\   \\
            rcv RST (note 1)  +---------+            CLOSE    |    \\
         -------------------->|  LISTEN |          ---------- |     |
        /                     +---------+          delete TCB |     |
       /           rcv SYN      |     |     SEND              |     |
      /           -----------   |     |    -------            |     V
  +--------+      snd SYN,ACK  /       \\   snd SYN          +--------+
  |        |<-----------------           ------------------>|        |
  |  SYN   |                    rcv SYN                     |  SYN   |
  |  RCVD  |<-----------------------------------------------|  SENT  |
  |        |                  snd SYN,ACK                   |        |
  |        |------------------           -------------------|        |
  +--------+   rcv ACK of SYN  \\       /  rcv SYN,ACK       +--------+
     |         --------------   |     |   -----------
     |                x         |     |     snd ACK
     |                          V     V
     |  CLOSE                 +---------+
     | -------                |  ESTAB  |
     | snd FIN                +---------+
     |                 CLOSE    |     |    rcv FIN
     V                -------   |     |    -------
  +---------+         snd FIN  /       \\   snd ACK         +---------+
  |  FIN    |<----------------          ------------------>|  CLOSE  |
  | WAIT-1  |------------------                            |   WAIT  |
  +---------+          rcv FIN  \\                          +---------+
    | rcv ACK of FIN   -------   |                          CLOSE  |
    | --------------   snd ACK   |                         ------- |
    V        x                   V                         snd FIN V
  +---------+               +---------+                    +---------+
  |FINWAIT-2|               | CLOSING |                    | LAST-ACK|
  +---------+               +---------+                    +---------+
    |              rcv ACK of FIN |                 rcv ACK of FIN |
    |  rcv FIN     -------------- |    Timeout=2MSL -------------- |
    |  -------            x       V    ------------        x       V
     \\ snd ACK              +---------+delete TCB          +---------+
       -------------------->|TIME-WAIT|------------------->| CLOSED  |
                            +---------+                    +---------+

A transition that is not in the table leaves the state unchanged and is
reported by :func:`step` as not allowed; the caller turns that into an
anomaly, never an exception (STYLE.md §7).
"""

from __future__ import annotations

from enum import Enum


class TcpState(str, Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"


class Event(str, Enum):
    SND_SYN = "SND_SYN"
    RCV_SYN = "RCV_SYN"
    SND_SYNACK = "SND_SYNACK"
    RCV_SYNACK = "RCV_SYNACK"
    SND_ACK = "SND_ACK"
    RCV_ACK = "RCV_ACK"
    SND_FIN = "SND_FIN"
    RCV_FIN = "RCV_FIN"
    SND_RST = "SND_RST"
    RCV_RST = "RCV_RST"


S = TcpState
E = Event

#: (state, event) -> next state. Anything absent is "not allowed here".
TRANSITIONS: dict[tuple[TcpState, Event], TcpState] = {
    # opening
    (S.CLOSED, E.SND_SYN): S.SYN_SENT,
    (S.CLOSED, E.RCV_SYN): S.LISTEN,  # the observer learns of the listener from the SYN
    (S.LISTEN, E.SND_SYNACK): S.SYN_RECEIVED,
    (S.LISTEN, E.RCV_SYN): S.LISTEN,  # retransmitted SYN
    (S.LISTEN, E.SND_RST): S.CLOSED,  # port closed: RST in answer to SYN
    (S.SYN_SENT, E.SND_SYN): S.SYN_SENT,  # SYN retransmission
    (S.SYN_SENT, E.RCV_SYNACK): S.ESTABLISHED,  # RFC 9293 §3.10.7.3: ACK it, ESTABLISHED
    (S.SYN_SENT, E.RCV_SYN): S.SYN_RECEIVED,  # simultaneous open
    (S.SYN_SENT, E.SND_SYNACK): S.SYN_RECEIVED,  # simultaneous open: answer the peer's SYN
    (S.SYN_SENT, E.RCV_RST): S.CLOSED,  # refused
    (S.SYN_RECEIVED, E.SND_SYNACK): S.SYN_RECEIVED,  # SYN+ACK retransmission
    (S.SYN_RECEIVED, E.RCV_SYN): S.SYN_RECEIVED,  # retransmitted SYN
    (S.SYN_RECEIVED, E.RCV_SYNACK): S.ESTABLISHED,  # simultaneous open completes
    (S.SYN_RECEIVED, E.RCV_ACK): S.ESTABLISHED,
    (S.SYN_RECEIVED, E.SND_FIN): S.FIN_WAIT_1,
    (S.SYN_RECEIVED, E.RCV_FIN): S.CLOSE_WAIT,  # the FIN carries the ACK of our SYN
    (S.ESTABLISHED, E.SND_SYN): S.ESTABLISHED,  # late retransmission: stays
    (S.ESTABLISHED, E.RCV_SYNACK): S.ESTABLISHED,  # retransmitted SYN+ACK
    (S.ESTABLISHED, E.SND_SYNACK): S.ESTABLISHED,
    (S.ESTABLISHED, E.RCV_SYN): S.ESTABLISHED,
    # closing (RFC 9293 §3.6)
    (S.ESTABLISHED, E.SND_FIN): S.FIN_WAIT_1,
    (S.ESTABLISHED, E.RCV_FIN): S.CLOSE_WAIT,
    (S.FIN_WAIT_1, E.RCV_ACK): S.FIN_WAIT_2,
    (S.FIN_WAIT_1, E.RCV_FIN): S.CLOSING,  # simultaneous close
    (S.FIN_WAIT_1, E.SND_FIN): S.FIN_WAIT_1,  # FIN retransmission
    (S.FIN_WAIT_2, E.RCV_FIN): S.TIME_WAIT,
    (S.CLOSING, E.RCV_ACK): S.TIME_WAIT,
    (S.CLOSE_WAIT, E.SND_FIN): S.LAST_ACK,
    (S.CLOSE_WAIT, E.RCV_FIN): S.CLOSE_WAIT,  # FIN retransmission
    (S.LAST_ACK, E.RCV_ACK): S.CLOSED,
    (S.LAST_ACK, E.SND_FIN): S.LAST_ACK,  # FIN retransmission
    (S.LAST_ACK, E.RCV_FIN): S.LAST_ACK,
    (S.TIME_WAIT, E.RCV_FIN): S.TIME_WAIT,  # retransmitted FIN: ACK it again
    (S.CLOSING, E.RCV_FIN): S.CLOSING,
    (S.FIN_WAIT_2, E.SND_FIN): S.FIN_WAIT_2,
}

# A RST moves any synchronized or half-open state to CLOSED (RFC 9293 §3.10.7.4);
# SND_ACK never changes a state by itself (it is in the table only for clarity of
# the events an observer sees).
for _state in TcpState:
    if _state is not S.CLOSED:
        TRANSITIONS.setdefault((_state, E.RCV_RST), S.CLOSED)
        TRANSITIONS.setdefault((_state, E.SND_RST), S.CLOSED)
    TRANSITIONS.setdefault((_state, E.SND_ACK), _state)
    TRANSITIONS.setdefault((_state, E.RCV_ACK), _state)
del _state

#: the states an endpoint is in while its side of the connection is synchronized
SYNCHRONIZED = frozenset(
    {S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSE_WAIT, S.CLOSING, S.LAST_ACK, S.TIME_WAIT}
)


def step(state: TcpState, event: Event) -> tuple[TcpState, bool]:
    """Apply ``event`` to ``state``: (next state, whether the table allows it)."""
    nxt = TRANSITIONS.get((state, event))
    if nxt is None:
        return state, False
    return nxt, True
