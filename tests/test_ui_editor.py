"""The input line's editing, history and Tab completion, as pure functions (no terminal)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanchat.ui import editor as ed
from lanchat.ui.editor import LineEditor


@pytest.mark.parametrize(
    ("edit", "before", "after"),
    [
        (ed.left, (3, "hello"), (2, "hello")),
        (ed.left, (0, "hello"), (0, "hello")),
        (ed.right, (5, "hello"), (5, "hello")),
        (ed.home, (3, "hello"), (0, "hello")),
        (ed.end, (1, "hello"), (5, "hello")),
        (ed.backspace, (3, "hello"), (2, "helo")),
        (ed.backspace, (0, "hello"), (0, "hello")),
        (ed.delete, (0, "hello"), (0, "ello")),
        (ed.delete, (5, "hello"), (5, "hello")),
        (ed.kill_to_end, (2, "hello"), (2, "he")),
        (ed.kill_to_start, (2, "hello"), (0, "llo")),
        (ed.kill_word_back, (11, "hello world"), (6, "hello ")),
        (ed.kill_word_back, (6, "hello world"), (0, "world")),
        (ed.kill_word_back, (8, "ab  cd  ef"), (4, "ab  ef")),
        (ed.word_left, (11, "hello world"), (6, "hello world")),
        (ed.word_right, (0, "hello world"), (5, "hello world")),
    ],
)
def test_each_edit_is_a_function_of_cursor_and_text(edit, before, after):
    assert edit(*before) == after


def test_insert_anywhere_with_unicode():
    cursor, text = ed.insert(0, "", "héllo")
    cursor, text = ed.left(cursor, text)
    cursor, text = ed.insert(cursor, text, "日本😀")
    assert (cursor, text) == (7, "héll日本😀o")


def test_keys_by_name_drive_the_editor():
    line = LineEditor()
    line.type("world")
    for key in ("ctrl-a",):
        line.key(key)
    line.type("hello ")
    assert (line.cursor, line.text) == (6, "hello world")
    line.key("ctrl-e")
    line.key("ctrl-w")
    assert line.text == "hello "
    line.key("ctrl-u")
    assert (line.cursor, line.text) == (0, "")
    assert line.key("no-such-key") is False


def test_history_recalls_sent_lines_and_keeps_the_draft():
    line = LineEditor()
    for sent in ("first", "second"):
        line.type(sent)
        assert line.submit() == sent
    line.type("draft")
    line.key("up")
    assert line.text == "second"
    line.key("up")
    assert line.text == "first"
    line.key("up")  # stays at the oldest
    assert line.text == "first"
    line.key("down")
    assert line.text == "second"
    line.key("down")
    assert (line.text, line.cursor) == ("draft", 5)


def test_history_skips_blank_and_repeated_lines():
    line = LineEditor()
    for sent in ("same", "same", "   "):
        line.type(sent)
        line.submit()
    assert line.history == ["same"]


def test_tab_completes_a_name_ignoring_case():
    cursor, text, matches = ed.complete(5, "hi bo", ["Bob", "ann"], ["/who"])
    assert (cursor, text, matches) == (7, "hi Bob ", ["Bob"])


def test_tab_completes_commands_only_at_the_start():
    assert ed.complete(3, "/wh", ["whoever"], ["/who", "/w"])[1] == "/who "
    assert ed.complete(6, "hi /wh", ["whoever"], ["/who"])[2] == []


def test_tab_extends_to_the_shared_prefix_then_cycles():
    line = LineEditor()
    line.type("hey an")
    names = ["annabel", "annie", "bob"]
    line.key("tab", names=names)
    assert line.text == "hey ann"
    line.key("tab", names=names)  # nothing more in common: the next Tab starts cycling
    line.key("tab", names=names)
    assert line.text == "hey annabel "
    line.key("tab", names=names)
    assert line.text == "hey annie "
    line.key("tab", names=names)
    assert line.text == "hey annabel "


def test_tab_with_no_match_changes_nothing():
    line = LineEditor()
    line.type("zz")
    line.key("tab", names=["ann"])
    assert (line.cursor, line.text) == (2, "zz")


KEYS = ["left", "right", "home", "end", "backspace", "delete", "ctrl-k", "ctrl-u", "ctrl-w", "ctrl-left", "ctrl-right", "up", "down", "tab"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(KEYS), st.text(max_size=5), st.just("\n")), max_size=40))
def test_any_key_sequence_keeps_the_cursor_inside_the_text(actions):
    line = LineEditor()
    for action in actions:
        if action == "\n":
            line.submit()
        elif action in KEYS:
            line.key(action, names=["ann", "annie", "bob"], commands=["/who", "/w"])
        else:
            line.type(action)
        assert 0 <= line.cursor <= len(line.text)


def test_tab_after_send_quotes_a_path_with_spaces_so_send_reads_it_back_whole(tmp_path, monkeypatch):
    """README: Tab completes a path after /send, and a path with spaces goes in quotes. Tab put
    `week 3 slides.pdf` in bare, and /send then read `slides.pdf` as the NAME to send it to."""
    import shlex

    from lanchat.ui.screen import list_paths

    (tmp_path / "week 3 slides.pdf").write_text("x")
    (tmp_path / "week 3 notes.txt").write_text("x")
    (tmp_path / "my dir").mkdir()
    (tmp_path / "my dir" / "it's here.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    editor = LineEditor()
    editor.type("/send we")
    editor.key("tab", names=["bob"], paths=list_paths)
    assert editor.text == "/send 'week 3 '" and editor.last_matches == ["week 3 notes.txt", "week 3 slides.pdf"]
    editor.type("s")  # after the closing quote: still the path, as shlex reads it
    editor.key("tab", names=["bob"], paths=list_paths)
    assert editor.text == "/send 'week 3 slides.pdf' "
    editor.type("bo")
    editor.key("tab", names=["bob"], paths=list_paths)  # past the path: the NAME
    assert shlex.split(editor.text[len("/send ") :]) == ["week 3 slides.pdf", "bob"]
    folder = LineEditor()
    folder.type("/send my")
    folder.key("tab", names=["bob"], paths=list_paths)
    assert folder.text == "/send 'my dir/'"
    folder.key("tab", names=["bob"], paths=list_paths)  # on inside the folder
    assert shlex.split(folder.text[len("/send ") :]) == ["my dir/it's here.txt"] and folder.text.endswith(" ")
    cycling = LineEditor()
    cycling.type("/send 'week 3 ")
    cycling.key("tab", names=["bob"], paths=list_paths)
    cycling.key("tab", names=["bob"], paths=list_paths)  # several: Tab again steps through them, quoted
    assert cycling.text == "/send 'week 3 notes.txt' "


def test_tab_after_send_completes_paths_and_a_name_at_the_start_gets_a_colon(tmp_path, monkeypatch):
    from lanchat.ui.screen import list_paths

    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / ".hidden").write_text("x")
    monkeypatch.chdir(tmp_path)
    editor = LineEditor()
    editor.type("/send no")
    editor.key("tab", names=["bob"], paths=list_paths)
    assert editor.text == "/send note" and editor.last_matches == ["notebooks/", "notes.txt"]
    editor.type("s")
    editor.key("tab", names=["bob"], paths=list_paths)
    assert editor.text == "/send notes.txt "
    assert list_paths(".h") == [".hidden"] and ".hidden" not in list_paths("")
    assert list_paths(str(tmp_path) + "/notebo") == [str(tmp_path) + "/notebooks/"]  # a folder: Tab goes on inside
    fresh = LineEditor()
    fresh.type("bo")
    fresh.key("tab", names=["bob", "ann"])
    assert fresh.text == "bob: "


def test_lines_put_back_one_by_one_keep_the_order_typed_before_what_was_typed_after():
    editor = LineEditor()
    editor.type("three")  # typed after the lines submitted with it, not sent yet
    end = editor.put_back("one")
    end = editor.put_back("two", end)
    assert editor.text == "one\ntwo\nthree" and editor.cursor == len(editor.text)
    assert editor.put_back("again") == len("again")  # a new batch (0): in front of everything
    assert editor.text == "again\none\ntwo\nthree"
    empty = LineEditor()
    empty.put_back("b", empty.put_back("a"))
    assert empty.text == "a\nb"
    changed = LineEditor(text="xyz")
    changed.put_back("a", 2)  # the line changed since (no break at 2): in front
    assert changed.text == "a\nxyz"


def test_tab_after_send_finds_the_path_once(monkeypatch):
    """One Tab after /send read the line for the path three times (the editor, the matches, the
    filling-in); once now, and the path is still filled in, quoted."""
    calls = []
    found = ed.send_path_at

    def counted(cursor: int, text: str) -> tuple[int, str] | None:
        calls.append(text)
        return found(cursor, text)

    monkeypatch.setattr(ed, "send_path_at", counted)
    editor = LineEditor()
    editor.type('/send "week 3/sl')
    editor.key("tab", paths=lambda partial: ["week 3/slides.pdf"] if "week 3/slides.pdf".startswith(partial) else [])
    assert editor.text == "/send 'week 3/slides.pdf' "
    assert len(calls) == 1
    several = LineEditor()
    several.type("/send n")
    several.key("tab", paths=lambda partial: ["notes.txt", "notebooks/"])
    assert several.text == "/send note" and len(calls) == 2 and several.last_matches == ["notebooks/", "notes.txt"]


def test_ctrl_y_puts_back_everything_a_run_of_delete_keys_cut():
    """Three Ctrl-W for three words, then Ctrl-Y to undo the mistake, put back only the last word
    cut: the other two were gone. As in readline (bash), deletes in a row cut one piece: Ctrl-Y
    puts all of it back, in its order, backward (Ctrl-W, Ctrl-U) and forward (Ctrl-K, Alt-d)."""
    line = LineEditor()
    line.type("one two three four")
    for _ in range(3):
        line.key("ctrl-w")
    assert line.text == "one "
    line.key("ctrl-y")
    assert line.text == "one two three four"
    line.set(0, "alpha beta gamma")
    line.key("alt-d")
    line.key("alt-d")
    line.key("ctrl-k")
    assert line.text == ""
    line.key("ctrl-y")
    assert line.text == "alpha beta gamma"
    line.set(5, "abcdefghij")
    line.key("ctrl-w")  # a run ends with any other key: this cut stands alone
    line.key("right")
    line.key("ctrl-k")
    line.key("ctrl-y")
    assert line.text == "fghij"


def test_tab_after_sending_completes_afresh_not_the_last_lines_list():
    """"thanks cynthia and " + Tab listed the names; Enter sent the line; a Tab on the new, empty
    line then put "ann: " in (the old list stepping on, its start past the new text's end, the
    cursor beyond the text). A Tab after the line changed starts over."""
    line = LineEditor()
    names = ["ann", "bob", "cynthia"]
    line.type("thanks cynthia and ")
    line.key("tab", names=names)
    assert line.last_matches == names and line.text == "thanks cynthia and "
    assert line.submit() == "thanks cynthia and "
    line.key("tab", names=names)
    assert (line.text, line.cursor) == ("", 0)  # listed again, nothing put in
    line.key("tab", names=names)
    assert (line.text, line.cursor) == ("ann: ", 5)  # the second Tab steps through them


def test_recall_and_search_pass_over_the_lines_it_is_told_to_keep_off_screen():
    """Projector mode: Up and Ctrl-R brought a sent `/w bob your mark...` back into the input line
    the class sees. Lines the editor is told are private (``keeps_off_screen``) are passed over,
    as if they had not been sent; the others come back in their order, and the draft after them."""
    editor = LineEditor()
    for line in ("hello", "/w bob your mark is 12", "next slide", "/msg cy see me"):
        editor.type(line)
        editor.submit()
    editor.keeps_off_screen = lambda text: text.startswith(("/w ", "/msg "))
    editor.type("draft")
    editor.key("up")
    assert editor.text == "next slide"
    editor.key("up")
    assert editor.text == "hello"
    editor.key("up")
    assert editor.text == "hello"  # the oldest shown: no further
    editor.key("down")
    assert editor.text == "next slide"
    editor.key("down")
    assert editor.text == "draft"
    editor.key("ctrl-r")
    editor.type("mark")
    assert editor.search_match == ""  # the whisper is not found
    editor.key("backspace"), editor.key("backspace"), editor.key("backspace"), editor.key("backspace")
    editor.type("e")
    assert editor.search_match == "next slide"
    editor.key("ctrl-r")
    assert editor.search_match == "hello"  # past the whisper, to the older match
    editor.key("ctrl-g")
    editor.keeps_off_screen = lambda text: False  # projector mode off: they come back
    editor.key("up")
    assert editor.text == "/msg cy see me"


def test_tab_after_help_completes_a_command_name():
    """`/help se` and Tab: the command's name (/help NAME shows its row), not a person's."""
    commands, names = ["/help", "/send", "/say", "/who"], ["sebastian"]
    assert ed.completions(8, "/help se", names, commands)[1] == ["/send"]
    assert ed.completions(9, "/help /wh", names, commands)[1] == ["/who"]
    assert ed.completions(6, "hi /se", names, commands)[1] == []  # not after a message's word
    assert ed.completions(6, "/w se", names, commands)[1] == ["sebastian"]
