"""The Gateway emulator in a process of its own, for app ``argv[1]`` and client ``argv[2]``: prints its API URL and
root URL, stops when stdin closes. (Its handler runs without Nagle's algorithm.)"""

import sys

from hdr_ingest.destinations.hdruk import SchemaPack
from local_stack.gateway_emulator import App, GatewayEmulator

emulator = GatewayEmulator(apps=[App(sys.argv[1], sys.argv[2])], validator=SchemaPack.load())
print(emulator.start(), emulator.root_url, flush=True)
sys.stdin.read()
emulator.stop()
