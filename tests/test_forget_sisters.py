"""`lanchat forget NAME` (cli/rooms.py's cmd_forget): what it says of the rooms still trusted with a
certificate it forgot for that name (its host's other rooms, "sisters"), each once.
"""

from __future__ import annotations

from lanchat.tls import KNOWN_SERVERS_NAME, KnownServers, fingerprint


def test_forget_names_a_sister_room_holding_two_of_the_forgotten_certificates_once(tmp_path, monkeypatch, capsys):
    """maths holds two certificates (its teacher made a new one, and the old was kept beside it:
    tls.KnownRooms), and so does chess, the same teacher's other room, once as "chess" and once as
    "Chess" (as announced; one name to connect and to forget), and art, twice as "art":
    `lanchat forget maths` said "'chess', 'Chess', 'art', 'art'", each with its `lanchat forget`.
    Each room once now, as first written."""
    from lanchat import tls as tls_module
    from lanchat.__main__ import parse_command_line
    from lanchat.cli.rooms import cmd_forget

    monkeypatch.setattr(tls_module, "default_folder", lambda: tmp_path)
    known = KnownServers(tmp_path / KNOWN_SERVERS_NAME)
    old, new, other = fingerprint(b"the teacher's old"), fingerprint(b"the teacher's new"), fingerprint(b"another host's")
    for room, fp in (("maths", old), ("maths", new), ("chess", old), ("Chess", new), ("art", old), ("art", new), ("music", other)):
        assert known.rooms.remember(room, fp) is None
    assert cmd_forget(parse_command_line(["forget", "maths"])) == 0
    out = " ".join(line.strip() for line in capsys.readouterr().out.splitlines())
    assert ("still trusted by their names, with the same certificate (the same host's rooms): 'chess', 'art'; if their "
            "host made a new certificate, forget each too (`lanchat forget chess` `lanchat forget art`)") in out, out
    assert known.rooms.trusted("chess") == [old, new] == known.rooms.trusted("art") and known.rooms.trusted("music") == [other]
    assert known.rooms.trusted("maths") == []
