"""Solution to exercise 02.2 (a decoder of your own) in 02_framing.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

class MyDecoder:
    def __init__(self):
        self.buffer = b""

    def feed(self, data: bytes) -> list:
        self.buffer += data
        payloads = []
        while len(self.buffer) >= 4:
            (length,) = struct.unpack(">I", self.buffer[:4])
            if len(self.buffer) < 4 + length:
                break
            payloads.append(self.buffer[4 : 4 + length])
            self.buffer = self.buffer[4 + length :]
        return payloads
