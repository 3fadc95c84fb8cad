"""screenshots.py: regenerate screen_shots/*.png from the real running program.

Each scene runs ``python -m lanchat`` in pseudo-terminals (tests/helpers.TermProc), types
into them like a person would, waits for the screen to show the result, and then draws
what the terminal emulator (pyte) holds with Pillow, in DejaVu Sans Mono when it is
installed (Pillow's own font otherwise). Nothing is mocked: a screenshot that looks right
is a screen that works.

    python tools/screenshots.py              # writes screen_shots/*.png
    python tools/screenshots.py --out DIR    # somewhere else (the test uses a temp folder)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from helpers import TermProc, wait_for  # noqa: E402

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_SIZE = 15
BACKGROUND = (24, 24, 27)
FOREGROUND = (208, 208, 208)
CHROME = (52, 52, 58)
CHROME_TEXT = (190, 190, 196)
# pyte names the 16 basic colours; everything from 38;5;N arrives as a hex string
NAMED = {
    "black": (0, 0, 0),
    "red": (205, 49, 49),
    "green": (13, 188, 121),
    "brown": (229, 229, 16),
    "blue": (36, 114, 200),
    "magenta": (188, 63, 188),
    "cyan": (17, 168, 205),
    "white": (229, 229, 229),
}


def _font(bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
    try:
        return ImageFont.truetype(str(FONT_DIR / name), FONT_SIZE)
    except OSError:
        return ImageFont.load_default()


def _colour(value: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
    if value == "default":
        return default
    if value in NAMED:
        return NAMED[value]
    if re.fullmatch(r"[0-9a-fA-F]{6}", value):
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    return default


def draw_terminal(term: TermProc, title: str) -> Image.Image:
    """One terminal window: a title bar, then every cell of the pyte screen in its colours."""
    regular, bold = _font(False), _font(True)
    left, top, right, bottom = regular.getbbox("M")
    cell_w = max(1, round(regular.getlength("M"))) if hasattr(regular, "getlength") else right - left
    cell_h = FONT_SIZE + 4
    bar = cell_h + 8
    with term._changed:  # a consistent copy of the screen while the reader thread is quiet
        screen = term.screen
        rows, cols = screen.lines, screen.columns
        buffer = [[screen.buffer[y][x] for x in range(cols)] for y in range(rows)]
        cursor = (screen.cursor.y, screen.cursor.x)
    image = Image.new("RGB", (cols * cell_w + 16, rows * cell_h + bar + 12), BACKGROUND)
    pen = ImageDraw.Draw(image)
    pen.rectangle((0, 0, image.width, bar), fill=CHROME)
    for index, colour in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        cx = 14 + index * 20
        pen.ellipse((cx - 6, bar // 2 - 6, cx + 6, bar // 2 + 6), fill=colour)
    pen.text((80, (bar - FONT_SIZE) // 2 - 1), title, font=regular, fill=CHROME_TEXT)
    for y, row in enumerate(buffer):
        for x, char in enumerate(row):
            fg = _colour(char.fg, FOREGROUND)
            bg = _colour(char.bg, BACKGROUND)
            if char.reverse:
                fg, bg = bg, fg
            if (y, x) == cursor:
                fg, bg = BACKGROUND, (220, 220, 220)
            px, py = 8 + x * cell_w, bar + 6 + y * cell_h
            wide = x + 1 < cols and row[x + 1].data == ""
            if bg != BACKGROUND:
                pen.rectangle((px, py, px + cell_w * (2 if wide else 1) - 1, py + cell_h - 1), fill=bg)
            if char.data.strip():
                pen.text((px, py + 1), char.data, font=bold if char.bold else regular, fill=fg)
    return image


def side_by_side(images: list[Image.Image], gap: int = 18) -> Image.Image:
    width = sum(image.width for image in images) + gap * (len(images) + 1)
    height = max(image.height for image in images) + 2 * gap
    sheet = Image.new("RGB", (width, height), (236, 236, 240))
    x = gap
    for image in images:
        sheet.paste(image, (x, gap))
        x += image.width + gap
    return sheet


# ------------------------------------------------------------------ scenes


class Scene:
    """Starts terminals, and stops every one of them (by PID) whatever happens."""

    def __init__(self) -> None:
        self.terms: list[TermProc] = []

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        for term in self.terms:
            term.stop()

    def host(self, *extra: str, name: str, rows: int = 22, cols: int = 80) -> tuple[TermProc, int]:
        term = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", name, *extra, rows=rows, cols=cols)
        self.terms.append(term)
        match = wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(term.raw)), what="the port")
        term.expect(rf"{name} │ host")
        return term, int(match.group(1))  # type: ignore[union-attr]

    def join(self, port: int, name: str, *extra: str, rows: int = 22, cols: int = 80) -> TermProc:
        term = TermProc("connect", "127.0.0.1", str(port), "--name", name, *extra, rows=rows, cols=cols)
        self.terms.append(term)
        term.expect(rf"{name} │ client")
        return term


def say(term: TermProc, text: str, shows: str | None = None) -> None:
    """Type like a person (the text, then Enter) and wait until the screen shows it."""
    term.send(text)
    term.wait_screen(lambda rows: text[-20:] in rows[-1], what=f"{text!r} typed")  # long text scrolls sideways
    term.send("\r")
    if shows:
        term.expect(shows)


def scene_server_and_client(out: Path) -> Path:
    """Seed 001's picture: the server (left) and the client (right) chatting."""
    with Scene() as scene:
        ann, port = scene.host(name="ann")
        bob = scene.join(port, "bob")
        ann.expect("bob joined")
        say(bob, "hi! is this the chat for the networking class?", r"bob: hi! is this")
        ann.expect("bob: hi! is this")
        say(ann, "it is: every message is a 4-byte length, then JSON", r"ann: it is")
        bob.expect("ann: it is")
        say(bob, "and the server stamps the time and my name on it?", r"bob: and the server")
        ann.expect("bob: and the server")
        say(ann, "exactly, bob. try a long one to see it wrap under the text, not under a fake name", r"ann: exactly")
        bob.expect(r"ann: exactly")
        say(bob, "très bien ✓ ça marche", r"bob: très bien")
        ann.expect(r"bob: très bien")
        bob.send("typing…")
        bob.wait_screen(lambda rows: "typing…" in rows[-1])
        ann.wait_screen(lambda rows: "bob is typing…" in rows[-2], what="the typing hint")
        path = out / "server_and_client.png"
        side_by_side([draw_terminal(ann, "ann: lanchat serve"), draw_terminal(bob, "bob: lanchat connect")]).save(path)
    return path


def scene_turn_based(out: Path) -> Path:
    """Walkie-talkie mode: the prompt says whose turn it is, and type-ahead waits."""
    with Scene() as scene:
        ann, port = scene.host("--mode", "turn", name="ann")
        bob = scene.join(port, "bob")
        ann.expect("bob joined")
        holder = bob.wait_screen(lambda rows: re.search(r"turn │ (your turn|waiting for (\w+))", rows[-2]))
        terms = {"ann": ann, "bob": bob}
        first = "bob" if holder.group(1) == "your turn" else holder.group(2)  # type: ignore[union-attr]
        second = "ann" if first == "bob" else "bob"
        lines = ["ready when you are. over", "loud and clear. over", "then let's take turns. over"]
        speaker, listener = first, second
        for text in lines:
            say(terms[speaker], text, rf"{speaker}: {re.escape(text)}")
            terms[listener].expect(rf"{speaker}: {re.escape(text)}")
            speaker, listener = listener, speaker
        # now it is `speaker`'s turn; `listener` types ahead and is told to wait
        terms[listener].send("I was going to say")
        terms[listener].wait_screen(lambda rows: rows[-1].startswith("[waiting for") and "going to say" in rows[-1])
        terms[listener].send("\r")
        terms[listener].expect("not your turn yet")
        path = out / "turn_based.png"
        side_by_side([draw_terminal(ann, "ann: lanchat serve --mode turn"), draw_terminal(bob, "bob: lanchat connect")]).save(path)
    return path


def scene_direct_messages(out: Path) -> Path:
    """Three people and the colour bot; direct messages, a mention, the roster pane."""
    with Scene() as scene:
        ann, port = scene.host("--bot", "colour", "--bot-seed", "7", name="ann", rows=24, cols=110)
        bob = scene.join(port, "bob", rows=24, cols=110)
        cat = scene.join(port, "cat", rows=24, cols=110)
        bob.expect("cat joined")
        say(ann, "welcome both! /w NAME TEXT sends a direct message", r"ann: welcome both")
        bob.expect("ann: welcome both")
        say(cat, "/w bob did you finish the framing exercise?", r"cat → bob")
        bob.expect(r"cat → bob")
        say(bob, "/w cat yes: recv() can return half a frame, so buffer until the length is there", r"bob → cat")
        say(cat, "thanks bob, that was the bug", r"cat: thanks bob")
        bob.expect(r"cat: thanks bob")
        if "colourbot" in bob.text:
            say(bob, "/mood calm", None)
            bob.expect(r"colourbot → bob: .*#[0-9A-Fa-f]{6}", timeout=10)
            bob.expect(r"just type your answer")  # the whole exchange drawn, not half a frame
        path = out / "direct_messages.png"
        draw_terminal(bob, "bob: lanchat connect (direct messages, who is here)").save(path)
    return path


def scene_file_sharing(out: Path) -> Path:
    """Seed 002's file sharing: an offer with the command to fetch it, /files, a checked download,
    and the offerer told who fetched it."""
    with tempfile.TemporaryDirectory(prefix="lanchat-shots-") as folder, Scene() as scene:
        slides = Path(folder) / "week3-sockets.pdf"
        slides.write_bytes(os.urandom(3 * 1024 * 1024 + 123_456))
        downloads = Path(folder) / "Downloads"
        downloads.mkdir()
        ann, port = scene.host("--files-dir", str(Path(folder) / "server-files"), name="ann")
        bob = scene.join(port, "bob", "--downloads", str(downloads))
        ann.expect("bob joined")
        say(ann, "the slides for today are coming your way", r"ann: the slides")
        say(ann, f"/send {slides}", r"is on offer to the room as #1")
        bob.expect(r"/get 1")
        say(bob, "/files", r"#1 week3-sockets\.pdf")
        say(bob, "/get 1", r"SHA-256 checked")
        say(bob, "got them, thanks! checked and saved", r"bob: got them")
        ann.expect(r"bob: got them")  # the host's screen too, before it is drawn
        ann.expect(r"week3-sockets\.pdf \(#1\): fetched by bob")  # she is told who has her file (written before his thanks)
        path = out / "file_sharing.png"
        side_by_side([draw_terminal(ann, "ann: /send FILE"), draw_terminal(bob, "bob: /files, /get ID")]).save(path)
    return path


def scene_returning_user(out: Path) -> Path:
    """A returning user: the [History] block from two days ago and today, with a day-change line;
    the roster pane with someone away; the topic and a typing hint in the status line."""
    import time

    from helpers import first_release_history

    with tempfile.TemporaryDirectory(prefix="lanchat-shots-") as folder, Scene() as scene:
        now = time.time()
        earlier = now - 2 * 86_400
        said = [
            (earlier, "ann", None, "lab 2 is up: a server that echoes every line back"),
            (earlier + 40, "bob", None, "mine echoes, but only the first 1024 bytes of a paste?"),
            (earlier + 95, "ann", None, "recv(1024) returns at most 1024 bytes: loop until you have it all"),
            (earlier + 130, "bob", "ann", "thanks, that was it"),
            (now - 900, "cat", None, "is today's lab the framing one?"),
            (now - 840, "ann", None, "yes: a 4-byte length, then the message"),
        ]
        store = first_release_history(Path(folder) / "history.sqlite3", said)
        ann, port = scene.host("--history", str(store), name="ann", rows=24, cols=110)
        cat = scene.join(port, "cat", rows=24, cols=110)
        say(cat, "/away making tea", r"you are away")
        say(ann, "/topic lab 3: framing (4-byte length + JSON)", r"topic: lab 3")
        bob = scene.join(port, "bob", rows=24, cols=110)
        bob.expect(r"\[History\] ann: yes: a 4-byte length")
        bob.expect(r"cat \(away\)")
        ann.send("welcome back bo")  # ann is typing: bob's status line says so, never the text
        bob.wait_screen(lambda rows: "ann is typing…" in rows[-2], what="the typing hint")
        path = out / "returning_user.png"
        draw_terminal(bob, "bob: lanchat connect (a returning user: history, roster, topic)").save(path)
    return path


SCENES: dict[str, Callable[[Path], Path]] = {
    "server_and_client": scene_server_and_client,
    "turn_based": scene_turn_based,
    "direct_messages": scene_direct_messages,
    "file_sharing": scene_file_sharing,
    "returning_user": scene_returning_user,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screen_shots", help="folder for the PNG files")
    parser.add_argument("scenes", nargs="*", choices=[*SCENES, []], help="which scenes (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.scenes or SCENES:
        print(SCENES[name](args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
