"""handshaker: what really happens on the wire."""
