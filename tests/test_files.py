"""Pure tests of file sharing: safe names, chunk plans, checksums, limits, progress, commands.

No sockets, no files: files.py and the session's file commands are pure, so every rule
is checked here in microseconds. The real transfers are in test_files_transfer.py
(sockets) and test_files_cli.py (real processes).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanchat import events as ev
from lanchat import files
from lanchat.files import (
    CHUNK_BYTES,
    MAX_FILE_NAME_BYTES,
    MAX_FILE_NAME_CHARS,
    ChunkError,
    OfferBook,
    OfferRefused,
    Progress,
    chunk_count,
    chunk_plan,
    decode_chunk,
    encode_chunk,
    human_size,
    safe_name,
    unique_name,
)
from lanchat.protocol import Connection, Role, encode
from lanchat.session import FileCommand, Local, Outgoing, Session
from lanchat.wire import MAX_FRAME_BYTES

SUM = hashlib.sha256(b"x").hexdigest()

# ------------------------------------------------------------------ purity


def test_files_module_does_no_io():
    tree = ast.parse(Path(files.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {
        "os",
        "socket",
        "selectors",
        "threading",
        "asyncio",
        "curses",
        "shutil",
        "tempfile",
        "pathlib",
    }
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"open", "print", "input"}


# ------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("C:\\Users\\ann\\notes.txt", "notes.txt"),
        ("/absolute/path/photo.jpg", "photo.jpg"),
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        ("   ", "file"),
        (".bashrc", "bashrc"),  # never a hidden file
        ("trailing dots...", "trailing dots"),
        ("evil\x1b[2Jname.txt", "evil[2Jname.txt"),  # no terminal escape survives
        ("line\nbreak\r.txt", "line break .txt"),
        ("bidi\u202etxt.exe", "biditxt.exe"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("NUL.tar.gz", "_NUL.tar.gz"),
        ("COM1", "_COM1"),
        ("lpt9.doc", "_lpt9.doc"),
        ("COM10.txt", "COM10.txt"),  # not a device name
        ("console.log", "console.log"),
        ("tab\tand  spaces.txt", "tab and spaces.txt"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # one spelling of é (NFC)
    ],
)
def test_safe_name(offered, expected):
    assert safe_name(offered) == expected


def test_safe_name_shortens_long_names_and_keeps_the_extension():
    name = safe_name("a" * 500 + ".pdf")
    assert len(name) == MAX_FILE_NAME_CHARS
    assert name.endswith(".pdf")
    assert len(safe_name("b" * 500)) == MAX_FILE_NAME_CHARS


def test_safe_name_keeps_a_name_within_what_a_file_system_takes_in_bytes():
    """120 emoji are 480 bytes of UTF-8 and 100 CJK characters 300: ext4 refuses a name over
    255 bytes, so such a download arrived whole and was then thrown away ("file name too long")."""
    for offered, extension in (("\U0001F600" * 120 + ".png", ".png"), ("\u6587" * 100, "\u6587"), ("\u6587" * 300 + ".tar.gz", ".gz")):
        name = safe_name(offered)
        assert len(name.encode("utf-8")) <= MAX_FILE_NAME_BYTES, name
        assert len(name.encode("utf-8")) > MAX_FILE_NAME_BYTES - 8  # cut where the bytes run out, not shorter
        assert name.endswith(extension) and safe_name(name) == name
    assert len(unique_name(safe_name("\u6587" * 100), [safe_name("\u6587" * 100)]).encode("utf-8")) <= 255


@given(st.text(max_size=300))
def test_safe_name_is_always_one_harmless_component(offered):
    name = safe_name(offered)
    assert name and len(name) <= MAX_FILE_NAME_CHARS and len(name.encode("utf-8")) <= MAX_FILE_NAME_BYTES
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert name.isprintable()
    assert name.split(".")[0].upper() not in files.WINDOWS_DEVICE_NAMES
    assert safe_name(name) == name  # cleaning twice changes nothing


def test_unique_name_never_picks_a_name_already_there():
    assert unique_name("a.txt", []) == "a.txt"
    assert unique_name("a.txt", ["a.txt"]) == "a (1).txt"
    assert unique_name("a.txt", ["A.TXT", "a (1).txt"]) == "a (2).txt"  # case-insensitive folders
    assert unique_name("archive.tar.gz", ["archive.tar.gz"]) == "archive.tar (1).gz"
    assert unique_name("README", ["README"]) == "README (1)"


@given(st.sets(st.sampled_from(["x.bin", "x (1).bin", "x (2).bin", "X (3).BIN", "y.bin"])))
def test_unique_name_property(existing):
    chosen = unique_name("x.bin", existing)
    assert chosen.casefold() not in {e.casefold() for e in existing}


# ------------------------------------------------------------ chunks, sums


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 5 * CHUNK_BYTES + 7])
def test_chunk_plan_covers_the_file_exactly_once(size):
    plan = list(chunk_plan(size))
    assert len(plan) == chunk_count(size)
    assert sum(length for _, length in plan) == size
    offset = 0
    for start, length in plan:
        assert start == offset and 0 < length <= CHUNK_BYTES
        offset += length


def test_a_full_chunk_frame_is_well_under_the_frame_limit():
    event = ev.FileData(id="123456", data=encode_chunk(b"\xff" * CHUNK_BYTES))
    frame = encode(event)
    assert len(frame) < MAX_FRAME_BYTES * 0.75


@given(st.text(max_size=12), st.binary(max_size=CHUNK_BYTES))
def test_a_chunk_frame_built_directly_is_the_encoded_event(file_id, data):
    assert files.chunk_frame("file-data", file_id, data) == encode(ev.FileData(id=file_id, data=encode_chunk(data)))
    assert files.chunk_frame("chunk", file_id, data) == encode(ev.UploadChunk(id=file_id, data=encode_chunk(data)))


def test_only_data_events_have_chunk_frames():
    with pytest.raises(ValueError):
        files.chunk_frame("say", "1", b"")


@given(st.binary(max_size=2000))
def test_chunks_round_trip(data):
    assert decode_chunk(encode_chunk(data)) == data


@pytest.mark.parametrize("bad", ["not base64!", "abc", "éé==", "YQ==YQ=="])
def test_bad_chunks_are_refused(bad):
    with pytest.raises(ChunkError):
        decode_chunk(bad)


def test_human_size():
    assert human_size(0) == "0 bytes"
    assert human_size(1) == "1 byte"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(50 * files.MB) == "50.0 MiB"


def test_duration_text_never_reads_zero_for_a_fast_transfer():
    assert files.duration_text(0.0234) == "23 ms"
    assert files.duration_text(0.9994) == "999 ms"
    assert files.duration_text(4.56) == "4.6 s"


# ------------------------------------------------------------------ limits


def _open(book: OfferBook, owner: int = 1, size: int = 10, **extra) -> files.Offer:
    return book.open(owner=owner, owner_name=f"p{owner}", name="f.txt", size=size, **extra)


def test_an_offer_over_the_file_limit_is_refused_with_the_limit_named():
    book = OfferBook(max_file_bytes=1000)
    with pytest.raises(OfferRefused, match="up to 1000 bytes"):
        _open(book, size=1001)
    assert _open(book, size=1000).size == 1000


def test_a_file_just_over_the_limit_is_not_told_it_is_the_limits_size():
    book = OfferBook(max_file_bytes=50 * 2**20)  # serve's default
    with pytest.raises(OfferRefused) as refused:
        _open(book, size=50 * 2**20 + 30_000)
    assert str(refused.value) == (
        "f.txt is 50.0 MiB (52,458,800 bytes); this server takes files up to 50.0 MiB (52,428,800 bytes)"
    )
    with pytest.raises(OfferRefused, match=r"is 60\.0 MiB; this server takes files up to 50\.0 MiB$"):
        _open(book, size=60 * 2**20)


def test_the_per_person_quota_counts_what_is_on_offer():
    book = OfferBook(max_file_bytes=100, quota_bytes=250)
    _open(book, size=100)
    _open(book, size=100)
    with pytest.raises(OfferRefused, match="quota"):
        _open(book, size=100)
    assert _open(book, owner=2, size=100)  # someone else has their own quota
    book.expire_owner(1)
    assert _open(book, size=100)


@pytest.mark.parametrize(
    ("text", "valid"), [(SUM, True), ("", False), ("xyz", False), (SUM.upper(), False), (SUM[:-1], False)]
)
def test_what_counts_as_a_sha256(text, valid):
    assert files.is_sha256(text) is valid


def test_a_negative_size_is_refused():
    with pytest.raises(OfferRefused, match="negative"):
        _open(OfferBook(), size=-1)


def test_offers_get_short_ids_and_clean_names():
    book = OfferBook()
    first = book.open(owner=1, owner_name="a", name="../../x.sh", size=1)
    second = _open(book)
    assert (first.file_id, second.file_id) == ("1", "2")
    assert first.name == "x.sh"


def test_who_may_see_an_offer():
    book = OfferBook()
    public = _open(book, owner=1)
    private = _open(book, owner=1, to=2, to_name="p2")
    assert book.find(public.file_id, 3) is None  # not ready: the upload is still arriving
    public.ready = private.ready = True
    assert book.find(public.file_id, 3) is public
    assert book.find("#" + public.file_id, 3) is public
    assert book.find(private.file_id, 2) is private
    assert book.find(private.file_id, 1) is private
    assert book.find(private.file_id, 3) is None
    assert [o.file_id for o in book.visible_to(3)] == [public.file_id]
    assert book.find("99", 1) is None


def test_offers_expire_when_their_owner_or_only_recipient_leaves():
    book = OfferBook()
    mine = _open(book, owner=1)
    for_two = _open(book, owner=3, to=2, to_name="p2")
    theirs = _open(book, owner=3)
    assert book.expire_owner(1) == [mine]
    assert book.recipient_left(2) == [for_two]
    assert list(book.offers) == [theirs.file_id]


# ---------------------------------------------------------------- progress


def test_progress_speaks_at_each_quarter_and_gives_a_status_text():
    progress = Progress(direction="get", label="a.bin", total=1000, started=10.0)
    said = [progress.advance(done, 10.0 + done / 250) for done in range(100, 1000, 100)]  # 4 s
    spoken = [text for text in said if text]
    assert len(spoken) == 3
    assert spoken[0].startswith("receiving a.bin: 30%")
    assert spoken[0].endswith("bytes/s)")
    assert progress.text().startswith("get a.bin 90% ")
    assert progress.advance(1000, 11.0) is None  # completion is the edge's to announce


def test_a_transfer_over_within_a_second_says_no_quarter_only_a_slower_ones_after_it():
    """--plain printed 'receiving big.bin: 25%', 50% and 75% for a 3 MB download that took 52 ms,
    just before its 'saved' line. Quarters are said once a transfer has run a second."""
    quick = Progress(direction="get", label="big.bin", total=3_000_000, started=10.0)
    assert [quick.advance(done, 10.0 + done / 3_000_000 * 0.052) for done in range(60_000, 3_000_001, 60_000)] == [None] * 50
    slow = Progress(direction="get", label="big.bin", total=3_000_000, started=10.0)  # 1.5 s
    said = [slow.advance(done, 10.0 + done / 2_000_000) for done in range(60_000, 3_000_001, 60_000)]
    assert [text.split(" (")[0] for text in said if text] == ["receiving big.bin: 76%"]  # 25 and 50% came before 1 s: unsaid
    resumed = Progress(direction="get", label="big.bin", total=3_000_000, started=10.0, done=1_500_000)
    assert resumed.advance(1_500_000, 10.0) is None  # (client_files: the kept half's quarters)
    assert resumed.advance(2_280_000, 11.5) == resumed.notice() and resumed.percent == 76


def test_progress_speaks_every_few_seconds_on_a_slow_transfer():
    progress = Progress(direction="send", label="a", total=1000, started=0.0)
    assert progress.advance(1, 1.0) is None
    assert progress.advance(2, 6.0).startswith("sending a: 0%")
    assert progress.advance(3, 7.0) is None


# ---------------------------------------------------------- events on wire


def test_a_transfer_no_byte_moves_for_says_it_is_stalled_and_counts_the_seconds():
    """Through a stalled link the status line kept the speed so far (95.0 MiB/s) for the whole
    stall; with the edge's clock it says 'stalled N s' after files.STALLED_AFTER_SECONDS, and
    ``redraw_in`` tells the screen when the text next changes by itself."""
    now = [10.0]
    progress = Progress(direction="get", label="a.bin", total=4 * 1024 * 1024, started=10.0, file_id="1", clock=lambda: now[0])
    progress.advance(1024 * 1024, 11.0)
    now[0] = 11.5
    assert progress.text() == "get #1 a.bin 25% 1.0 MiB/s" and progress.redraw_in() == pytest.approx(1.5)
    now[0] = 11.0 + files.STALLED_AFTER_SECONDS
    assert progress.text() == "get #1 a.bin 25% stalled 2 s" and progress.redraw_in() == pytest.approx(1.0)
    now[0] = 15.25
    assert progress.text() == "get #1 a.bin 25% stalled 4 s" and progress.redraw_in() == pytest.approx(0.75)
    progress.advance(2 * 1024 * 1024, 15.25)  # bytes again: the speed again
    assert progress.text() == "get #1 a.bin 50% 390.1 KiB/s"
    assert Progress(direction="send", label="a", total=10, started=0.0).redraw_in() is None  # no clock: never says it


def test_file_events_travel_both_ways_through_the_state_machines():
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.send(ev.Hello(name="ann")))
    server.events()
    client.receive_data(server.send(ev.Welcome(name="ann", mode="duplex", members=("ann",))))
    client.events()
    sent = [
        ev.OfferFile(ref=1, name="a.txt", size=3, to="bob"),
        ev.UploadChunk(id="1", data=encode_chunk(b"abc")),
        ev.UploadDone(id="1", sha256=SUM),
        ev.GetFile(id="1"),
        ev.ListFiles(),
        ev.CancelFile(id="1"),
    ]
    server.receive_data(b"".join(client.send(e) for e in sent))
    assert server.events() == sent
    answers = [
        ev.UploadReady(ref=1, id="1"),
        ev.Offered(id="1", name="a.txt", size=3, sha256=SUM, sender="ann", to=None, time=1.0),
        ev.FileList(count=0),
        ev.FileStart(id="1", name="a.txt", size=3, sha256=SUM),
        ev.FileData(id="1", data="YWJj"),
        ev.FileError(id="1", message="no"),
        ev.FileError(ref=2, message="refused"),
    ]
    client.receive_data(b"".join(server.send(e) for e in answers))
    assert client.events() == answers


def test_file_events_are_checked_for_shape():
    server = Connection(Role.SERVER)
    server.receive_data(Connection(Role.CLIENT).send(ev.Hello(name="ann")))
    server.events()
    server.state = server.state.OPEN  # as after the welcome
    from lanchat.wire import encode_json

    server.receive_data(encode_json({"type": "offer", "ref": 1, "name": "a", "size": "big"}))
    server.receive_data(encode_json({"type": "chunk", "id": "1"}))
    problems = server.events()
    assert [p.code for p in problems] == [ev.E_BAD_MESSAGE, ev.E_BAD_MESSAGE]
    assert "integer" in problems[0].message and '"data"' in problems[1].message


# ---------------------------------------------------------- session words


def _session() -> Session:
    session = Session(name="bob", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    return session


def test_file_commands_parse():
    session = _session()
    assert session.parse_input("/send notes.txt") == FileCommand(name="send", path="notes.txt")
    assert session.parse_input('/send "my notes.txt" ann') == FileCommand(name="send", path="my notes.txt", to="ann")
    assert session.parse_input("/get 3") == FileCommand(name="get", file_id="3")
    assert session.parse_input("/get #3") == FileCommand(name="get", file_id="3")
    assert session.parse_input("/files") == Outgoing(ev.ListFiles())
    for bad in ("/send", "/send a b c", "/get", "/get 1 2"):
        result = session.parse_input(bad)
        assert isinstance(result, Local) and result.lines[0].kind == "error", bad
        assert "usage" in result.lines[0].text
    assert any("/send PATH" in line.text for line in session.help_lines())


def test_send_with_an_empty_path_gives_the_usage_not_a_folder():
    """`/send ""` (or `/send '' ann`) offered the path "", the current folder: "cannot send : it
    is a folder; /send takes one file", with no path in it. An empty path is the usage."""
    session = _session()
    for bad in ('/send ""', "/send '' ann", '/send notes.txt ""'):
        result = session.parse_input(bad)
        assert isinstance(result, Local) and result.lines[0].text.startswith("usage: /send PATH"), (bad, result)


def test_an_offer_notice_names_file_size_sender_and_the_command():
    session = _session()
    offered = ev.Offered(id="7", name="plan.pdf", size=1536, sha256=SUM, sender="ann", time=5.0)
    (line,) = session.on_event(offered)
    assert line.text == "ann offers plan.pdf (1.5 KiB); type /get 7 to download it"
    (line,) = session.on_event(ev.Offered(id="8", name="x", size=1, sha256=SUM, sender="ann", to="bob", time=5.0))
    assert line.text == "ann offers you x (1 byte); type /get 8 to download it"
    (line,) = session.on_event(ev.Offered(id="9", name="y", size=2, sha256=SUM, sender="bob", time=5.0))
    assert line.text == "your file y (2 bytes) is on offer to the room as #9"
    hostile = ev.Offered(id="10", name="../\x1b[31mevil", size=2, sha256=SUM, sender="ann", time=5.0)
    assert "\x1b" not in session.on_event(hostile)[0].text


def test_the_file_list_reads_as_a_list():
    session = _session()
    assert session.on_event(ev.FileList(count=0))[0].text.startswith("no files are on offer")
    assert session.on_event(ev.FileList(count=1))[0].text == "files on offer (1):"
    listed = ev.Offered(id="7", name="a.txt", size=10, sha256=SUM, sender="ann", time=5.0, listing=True)
    assert session.on_event(listed)[0].text == "  #7 a.txt 10 bytes from ann: /get 7"


def test_one_unit_convention_and_no_speed_for_a_transfer_too_short_to_time():
    from lanchat.files import speed_clause

    assert human_size(60_000_000) == "57.2 MiB"  # powers of 1024, named as such
    assert human_size(5) == "5 bytes"
    assert speed_clause(5, 0.000088) == ""  # not "56.9 KiB/s"
    assert speed_clause(3 * files.MB, 0.01) == ""
    assert speed_clause(3 * files.MB, 1.5) == ", 2.0 MiB/s"


def test_an_offer_counts_each_person_sent_it_whole_once_and_tells_only_its_offerer():
    from lanchat.files import Offer

    offer = Offer(file_id="3", owner=1, owner_name="Ann", name="slides.pdf", size=10)
    for name, cid in (("bob", 2), ("cat", 3), ("BOB", 2), ("Ann", 1)):  # bob again (his name's case aside); ann's own copy
        offer.fetched(name, cid)
    assert offer.fetched_count(1) == 2  # the offerer's connection
    assert offer.fetched_count(2) is None  # not his file: nothing to tell him


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_a_path_as_typed_reads_back_whole_with_shlex(path):
    """The "saved" line and /send's Tab quote a path so that shlex (what /send reads with) and a
    shell give back exactly it, as one word; a path of plain letters, digits and /.-_ stays bare."""
    import shlex

    shown = files.path_as_typed(path)
    if path:
        assert shlex.split(shown) == [path]


def test_a_path_as_typed_is_bare_when_it_can_be_and_takes_the_plainer_quotes():
    assert files.path_as_typed("/home/ann/Downloads/vidéo_2.pdf") == "/home/ann/Downloads/vidéo_2.pdf"
    assert files.path_as_typed("/dl/bob's notes.pdf") == '"/dl/bob\'s notes.pdf"'


@pytest.mark.parametrize("blank", ["\u3164", "\u115f", "\uffa0"])
def test_a_path_with_a_letter_that_draws_as_blank_space_is_quoted(blank):
    """A Hangul filler is a letter to Python (isalnum) and draws as a blank, and safe_name keeps it:
    ann offering "holiday{filler}video.pdf" had bob's screen say "saved /dl/holiday video.pdf" bare,
    a name with what reads as a space that the quoting rule says ends at "holiday"."""
    path = f"/dl/holiday{blank}video.pdf"
    assert files.safe_name(f"holiday{blank}video.pdf") == f"holiday{blank}video.pdf"
    assert files.path_as_typed(path) == f"'{path}'"


def test_an_unlimited_offer_passes_the_size_cap_and_the_quota_but_not_the_count_at_once():
    book = OfferBook(max_file_bytes=100, quota_bytes=150)
    assert _open(book, size=1000, unlimited=True).size == 1000
    assert _open(book, size=1000, unlimited=True).size == 1000  # past the quota as well
    with pytest.raises(OfferRefused, match="up to 100 bytes"):
        _open(book, owner=2, size=101)
    for _ in range(files.MAX_UPLOADS_AT_ONCE - 2):
        _open(book, size=1, unlimited=True)
    with pytest.raises(OfferRefused, match="already sending"):
        _open(book, size=1, unlimited=True)
