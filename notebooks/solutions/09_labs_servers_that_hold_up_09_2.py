"""Solution to exercise 09.2 (a heartbeat that notices a vanished peer) in 09_labs_servers_that_hold_up.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

class Liveness:
    def __init__(self, ping_after, give_up_after, clock=time.monotonic):
        self.ping_after, self.give_up_after, self.clock = ping_after, give_up_after, clock
        self.last_heard = {}  # peer -> when it was last heard
        self.pinged = set()  # peers pinged since they were last heard

    def heard(self, peer):
        self.last_heard[peer] = self.clock()
        self.pinged.discard(peer)

    def due(self):
        now, ping, drop = self.clock(), [], []
        for peer, heard_at in list(self.last_heard.items()):
            silence = now - heard_at
            if silence >= self.give_up_after:
                drop.append(peer)
                self.forget(peer)
            elif silence >= self.ping_after and peer not in self.pinged:
                ping.append(peer)
                self.pinged.add(peer)
        return ping, drop

    def forget(self, peer):
        self.last_heard.pop(peer, None)
        self.pinged.discard(peer)
