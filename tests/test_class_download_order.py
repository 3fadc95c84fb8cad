"""A class's /get said in the same pass as a chat line: the file-start goes before the file's bytes.

Found playing a lesson of 30 (bench/lesson_bench.py): a student's ``get`` arriving in the same
server pass as someone's chat line had its ``file-start`` held behind that line's history commit
(Hub.perform), while the download pacer, run before the commit, already queued the file's first
chunks; the client dropped those (no download of that id had started) and waited for ever, 300 KiB
short. Here with the hub alone (tests/test_hub.py's Lab) and a file store that starts a download
the way server_files.ServerFiles does: the download registered at once, its ``file-start`` an action.
"""

from __future__ import annotations

from test_hub import EndlessFiles, Lab

from lanchat import events as ev
from lanchat.actions import Send


class StartingFiles(EndlessFiles):
    """``get`` starts the endless download for its sender, answered with a ``file-start``."""

    def handle(self, room, cid, event):  # noqa: ANN001, ANN201
        if isinstance(event, ev.GetFile):
            self.reader = cid
            return [Send(to=cid, event=ev.FileStart(id="1", name="dataset.bin", size=10**9, sha256="0" * 64))]
        return []


def file_events(events: list[object]) -> list[str]:
    return [type(event).__name__ for event in events if isinstance(event, (ev.FileStart, ev.FileBytes))]


def test_a_get_behind_a_chat_line_in_one_pass_gets_its_file_start_before_any_chunk():
    lab = Lab(history=True, files=StartingFiles())
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    bob.says(ev.Say(text="downloading now"), ev.GetFile(id="1", binary=True))  # one read, one pass
    heard = file_events(bob.hears())
    assert heard[0] == "FileStart", heard[:3]
    assert lab.writers[bob.cid].writing  # the loop is woken when bob can take more: the next pass
    assert "FileBytes" in file_events(bob.hears())  # and the download goes on then


def test_a_get_behind_another_students_chat_line_in_one_pass_too():
    lab = Lab(history=True, files=StartingFiles())
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.says(ev.Say(text="what is framing?"))  # read first in the same pass, not yet flushed
    bob.says(ev.GetFile(id="1", binary=True))
    heard = file_events(bob.hears())
    assert heard[0] == "FileStart", heard[:3]
