"""handshaker: what really happens on the wire when connections are set up and torn down.

The library surface::

    import handshaker

    with handshaker.open_capture("trace.pcapng") as cap:   # frames, batches, diagnostics
        ...
    analysis = handshaker.analyze("trace.pcapng", keep_tcp=lambda n: n == 0)
    analysis.connections          # TCP and UDP conversations in order of first frame
    handshaker.build_ladder(analysis.kept[0], analysis.tcp[0])   # one connection's ladder
"""

from typing import TYPE_CHECKING, Any

from handshaker.analysis import Analysis, analyze
from handshaker.capture import Capture, Frame, open_capture
from handshaker.errors import CaptureError, Diagnostic, HandshakerError
from handshaker.flow.tcp import TcpSummary
from handshaker.flow.udp import UdpConversation

if TYPE_CHECKING:
    from handshaker.explain.ladder import Ladder, Step, build_ladder

# the ladder is the library's, not analyze's: imported when first asked for (5 ms)
_LAZY = {"Ladder", "Step", "build_ladder"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from handshaker.explain import ladder

        return getattr(ladder, name)
    raise AttributeError(f"module 'handshaker' has no attribute {name!r}")


__all__ = [
    "Analysis",
    "Capture",
    "CaptureError",
    "Diagnostic",
    "Frame",
    "HandshakerError",
    "Ladder",
    "Step",
    "TcpSummary",
    "UdpConversation",
    "analyze",
    "build_ladder",
    "open_capture",
]
