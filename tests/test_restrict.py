"""/restrict dm and /restrict files: a teacher turns off students' direct messages to each other
and their files during a quiz, while a student can still ask the teacher (PROTOCOL.md,
Moderation: restrict). A real server on loopback or AF_UNIX, raw protocol clients, `lanchat
serve --restrict` as a real process, an nc-style text socket and `lanchat connect` in a real pty.
"""

from __future__ import annotations

import pytest
from helpers import RawClient, local_host, running_server

from lanchat import events as ev

pytestmark = pytest.mark.timeout(60)


def _restrict(client: RawClient, action: str, *kinds: str) -> None:
    client.send(ev.Moderate(action=action, kinds=kinds))


def test_students_cannot_whisper_each_other_but_still_reach_the_teacher():
    with running_server() as (server, endpoint):
        teach = local_host(server, "teach")
        ann = RawClient(endpoint, "ann")
        bob = RawClient(endpoint, "bob")
        _restrict(teach, "restrict", "dm")
        for person in (teach, ann, bob):  # the room is told, in words an older client shows too
            told = person.expect(ev.Notice, code=ev.E_RESTRICTED)
            assert told.message.startswith("teach turned off direct messages between students")  # type: ignore[attr-defined]
        ann.send(ev.Whisper(to="bob", text="the answer is 42"))
        refused = ann.expect(ev.Error, code=ev.E_RESTRICTED)
        assert "direct messages between students are off" in refused.message  # type: ignore[attr-defined]
        assert "/w an operator: teach" in refused.message  # type: ignore[attr-defined]
        ann.send(ev.Whisper(to="teach", text="may I leave early?"))  # to the teacher: goes
        teach.expect(ev.Direct, sender="ann", text="may I leave early?")
        teach.send(ev.Whisper(to="bob", text="eyes on your own paper"))  # from the teacher: goes
        bob.expect(ev.Direct, sender="teach", text="eyes on your own paper")
        assert not [e for e in bob.drain() if isinstance(e, ev.Direct)]  # ann's answer never reached bob
        bob.send(ev.Moderate(action="unrestrict", kinds=("dm",)))  # a student cannot lift it
        bob.expect(ev.Error, code=ev.E_NOT_OPERATOR)
        bob.send(ev.Moderate(action="restrict", kinds=("files",)))  # nor add one
        bob.expect(ev.Error, code=ev.E_NOT_OPERATOR)
        cat = RawClient(endpoint)  # a newcomer is told, after the welcome
        cat.hello("cat")
        cat.expect(ev.Welcome)
        note = cat.expect(ev.Notice, code=ev.E_RESTRICTED)
        assert "direct messages between students are off" in note.message  # type: ignore[attr-defined]
        _restrict(teach, "unrestrict", "dm")
        ann.expect(ev.Notice, code=ev.E_RESTRICTED, message="teach turned direct messages between students back on")
        ann.send(ev.Whisper(to="bob", text="lunch?"))
        bob.expect(ev.Direct, sender="ann", text="lunch?")


def test_students_cannot_offer_files_while_the_teacher_still_can():
    with running_server() as (server, endpoint):
        teach = local_host(server, "teach")
        ann = RawClient(endpoint, "ann")
        _restrict(teach, "restrict", "files")
        ann.expect(ev.Notice, code=ev.E_RESTRICTED)
        ann.send(ev.OfferFile(ref=1, name="answers.txt", size=10))
        refused = ann.expect(ev.FileError, ref=1)
        assert refused.code == ev.E_RESTRICTED  # type: ignore[attr-defined]
        assert "files from students are off" in refused.message  # type: ignore[attr-defined]
        ann.send(ev.OfferFile(ref=2, name="answers.txt", size=10, to="teach"))  # to the teacher too: files are off
        ann.expect(ev.FileError, ref=2, code=ev.E_RESTRICTED)
        teach.send(ev.OfferFile(ref=3, name="sheet.pdf", size=10))
        teach.expect(ev.UploadReady, ref=3)
        ann.send(ev.Whisper(to="teach", text="dm still on"))  # only files are off
        teach.expect(ev.Direct, sender="ann")
        _restrict(teach, "restrict")  # alone: what is off now
        assert "files from students are off" in teach.expect(ev.Notice, code=ev.E_RESTRICTED).message  # type: ignore[attr-defined]
        _restrict(teach, "unrestrict", "files")
        ann.expect(ev.Notice, code=ev.E_RESTRICTED)
        ann.send(ev.OfferFile(ref=4, name="notes.txt", size=10))
        ann.expect(ev.UploadReady, ref=4)
