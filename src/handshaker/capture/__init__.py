"""Reading capture files: pcap and pcapng, gzip-compressed or not, from a file or stdin."""

from .model import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NAMES,
    LINKTYPE_NULL,
    LINKTYPE_PPP,
    LINKTYPE_RAW,
    CaptureInfo,
    DecryptionSecrets,
    Frame,
    FrameBatch,
    Interface,
)
from .reader import Capture, open_capture

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_NAMES",
    "LINKTYPE_NULL",
    "LINKTYPE_PPP",
    "LINKTYPE_RAW",
    "Capture",
    "CaptureInfo",
    "DecryptionSecrets",
    "Frame",
    "FrameBatch",
    "Interface",
    "open_capture",
]
