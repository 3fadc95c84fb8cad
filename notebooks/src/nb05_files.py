"""Notebook 05: sending a file in chunks with a SHA-256 checksum (seed 002)."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("05_files.ipynb", "Sending a file in chunks, with a checksum")
    nb.md(
        """
        # 05 · Sending a file in chunks, with a checksum

        Seed 002's chat also sends files. A file can be far bigger than one message, and bigger than memory, so
        it travels in **chunks**. How does the receiver know the file arrived intact? The sender computes a
        **SHA-256 checksum** (a 64-character fingerprint of the contents) and sends it first; the receiver
        computes its own while writing, and keeps the file only if the two match.
        """
    )
    nb.step(
        """
        ## Settings and a file to send

        A scratch folder (deleted at the end) holds a 200 KB file of random bytes. The random generator is
        seeded, so the file is the same on every run.
        """,
        """
        import hashlib
        import json
        import os
        import random
        import socket
        import tempfile
        import threading
        from pathlib import Path

        from lanchat.wire import FrameDecoder, encode_json, frame

        HOST = "127.0.0.1"
        PORT = 0  # any free port: the servers in this notebook are only reached from inside it
        TIMEOUT = 10.0
        CHUNK = 16 * 1024  # bytes per chunk in our toy

        workdir = tempfile.TemporaryDirectory(prefix="lanchat-nb05-")
        WORK = Path(workdir.name)
        (WORK / "outbox").mkdir()
        (WORK / "inbox").mkdir()
        source = WORK / "outbox" / "holiday photo.jpg"
        source.write_bytes(random.Random(2).randbytes(200_000))
        print(source.name, source.stat().st_size, "bytes")
        """,
    )
    nb.step(
        """
        ## Step 1: the checksum

        `hashlib.sha256` turns any amount of data into 32 bytes, shown as 64 hex characters. Change a single
        bit of the data and the checksum changes completely, so matching checksums mean (for all practical
        purposes) identical files. It can be computed **piece by piece** with `update`, so the file never has
        to be in memory at once.
        """,
        """
        def file_sha256(path):
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
            return digest.hexdigest()

        checksum = file_sha256(source)
        print("sha256:", checksum)
        flipped = bytearray(source.read_bytes())
        flipped[1000] ^= 1  # one bit different
        print("one bit changed:", hashlib.sha256(flipped).hexdigest())
        """,
    )
    nb.step(
        """
        ## Step 2: the plan: a header, then the chunks

        First a small JSON header says what is coming: the name, the size and the checksum. Then the file
        follows in chunks, each in its own length-prefixed frame (notebook 02), so the receiver always knows
        where a chunk ends. How many chunks? The size divided by the chunk size, rounded up.
        lanchat's `lanchat.files.chunk_plan` gives the same (offset, length) plan.
        """,
        """
        from lanchat.files import chunk_count, chunk_plan

        size = source.stat().st_size
        our_plan = [(offset, min(CHUNK, size - offset)) for offset in range(0, size, CHUNK)]
        assert our_plan == list(chunk_plan(size, CHUNK))
        print(f"{size} bytes in {len(our_plan)} chunks (lanchat agrees: {chunk_count(size, CHUNK)});",
              "the last one is", our_plan[-1][1], "bytes")
        """,
    )
    nb.step(
        """
        ## Step 3: the sender

        The sender reads the file one chunk at a time and sends each chunk as a frame. It runs in a background
        thread: the "other computer".
        """,
        """
        def send_file(sock, path, checksum):
            header = {"name": path.name, "size": path.stat().st_size, "sha256": checksum}
            sock.sendall(encode_json(header))
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    sock.sendall(frame(chunk))
        """,
    )
    nb.step(
        """
        ## Step 4: a safe name

        The name comes from the other computer, so it cannot be trusted: a name like `../../.bashrc` would write
        outside the inbox. Keep only the last part of the path. lanchat's `safe_name` goes further (control
        characters, names Windows forbids, over-long names).
        """,
        """
        from lanchat.files import safe_name


        def toy_safe_name(offered):
            name = offered.replace("\\\\", "/").rsplit("/", 1)[-1].strip(". ")
            return name or "file"

        for offered in ["holiday photo.jpg", "../../.bashrc", "C:\\\\Windows\\\\evil.exe", "..", "con.txt"]:
            print(f"{offered!r:26} toy: {toy_safe_name(offered)!r:18} lanchat: {safe_name(offered)!r}")
        """,
    )
    nb.step(
        """
        ## Step 5: the receiver

        It reads the header, then writes chunks into a `.part` file while hashing them, until `size` bytes
        have arrived. Only if the checksum matches is the `.part` file renamed to its real name; otherwise it
        is deleted and the transfer reported as failed.
        """,
        """
        def read_frame(sock, decoder, pending):
            # the next whole frame, keeping any extra frames that arrived with it
            while not pending:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("the sender closed the connection mid-transfer")
                pending += decoder.feed(data)
            return pending.pop(0)

        def receive_file(sock, folder):
            decoder, pending = FrameDecoder(), []
            header = json.loads(read_frame(sock, decoder, pending))
            final = folder / safe_name(header["name"])
            part = final.with_name(final.name + ".part")
            digest, received = hashlib.sha256(), 0
            with open(part, "wb") as f:
                while received < header["size"]:
                    chunk = read_frame(sock, decoder, pending)
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
            if digest.hexdigest() != header["sha256"]:
                part.unlink()
                return f"refused {header['name']!r}: checksum mismatch (the file was damaged on the way)"
            os.replace(part, final)
            return f"saved {final.name!r}: {received} bytes, checksum OK"
        """,
    )
    nb.step(
        """
        ## Step 6: send it over a real TCP connection
        """,
        """
        def tcp_pair():
            with socket.create_server((HOST, PORT)) as listener:
                listener.settimeout(TIMEOUT)
                a = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
                b, _ = listener.accept()
            b.settimeout(TIMEOUT)
            return a, b

        sender_sock, receiver_sock = tcp_pair()
        sender = threading.Thread(target=send_file, args=(sender_sock, source, checksum))
        sender.start()
        print(receive_file(receiver_sock, WORK / "inbox"))
        sender.join(TIMEOUT)
        sender_sock.close()
        receiver_sock.close()
        copy = WORK / "inbox" / source.name
        assert copy.read_bytes() == source.read_bytes()
        """,
    )
    nb.step(
        """
        ## Step 7: a damaged transfer is caught

        TCP already protects against most transmission errors, but a faulty program, disk or middle-man can
        still damage data. Here a "middle-man" flips one bit in one chunk: the receiver notices and refuses.
        """,
        """
        def send_damaged(sock, path, checksum):
            sock.sendall(encode_json({"name": "damaged.jpg", "size": path.stat().st_size, "sha256": checksum}))
            data = bytearray(path.read_bytes())
            data[123_456] ^= 1
            for offset in range(0, len(data), CHUNK):
                sock.sendall(frame(bytes(data[offset : offset + CHUNK])))

        sender_sock, receiver_sock = tcp_pair()
        sender = threading.Thread(target=send_damaged, args=(sender_sock, source, checksum))
        sender.start()
        print(receive_file(receiver_sock, WORK / "inbox"))
        sender.join(TIMEOUT)
        sender_sock.close()
        receiver_sock.close()
        print("inbox holds:", sorted(p.name for p in (WORK / "inbox").iterdir()))
        """,
    )
    nb.md(
        """
        ## How lanchat sends files

        lanchat's frames carry JSON, so the simplest way to put a chunk on the wire is **base64** text
        inside a JSON object (`lanchat.files.encode_chunk`): a third bigger, and every byte must be scanned
        by the JSON parser and decoded again at each hop. That is the `chunk` / `file-data` message, which
        any client can use. lanchat's own client and server agree (a `"binary": true` flag) to send the
        bytes **raw** instead, in a *binary frame*: the same 4-byte length header, then a 0 byte (JSON never
        starts with one), the length of the file's id, the id, and the data
        (`lanchat.wire.binary_frame`, docs/PROTOCOL.md "Binary file frames"). Let us see both, and time the
        work a receiver does for each.
        """
    )
    nb.code(
        """
        import time

        from lanchat.files import BINARY_CHUNK_BYTES, CHUNK_BYTES, chunk_frame, decode_chunk, encode_chunk, is_sha256
        from lanchat.wire import MAX_FRAME_BYTES, binary_frame, split_binary

        piece = source.read_bytes()[:CHUNK_BYTES]
        text = encode_chunk(piece)
        print(f"a {len(piece):,}-byte chunk is {len(text):,} characters of base64; the frame limit is {MAX_FRAME_BYTES:,}")
        assert decode_chunk(text) == piece and is_sha256(checksum)
        raw = binary_frame("7", piece)
        print("a binary frame starts with", raw[:7], f"and is {len(raw):,} bytes in all")

        def receive_json(frames):  # what a receiver does with chunk frames
            return b"".join(decode_chunk(json.loads(p)["data"]) for p in FrameDecoder().feed(frames))

        def receive_binary(frames):  # ... and with binary frames
            return b"".join(split_binary(p)[1] for p in FrameDecoder().feed(frames))

        data = source.read_bytes()
        as_json = b"".join(chunk_frame("file-data", "7", data[i : i + CHUNK_BYTES]) for i in range(0, len(data), CHUNK_BYTES))
        as_binary = b"".join(binary_frame("7", data[i : i + BINARY_CHUNK_BYTES]) for i in range(0, len(data), BINARY_CHUNK_BYTES))
        for name, receive, frames in (("base64 in JSON", receive_json, as_json), ("binary frames", receive_binary, as_binary)):
            start = time.perf_counter()
            assert receive(frames) == data
            seconds = time.perf_counter() - start
            print(f"{name:>15}: {len(frames):,} bytes on the wire, {len(data) / seconds / 1e6:,.0f} MB/s to unpack")
        """
    )
    nb.md(
        """
        Fewer bytes and far less work: that is why a lanchat download runs several times faster with binary
        frames (bench/files_bench.py measures the whole path). The chunks stay well under the frame limit so that
        a chat line queued behind one never waits long. The rules (names, chunks, checksums, offers) live in
        `lanchat.files`, which never touches a file or socket; `lanchat.server_files` and `lanchat.client_files` are the edges that read and write.
        """
    )
    nb.exercise(
        "05.1",
        "checksum while streaming",
        """
        Write `streamed_sha256(chunks)` that takes an iterable of byte chunks and returns the SHA-256 hex digest
        of all of them together, **without** joining them into one big bytes object (or keeping them in a list):
        a file can be bigger than the memory you have. The check streams 16 MB through your function and measures
        how much memory it holds at its peak (it must stay under 2 MB).
        """,
        """
        def streamed_sha256(chunks):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt, peak_memory

        if attempt("streamed_sha256([])", streamed_sha256, []) is NotImplemented:
            print("Exercise 05.1 not attempted yet: write streamed_sha256 above, run it, then run this cell again.")
        else:
            data = source.read_bytes()
            pieces = [data[i : i + 7000] for i in range(0, len(data), 7000)]
            got = attempt("streamed_sha256(the photo in 7,000-byte pieces)", streamed_sha256, iter(pieces))
            assert isinstance(got, str) and len(got) == 64, f"return the hex digest (64 characters), got {got!r}"
            assert got == checksum, "the digest differs: update one hashlib.sha256() object with every chunk, in order"
            got = attempt("streamed_sha256([])", streamed_sha256, [])
            assert got == hashlib.sha256(b"").hexdigest(), "no chunks: the digest of empty data"

            def big_chunks(count=256, size=64 * 1024):  # 16 MB, made one chunk at a time (never all in memory)
                return (bytes([n % 251]) * size for n in range(count))

            expected = hashlib.sha256()
            for chunk in big_chunks():
                expected.update(chunk)
            got, peak = attempt("streamed_sha256(16 MB of chunks)", peak_memory, streamed_sha256, big_chunks())
            assert got == expected.hexdigest(), "the digest of 16 MB in 64 KB chunks differs: every chunk, in order"
            assert peak < 2_000_000, (
                f"your function held {peak / 1e6:.1f} MB at once for a 16 MB stream: hash each chunk as it "
                "comes and let it go (no join, no list of chunks)"
            )
            print("✓ Exercise 05.1 correct")
        """,
        """
        def streamed_sha256(chunks):
            digest = hashlib.sha256()
            for chunk in chunks:
                digest.update(chunk)
            return digest.hexdigest()
        """,
        wrong=[
            """
            def streamed_sha256(chunks):
                digest = None
                for chunk in chunks:
                    digest = hashlib.sha256(chunk).hexdigest()  # only the last chunk counts
                return digest or hashlib.sha256(b"").hexdigest()
            """,
            """
            def streamed_sha256(chunks):
                return hashlib.sha256(b"".join(chunks)).hexdigest()  # right digest, but all in memory
            """,
            """
            def streamed_sha256(chunks):
                kept = list(chunks)  # keeps every chunk alive
                digest = hashlib.sha256()
                for chunk in kept:
                    digest.update(chunk)
                return digest.hexdigest()
            """,
        ],
    )
    nb.step(
        """
        ## Clean up
        """,
        """
        assert not sender.is_alive()
        workdir.cleanup()
        print("scratch folder removed:", not WORK.exists())
        """,
    )
    nb.md("**Next:** notebook 06 builds seed 000's colour messenger over an AF_UNIX socket.")
    return [nb]
