"""A moto server in a process of its own (the bench's local AWS): prints its URL, stops when stdin closes."""

import sys

from local_stack.aws import MotoServer

server = MotoServer().start()
print(server.url, flush=True)
sys.stdin.read()
server.stop()
