"""TLS over a TCP stream: records, handshake messages, sessions, certificates.

Sans-I/O: bytes in, frozen values out (DESIGN.md). Key files are the only
files this package may open (tls/keys.py, a later issue).
"""
