from handshaker.cli import run

run()
