"""docs/PROTOCOL.md is a specification, so it must stay exact: these tests read it and hold it
against the code and a real server.

* every ```frame example decodes, through lanchat's own protocol.Connection, into the event it
  names, and its bytes are exactly the JSON line framed;
* every message type (events.CLIENT_EVENTS, SERVER_EVENTS) has a heading, a field table that
  matches its dataclass (wire names, JSON types, required or not) and an example frame;
* every error code constant E_* is in an error table, the state tables are protocol.TRANSITIONS,
  and the limits table quotes the constants;
* the example session of section 9 is replayed against a real server on port 0;
* the minimal client of section 10 is extracted and run, as a subprocess, against a real server.

The marker formats are described at the end of PROTOCOL.md, under "Extensions".
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
import socket
import sys
from pathlib import Path

import pytest
from helpers import ROOT, Proc, RawClient, running_server

from lanchat import events as ev
from lanchat.protocol import TRANSITIONS, Connection, ConnectionClosed, Role, State, encode
from lanchat.wire import encode_json

DOC_PATH = ROOT / "docs" / "PROTOCOL.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

FIELD_HEADER = ["field", "type", "required", "meaning"]
TRANSITION_HEADER = ["sender", "state", "type", "state after"]
ERROR_HEADER = ["code", "constant", "sent when", "fatal"]
LIMIT_HEADER = ["limit", "value", "constant", "past the limit"]
DIRECTIONS = {"client -> server": ev.CLIENT_EVENTS, "server -> client": ev.SERVER_EVENTS}


# ------------------------------------------------------------------ reading the document


@dataclasses.dataclass
class Block:
    info: str
    lines: list[str]
    lineno: int  # 1-based line of the opening fence


@dataclasses.dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    lineno: int
    heading: int  # index into Doc.headings of the heading above it (-1: none)


@dataclasses.dataclass
class Heading:
    level: int
    text: str
    lineno: int


@dataclasses.dataclass
class Doc:
    headings: list[Heading]
    tables: list[Table]
    blocks: list[Block]
    comments: dict[int, str]  # line number -> text of a line that is an HTML comment


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse(text: str) -> Doc:
    """Headings, tables and fenced blocks, skipping whatever is inside a fence."""
    doc = Doc([], [], [], {})
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            start = index
            info = line[3:].strip()
            index += 1
            body: list[str] = []
            while index < len(lines) and not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            doc.blocks.append(Block(info, body, start + 1))
        elif match := re.match(r"^(#{1,6}) (.*)$", line):
            doc.headings.append(Heading(len(match.group(1)), match.group(2).strip(), index + 1))
        elif line.startswith("|"):
            start = index
            table_lines = []
            while index < len(lines) and lines[index].startswith("|"):
                table_lines.append(lines[index])
                index += 1
            index -= 1
            header = [cell.lower() for cell in _cells(table_lines[0])]
            rows = [_cells(row) for row in table_lines[2:]]  # [1] is the |---| line
            doc.tables.append(Table(header, rows, start + 1, len(doc.headings) - 1))
        elif line.strip().startswith("<!--"):
            doc.comments[index + 1] = line.strip()
        index += 1
    return doc


PARSED = parse(DOC)


def tables_with(header: list[str]) -> list[Table]:
    return [table for table in PARSED.tables if table.header == header]


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@dataclasses.dataclass
class FrameExample:
    lineno: int
    direction: str
    json_text: str
    bytes_text: str
    event_text: str

    @property
    def id(self) -> str:
        kind = re.search(r'"type":\s*"([^"]*)"', self.json_text)
        return f"line{self.lineno}-{kind.group(1) if kind else '?'}"


def frame_examples() -> list[FrameExample]:
    examples = []
    for block in PARSED.blocks:
        if block.info != "frame":
            continue
        lines = [line.strip() for line in block.lines if line.strip()]
        assert len(lines) == 4, f"PROTOCOL.md line {block.lineno}: a frame block has 4 lines, not {len(lines)}"
        direction, json_line, bytes_line, event_line = lines
        for line, prefix in ((json_line, "json:"), (bytes_line, "bytes:"), (event_line, "event:")):
            assert line.startswith(prefix), f"PROTOCOL.md line {block.lineno}: expected a {prefix!r} line, got {line!r}"
        examples.append(
            FrameExample(
                lineno=block.lineno,
                direction=direction,
                json_text=json_line[len("json:") :].strip(),
                bytes_text=bytes_line[len("bytes:") :].strip(),
                event_text=event_line[len("event:") :].strip(),
            )
        )
    return examples


FRAMES = frame_examples()

# The names an ``event:`` line may use: the event classes, nothing else.
EVENT_NAMES = {
    name: value for name, value in vars(ev).items() if isinstance(value, type) and issubclass(value, ev.Event)
}


def documented_event(text: str) -> ev.Event:
    return eval(text, {"__builtins__": {}}, dict(EVENT_NAMES))  # noqa: S307 - our own doc, no builtins


def state_allowing(sender: Role, kind: str) -> State:
    """A state in which ``sender`` may send ``kind`` (the handshake first, as it comes first)."""
    for state in (State.HANDSHAKE, State.OPEN):
        if kind in TRANSITIONS.get((sender, state), {}):
            return state
    raise AssertionError(f"protocol.TRANSITIONS never lets the {sender.value} send {kind!r}")


# ------------------------------------------------------------------ the example frames


def test_the_document_has_example_frames():
    assert len(FRAMES) >= 14  # the parser found them (a broken marker would silently skip them)


@pytest.mark.parametrize("example", FRAMES, ids=[f.id for f in FRAMES])
def test_example_frame_is_exact_and_decodes_to_the_documented_event(example: FrameExample):
    assert example.direction in DIRECTIONS, f"direction must be one of {list(DIRECTIONS)}"
    table = DIRECTIONS[example.direction]
    obj = json.loads(example.json_text)
    assert obj["type"] in table, f"{obj['type']!r} is not a {example.direction} type"
    data = ast.literal_eval(example.bytes_text)
    assert isinstance(data, bytes)
    # The bytes are exactly the JSON line, compact, framed: header and all.
    assert data == encode_json(obj), "the bytes literal does not match the json line"
    assert int.from_bytes(data[:4], "big") == len(data) - 4

    # Decode with lanchat's real receiving side, in a state where this type is allowed.
    sender = Role.CLIENT if example.direction == "client -> server" else Role.SERVER
    receiver = Connection(Role.SERVER if sender is Role.CLIENT else Role.CLIENT)
    receiver.state = state_allowing(sender, obj["type"])
    receiver.receive_data(data)
    expected = documented_event(example.event_text)
    assert receiver.events() == [expected]

    # And the same event, sent by lanchat, carries what the JSON line says.
    sent = json.loads(encode_json(expected.to_json())[4:])
    assert {k: v for k, v in sent.items() if k in obj} == obj


def test_a_frame_split_anywhere_still_decodes():
    """Section 2's promise for readers, checked on one documented frame split at every byte."""
    example = next(f for f in FRAMES if '"type":"welcome"' in f.json_text)
    data = ast.literal_eval(example.bytes_text)
    for cut in range(1, len(data)):
        client = Connection(Role.CLIENT)
        client.receive_data(data[:cut])
        assert client.events() == []
        client.receive_data(data[cut:])
        assert client.events() == [documented_event(example.event_text)]


def binary_examples() -> list[tuple[int, str, str, str]]:
    """(line, direction, bytes literal, event) of each ```binary-frame block."""
    found = []
    for block in PARSED.blocks:
        if block.info != "binary-frame":
            continue
        lines = [line.strip() for line in block.lines if line.strip()]
        assert len(lines) == 3, f"PROTOCOL.md line {block.lineno}: a binary-frame block has 3 lines"
        direction, bytes_line, event_line = lines
        assert bytes_line.startswith("bytes:") and event_line.startswith("event:"), f"line {block.lineno}"
        found.append((block.lineno, direction, bytes_line[6:].strip(), event_line[6:].strip()))
    return found


BINARY_FRAMES = binary_examples()


def test_both_binary_frames_are_documented():
    assert sorted(direction for _, direction, _, _ in BINARY_FRAMES) == sorted(DIRECTIONS)


@pytest.mark.parametrize("example", BINARY_FRAMES, ids=[f"line{e[0]}" for e in BINARY_FRAMES])
def test_binary_frame_example_is_exact_and_decodes_to_the_documented_event(example):
    _, direction, bytes_text, event_text = example
    data = ast.literal_eval(bytes_text)
    expected = documented_event(event_text)
    assert encode(expected) == data, "lanchat sends different bytes for this event"
    assert int.from_bytes(data[:4], "big") == len(data) - 4
    sender = Role.CLIENT if direction == "client -> server" else Role.SERVER
    assert expected.sent_by == sender.value
    receiver = Connection(Role.SERVER if sender is Role.CLIENT else Role.CLIENT)
    receiver.state = state_allowing(sender, expected.type)
    for cut in (1, 5, len(data) - 1):  # split anywhere, it still decodes
        receiver.receive_data(data[:cut])
        receiver.receive_data(data[cut:])
    assert receiver.events() == [expected] * 3


# ------------------------------------------------------------------ message types and fields

_JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "tuple[str, ...]": "list of strings",
    "tuple[int, ...]": "list of integers",
}


def json_type(annotation: str) -> str:
    parts = [part.strip() for part in annotation.split("|")]
    nullable = "None" in parts
    parts = [part for part in parts if part != "None"]
    assert len(parts) == 1 and parts[0] in _JSON_TYPES, f"no JSON type word for annotation {annotation!r}"
    return _JSON_TYPES[parts[0]] + (" or null" if nullable else "")


def fields_of(cls: type[ev.Event]) -> dict[str, tuple[str, bool]]:
    """wire name -> (JSON type, required) for one event class, ``type`` first."""
    out = {"type": ("string", True)}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out[f.metadata.get("wire", f.name)] = (json_type(str(f.type)), required)
    return out


def documented_types() -> dict[str, list[tuple[Heading, Table]]]:
    """Type -> its field tables: every field table sits under a heading whose first `code`
    span is the type. The first table of a type is in its own section; an extension that adds
    fields to an existing type lists just those under a heading of its own (see Extensions)."""
    found: dict[str, list[tuple[Heading, Table]]] = {}
    for table in tables_with(FIELD_HEADER):
        assert table.heading >= 0, f"PROTOCOL.md line {table.lineno}: a field table with no heading above"
        heading = PARSED.headings[table.heading]
        spans = code_spans(heading.text)
        assert spans, f"PROTOCOL.md line {heading.lineno}: a field table's heading names no `type`"
        found.setdefault(spans[0], []).append((heading, table))
    return found


def documented_fields(tables: list[tuple[Heading, Table]]) -> dict[str, tuple[str, bool]]:
    rows: dict[str, tuple[str, bool]] = {}
    for _heading, table in tables:
        for row in table.rows:
            assert len(row) == 4, f"PROTOCOL.md line {table.lineno}: a field row needs 4 cells: {row}"
            names = code_spans(row[0])
            assert len(names) == 1, f"PROTOCOL.md line {table.lineno}: put the field name in `backticks`: {row[0]!r}"
            assert names[0] not in rows, f"PROTOCOL.md line {table.lineno}: field {names[0]!r} is documented twice"
            required = row[2].lower()
            assert required.startswith(("yes", "no")), f"required must start with yes or no: {row[2]!r}"
            rows[names[0]] = (row[1], required.startswith("yes"))
    return rows


ALL_TYPES = sorted(set(ev.CLIENT_EVENTS) | set(ev.SERVER_EVENTS))


def test_every_documented_type_exists():
    unknown = sorted(set(documented_types()) - set(ALL_TYPES))
    assert not unknown, f"PROTOCOL.md documents types that lanchat.events does not have: {unknown}"


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_every_message_type_is_documented_with_its_fields_and_an_example(kind: str):
    documented = documented_types()
    if kind not in documented:
        pytest.fail(
            f"PROTOCOL.md has no section for the {kind!r} message: add a heading naming `{kind}` and a "
            f"'| field | type | required | meaning |' table (see 'Extensions' at its end)"
        )
    cls = ev.CLIENT_EVENTS.get(kind) or ev.SERVER_EVENTS[kind]
    rows = documented_fields(documented[kind])
    actual = fields_of(cls)
    wrong = [
        f"| `{name}` | {type_words} | {'yes' if required else 'no'} | ... |"
        for name, (type_words, required) in actual.items()
        if rows.get(name) != (type_words, required)
    ]
    stale = sorted(set(rows) - set(actual))
    if wrong or stale:
        pytest.fail(
            f"PROTOCOL.md's field tables for {kind!r} do not match events.{cls.__name__}: "
            f"rows needed: {wrong}; rows for fields it does not have: {stale}"
        )
    first_heading, first_table = documented[kind][0]
    assert code_spans(first_table.rows[0][0]) == ["type"], f"{first_heading.text!r}: list `type` first"

    direction = "client -> server" if kind in ev.CLIENT_EVENTS else "server -> client"
    examples = [f for f in FRAMES if f.direction == direction and json.loads(f.json_text)["type"] == kind]
    if not examples:
        pytest.fail(f"PROTOCOL.md has no ```frame example of {kind!r} ({direction})")


# ------------------------------------------------------------------ state table, errors, limits


def test_the_state_tables_are_protocol_transitions():
    documented: set[tuple[str, str, str, str]] = set()
    mirrors: list[tuple[str, str]] = []  # "| server | leaving | every type it may send when open | ..."
    for table in tables_with(TRANSITION_HEADER):
        for row in table.rows:
            sender, state, kinds, after = row
            if kinds == "every type it may send when open":
                mirrors.append((sender, state))
                continue
            assert code_spans(kinds), f"PROTOCOL.md line {table.lineno}: put types in `backticks`: {row}"
            for kind in code_spans(kinds):
                documented.add((sender, state, kind, after))
    assert mirrors == [("server", "leaving")]
    for sender, state, kind, after in list(documented):  # as when open, but leaving instead of open
        if (sender, state) == ("server", "open"):
            documented.add((sender, "leaving", kind, "leaving" if after == "open" else after))
    actual = {
        (role.value, state.value, kind, after.value)
        for (role, state), allowed in TRANSITIONS.items()
        for kind, after in allowed.items()
    }
    missing = sorted(actual - documented)
    extra = sorted(documented - actual)
    assert not missing, "rows missing from PROTOCOL.md's state tables: " + ", ".join(
        f"| {s} | {st} | `{k}` | {a} |" for s, st, k, a in missing
    )
    assert not extra, f"PROTOCOL.md's state tables list transitions protocol.TRANSITIONS does not have: {extra}"


def test_every_error_code_is_documented():
    documented: dict[str, str] = {}
    for table in tables_with(ERROR_HEADER):
        for row in table.rows:
            (code,) = code_spans(row[0])
            (constant,) = code_spans(row[1])
            assert row[3].lower() in ("yes", "no"), f"fatal must be yes or no: {row}"
            documented[constant] = code
    constants = {name: value for name, value in vars(ev).items() if name.startswith("E_") and isinstance(value, str)}
    missing = sorted(set(constants) - set(documented))
    assert not missing, f"error codes missing from PROTOCOL.md's error tables: {missing}"
    wrong = {name: (documented[name], value) for name, value in constants.items() if documented[name] != value}
    assert not wrong, f"documented code differs from events.py (doc, code): {wrong}"
    stale = sorted(set(documented) - set(constants))
    assert not stale, f"PROTOCOL.md documents error constants events.py does not have: {stale}"


def test_the_error_tables_give_the_code_a_silent_connection_really_gets():
    """A connection that never joins is told why with one code: every row that speaks of the
    handshake time names the code a real server sends (it once said `deadline` in one table and
    `hello-first` in another)."""
    with running_server(handshake_seconds=0.3) as (_, endpoint):
        silent = RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10))
        error = silent.expect(ev.Error, timeout=10)
        silent.close()
    assert error.fatal
    rows = [row for table in tables_with(ERROR_HEADER) for row in table.rows if re.search(r"(hello`?|joined) within 20", row[2])]
    assert rows, "no error row speaks of the 20 s handshake time"
    for row in rows:
        assert code_spans(row[0]) == [error.code], f"{row[0]} says {row[2]!r}; the server sends {error.code!r}"


def test_the_limits_table_quotes_the_code():
    (table,) = tables_with(LIMIT_HEADER)
    checked = 0
    for row in table.rows:
        (reference,) = code_spans(row[2])
        module_name, _, constant = reference.partition(".")
        value = getattr(importlib.import_module(f"lanchat.{module_name}"), constant)
        number = re.search(r"\d[\d,]*(\.\d+)?", row[1])
        assert number, f"no number in {row[1]!r}"
        assert float(number.group(0).replace(",", "")) == value, (
            f"{row[0]}: the doc says {row[1]}, {reference} is {value}"
        )
        checked += 1
    assert checked >= 6


def test_abuse_limits_name_exactly_the_frames_flood_control_counts_and_the_ones_it_leaves_to_the_budget():
    """An outside client paces what flood control counts (the welcome's allowance) and sends the
    rest freely: the list in Abuse limits must be the code's. It once left out `ping`, which
    Liveness said was counted "as `who`" while "exactly" named the others."""
    from lanchat import guard

    def wire_types(classes: tuple[type, ...]) -> set[str]:
        by_class = {cls: kind for kind, cls in ev.CLIENT_EVENTS.items()}
        return {by_class.get(cls, {"UploadBytes": "(binary frames)"}.get(cls.__name__, cls.__name__)) for cls in classes}

    counted = re.search(r"all count: exactly (.*?), each whether", DOC, re.S)
    assert counted, "Abuse limits no longer says which frames flood control counts, exactly"
    assert set(code_spans(counted.group(1))) == wire_types(guard.FLOOD_COUNTED)
    budget = re.search(r"Once joined, (.*?) are not\s+flood-counted", DOC, re.S)
    assert budget, "Abuse limits no longer says which frames flood control does not count"
    named = set(code_spans(budget.group(1))) | ({"(binary frames)"} if "binary" in budget.group(1) else set())
    assert named == wire_types(guard.BUDGETED)


def test_numbered_sections_and_the_extensions_heading_come_last():
    level2 = [h.text for h in PARSED.headings if h.level == 2]
    numbered = [int(m.group(1)) for text in level2 if (m := re.match(r"(\d+)\. ", text))]
    assert numbered == list(range(1, 11))
    # Extensions add ### sections under it; no ## section may follow it.
    assert level2[-1] == "Extensions"


# ------------------------------------------------------------------ section 9, replayed


def _masked(obj: dict) -> dict:
    """The example's times are from a day long past: compare everything but the clock."""
    out = dict(obj)
    if "time" in out:
        assert isinstance(out["time"], (int, float)) and not isinstance(out["time"], bool)
        out["time"] = "<time>"
    return out


def test_the_example_session_happens_exactly_so_against_a_real_server():
    (block,) = [b for b in PARSED.blocks if b.info == "session"]
    steps = []
    for offset, line in enumerate(block.lines, start=block.lineno + 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = re.match(r"^(\w+)\s+(->|<-)\s+(.*)$", line)
        assert match, f"PROTOCOL.md line {offset}: not a session line: {line!r}"
        steps.append((offset, *match.groups()))

    modes = {json.loads(rest)["mode"] for _, _, arrow, rest in steps if arrow == "<-" and '"welcome"' in rest}
    (mode,) = modes
    clients: dict[str, RawClient] = {}
    shutdown_requested = False
    with running_server(mode) as (server, endpoint):
        try:
            for lineno, who, arrow, rest in steps:
                if arrow == "->":
                    obj = json.loads(rest)
                    # what a lanchat client would send for this event, field for field
                    assert ev.event_from_json(obj, ev.CLIENT_EVENTS).to_json() == obj
                    if who not in clients:
                        clients[who] = RawClient(endpoint)
                    clients[who].send_raw(encode_json(obj))
                    continue
                if '"type":"shutdown"' in rest and not shutdown_requested:
                    # the operator stops the server: what `serve` does on Ctrl-C
                    server.request_shutdown(json.loads(rest)["reason"])
                    shutdown_requested = True
                got = clients[who].expect(object)  # the very next thing, whatever it is
                if rest == "(closed)":
                    assert isinstance(got, ConnectionClosed), f"line {lineno}: {who} got {got} instead"
                    continue
                expected = json.loads(rest)
                assert isinstance(got, ev.Event), f"line {lineno}: {who} got {got}"
                assert _masked(got.to_json()) == _masked(expected), f"PROTOCOL.md line {lineno}"
            leftovers = {who: c.inbox for who, c in clients.items() if c.inbox}
            assert not leftovers, f"frames the session does not show: {leftovers}"
        finally:
            for client in clients.values():
                client.close()


# ------------------------------------------------------------------ section 10, run


def minimal_client_source() -> str:
    marker = next(n for n, text in PARSED.comments.items() if text == "<!-- minimal-client -->")
    block = next(b for b in PARSED.blocks if b.lineno == marker + 1)
    assert block.info == "python"
    return "\n".join(block.lines) + "\n"


def test_the_minimal_client_uses_only_the_standard_library():
    tree = ast.parse(minimal_client_source())
    modules = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    modules |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules and modules <= set(sys.stdlib_module_names), modules


def test_the_introduction_says_how_long_the_minimal_client_is():
    """The introduction promised section 10's client 'in about thirty lines of Python': it had
    grown to forty (the keyboard thread, the table of what to show). A newcomer deciding whether to
    read it gets its length within five lines."""
    words = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60}
    said = re.search(r"in about (\w+) lines of Python", DOC.split("## 1.", 1)[0])
    assert said and said.group(1) in words, "the introduction no longer says the client's length"
    lines = [line for line in minimal_client_source().splitlines() if line.strip()]
    assert abs(len(lines) - words[said.group(1)]) <= 5, f"section 10's client has {len(lines)} lines"


@pytest.fixture
def minimal_client(tmp_path: Path) -> list[str]:
    script = tmp_path / "mini_lanchat.py"
    script.write_text(minimal_client_source(), encoding="utf-8")
    return [sys.executable, str(script)]


def test_the_minimal_client_chats_with_a_real_server(minimal_client: list[str]):
    with running_server("duplex") as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = Proc(endpoint.host, str(endpoint.port), "ann", program=minimal_client)
        try:
            ann.expect(r"^joined as ann; here: bob, ann$")
            bob.expect(ev.Joined, name="ann")
            ann.send("hello from a client written from the doc, café ☕")
            bob.expect(ev.Message, sender="ann", text="hello from a client written from the doc, café ☕")
            bob.send(ev.Say(text="hi ann"))
            ann.expect(r"^bob: hi ann$")
            bob.send(ev.Whisper(to="ann", text="psst"))
            ann.expect(r"^bob -> ann: psst$")
            ann.send("/w bob a secret")
            bob.expect(ev.Direct, sender="ann", to="bob", text="a secret")
            ann.close_stdin()  # end of input: the client says bye
            bob.expect(ev.Left, name="ann", reason="quit")
            assert ann.wait() == 0
            ann.expect(r"^disconnected$")
        finally:
            ann.stop()
            bob.close()


def test_the_minimal_client_takes_turns_is_refused_a_taken_name_and_hears_the_shutdown(minimal_client: list[str]):
    with running_server("turn") as (server, endpoint):
        ann = Proc(endpoint.host, str(endpoint.port), "ann", program=minimal_client)
        taken = None
        try:
            ann.expect(r"^joined as ann; here: ann$")
            bob = RawClient(endpoint, "bob")
            assert bob.welcome is not None and bob.welcome.turn == "ann"
            bob.send(ev.Say(text="me first?"))
            bob.expect(ev.Error, code=ev.E_NOT_YOUR_TURN)
            ann.send("my turn")
            bob.expect(ev.Message, sender="ann", text="my turn")
            ann.expect(r"^turn: bob$")

            taken = Proc(endpoint.host, str(endpoint.port), "BOB", program=minimal_client)
            assert taken.wait() != 0
            taken.expect(r"^refused: the name 'BOB' is taken")

            server.request_shutdown("the server was stopped")
            ann.expect(r"^server closing: the server was stopped$")
            assert ann.wait() == 0
            ann.expect(r"^disconnected$")
        finally:
            ann.stop()
            if taken is not None:
                taken.stop()
