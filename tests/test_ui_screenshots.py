"""tools/screenshots.py regenerates the README's pictures from the real program: run it into
a temporary folder and check every picture came out, drawn, at a terminal's size."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT, child_env
from PIL import Image

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def test_the_screenshot_script_draws_every_scene(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "screenshots.py"), "--out", str(tmp_path)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(path.name for path in tmp_path.glob("*.png"))
    assert names == ["direct_messages.png", "file_sharing.png", "returning_user.png", "server_and_client.png", "turn_based.png"]
    for path in tmp_path.glob("*.png"):
        with Image.open(path) as image:
            image.load()
            assert image.width >= 800 and image.height >= 300
            colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
            # text in several colours was drawn, not an empty window
            assert colours is None or len(colours) > 20, path.name
