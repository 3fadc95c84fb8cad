"""Solution to exercise 14.1 (an asyncio chat handler) in 14_asyncio_and_signals.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

CHAT = set()


async def chat(reader, writer):
    CHAT.add(writer)
    try:
        while (payload := await read_frame(reader)) is not None:
            for other in list(CHAT):
                if other is not writer:
                    try:
                        other.write(frame(payload))
                        await other.drain()
                    except ConnectionError:
                        pass  # that one is leaving; its own handler cleans up
    except ConnectionError:
        pass  # a reset: the client vanished
    finally:
        CHAT.discard(writer)
        writer.close()
