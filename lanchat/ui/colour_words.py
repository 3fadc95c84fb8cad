"""colour_words.py: a colour said in words ("teal", "pale pink"), for whoever cannot see
the colour bot's swatch as its colour. Pure: a function of three numbers; no terminal, no I/O.

The colour bot suggests "#2E8B57" and the full screen draws a block of it. A colour-blind
student (about 1 in 12 boys) sees a block that may be red or green, a blind student's screen
reader says "hash two E eight B five seven", and a monochrome terminal draws it in its one
colour. Both front ends now name it beside the hex: a hue in everyday words, with how dark,
light or greyish it is. The words are a guide, not a standard's name: the hex is exact.
"""

from __future__ import annotations

import colorsys
import re

# Hue bands, in degrees around the colour wheel, each up to its upper bound (the last wraps to red)
HUES = ((15, "red"), (40, "orange"), (65, "yellow"), (90, "yellow-green"), (150, "green"), (190, "turquoise"),
        (255, "blue"), (310, "purple"), (340, "pink"), (360, "red"))  # fmt: skip
DARK_BELOW = 0.3  # HLS lightness under which a colour is "dark" (or a name of its own: brown, olive, teal)
LIGHT_ABOVE = 0.75  # and over which it is "pale"; over LIGHT_FROM (and up to it), "light"
LIGHT_FROM = 0.6
GREY_BELOW = 0.15  # HLS saturation under which it is a grey; under GREYISH_BELOW it is "greyish"
GREYISH_BELOW = 0.35
_HEX = re.compile(r"#?([0-9A-Fa-f]{6})")


def parse_hex(text: object) -> tuple[int, int, int] | None:
    """``"#1A2B3C"`` or ``"1a2b3c"`` -> (26, 43, 60); anything else -> None."""
    if not isinstance(text, str):
        return None
    match = _HEX.fullmatch(text.strip())
    if not match:
        return None
    value = int(match.group(1), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def suggestion_words(colour: object) -> str | None:
    """A transcript line's colour (``Line.colour``, "#RRGGBB") in words; None: it has none."""
    rgb = parse_hex(colour)
    return None if rgb is None else colour_words(rgb)


def colour_words(rgb: tuple[int, int, int]) -> str:
    """``rgb`` (0-255 each) in a few everyday words: "teal", "light turquoise", "pale pink", "grey", "brown"."""
    hue, lightness, saturation = colorsys.rgb_to_hls(*(max(0, min(255, value)) / 255 for value in rgb))
    if lightness < 0.08:
        return "black"
    if lightness > 0.95:
        return "white"
    if saturation < GREY_BELOW or (max(rgb) - min(rgb)) < 20:
        return "dark grey" if lightness < 0.35 else "light grey" if lightness > 0.7 else "grey"
    name = next(name for bound, name in HUES if hue * 360 < bound or bound == 360)
    if lightness < 0.45 and name in ("orange", "yellow", "red") and hue * 360 >= 15:
        return "brown" if name != "yellow" else "olive"  # a dark orange is brown; a dark yellow, olive
    if name == "red" and lightness > 0.7:
        return "pink"  # a pale red has a name of its own
    if name == "turquoise" and lightness < 0.45:
        return "teal"  # a dark turquoise has a name of its own (the bot's mint #52E6B5 was said "teal")
    tone = "dark " if lightness < DARK_BELOW else "pale " if lightness > LIGHT_ABOVE else "light " if lightness > LIGHT_FROM else ""
    if saturation < GREYISH_BELOW and not tone:
        tone = "greyish "
    return tone + name
