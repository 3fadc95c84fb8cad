"""colourbot.py: the mood-to-colour conversation (seed 000), one small state machine per person. Never does I/O.

Seed 000's Local Chat Messenger asks what mood you are in, answers with a random colour
embedded in a Computer Hope colour-page link, and asks "Happy with it? (Y/N)" until you
say Y. Here that conversation is a pure object: ``ColourBot`` takes what a person said
and returns the replies as plain strings. Where they travel (direct messages over a
socket) is bots.py's business. Randomness comes from an injected Faker, so a seeded
``Faker`` makes every suggestion reproducible; faker itself is imported only when a bot
is made without one, so importing this module (or starting lanchat) stays fast.

Each person's exchange moves through three states::

    ASK_MOOD --(any mood)--> ASK_HAPPY --(Y)--> DONE --(/mood)--> ASK_MOOD
    ASK_MOOD --(Y or N)--> ASK_MOOD (the question again: nothing was suggested yet)
                             ASK_HAPPY --(N)--> ASK_HAPPY (another suggestion)
                             ASK_HAPPY --(anything else)--> ASK_HAPPY (the question again)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

BOT_NAME = "colourbot"
COMPUTER_HOPE_URL = "https://www.computerhope.com/cgi-bin/htmlcolor.pl?c="
START_COMMAND = "/mood"  # what a person whispers (or types, via Session's /mood) to start again
FAREWELL = "Great choice,"  # how the closing line after a Y begins (is_farewell)
MAX_MOOD_CHARS = 60  # the mood is echoed back; a pasted essay is shortened, not repeated

ASK_MOOD = "ask-mood"
ASK_HAPPY = "ask-happy"
DONE = "done"

_HEX_RE = re.compile(r"#?([0-9A-Fa-f]{6})")
# A suggestion in a message is recognised by its link, so a swatch never appears for a
# random "#abcdef" someone typed; see suggestion_colour().
_LINK_RE = re.compile(re.escape(COMPUTER_HOPE_URL) + r"([0-9A-Fa-f]{6})\b")

YES_WORDS = frozenset({"y", "yes", "yeah", "yep"})
NO_WORDS = frozenset({"n", "no", "nope"})


def colour_link(hex_code: str) -> str:
    """The Computer Hope page for a colour: ``"#a1b2c3"`` -> ``...htmlcolor.pl?c=A1B2C3``.

    Accepts six hex digits with or without ``#``, in any case; raises ValueError otherwise.
    """
    match = _HEX_RE.fullmatch(hex_code.strip())
    if match is None:
        raise ValueError(f"{hex_code!r} is not a colour: expected six hex digits such as #1E90FF")
    return COMPUTER_HOPE_URL + match.group(1).upper()


def suggest_colour(fake: Any, avoid: Any = ()) -> str:
    """A random colour as six uppercase hex digits (no ``#``), never one listed in ``avoid``.

    ``fake`` is a Faker (or anything with ``hex_color()`` returning ``"#rrggbb"``); seed it
    with ``fake.seed_instance(7)`` to get the same colours every run. ``avoid`` entries may
    carry a ``#`` and any case.
    """
    avoided = {entry.strip().lstrip("#").upper() for entry in avoid}
    if len(avoided) >= 16**6:
        raise ValueError("every colour is avoided; there is nothing left to suggest")
    candidate = fake.hex_color().lstrip("#").upper()
    for _ in range(100):  # a repeat is a 1-in-16-million event; 100 tries is plenty
        if candidate not in avoided:
            return candidate
        candidate = fake.hex_color().lstrip("#").upper()
    # A fake that keeps repeating itself (a stub, say): walk on from its last answer.
    value = int(candidate, 16)
    while f"{value:06X}" in avoided:
        value = (value + 1) % 16**6
    return f"{value:06X}"


def is_farewell(text: str) -> bool:
    """Whether a line from the bot is its closing line after a Y."""
    return text.startswith(FAREWELL)


def suggestion_colour(text: str) -> str | None:
    """``"#RRGGBB"`` when ``text`` carries a Computer Hope colour link, else None.

    Session uses it to give a direct message its swatch colour (session.Line.colour).
    """
    match = _LINK_RE.search(text)
    return "#" + match.group(1).upper() if match else None


def _answer_word(text: str) -> str:
    """``" Yes! "`` -> ``"yes"``: what is left of an answer once case and punctuation go."""
    return text.strip().strip(".!?,;:'\"").strip().casefold()


@dataclass
class Exchange:
    """Where one person's conversation with the bot stands."""

    state: str = ASK_MOOD
    mood: str = ""
    suggested: list[str] = field(default_factory=list)  # this exchange's colours, oldest first

    @property
    def colour(self) -> str | None:
        return self.suggested[-1] if self.suggested else None


class ColourBot:
    """Seed 000's colour messenger as a conversation with many people at once.

    Every method takes what one person did and returns the replies for that person, in
    order (each reply is one direct message). People are told apart by name, ignoring case.

    >>> from faker import Faker
    >>> fake = Faker(); fake.seed_instance(7)
    >>> bot = ColourBot(fake)
    >>> bot.greet("ann")[-1]
    'What mood are you in?'
    """

    def __init__(self, fake: Any = None, *, name: str = BOT_NAME, seed: int | None = None) -> None:
        if fake is None:
            from faker import Faker  # lazily: only a server started with --bot pays for it

            fake = Faker()
        if seed is not None:
            fake.seed_instance(seed)
        self.fake = fake
        self.name = name
        self.exchanges: dict[str, Exchange] = {}
        # True in a room that closes when its last person leaves (serve --once, the welcome's
        # "once"): there a Y ends the person's chat, as seed 000's client exits after Y.
        self.room_closes = False

    # ------------------------------------------------------------------ queries

    def state_of(self, person: str) -> str | None:
        """ASK_MOOD, ASK_HAPPY, DONE, or None for someone the bot has not talked to."""
        exchange = self.exchanges.get(person.casefold())
        return exchange.state if exchange else None

    def colour_of(self, person: str) -> str | None:
        """The last colour suggested to ``person`` (six hex digits), if any."""
        exchange = self.exchanges.get(person.casefold())
        return exchange.colour if exchange else None

    # ------------------------------------------------------------------ events

    def greet(self, person: str, *, alone: bool = True) -> list[str]:
        """Someone joined the room: say hello and ask the seed's question. In a room shared with
        other people (``alone`` false) one whisper is enough, and it says how to answer, since a
        plain line there goes to everyone; the exchange is open all the same."""
        if not alone:
            self.start(person)
            return [f"Hi {person}, I am {self.name}: whisper me your mood (/mood MOOD) and I will find you a colour for it."]
        return [
            f"Hi {person}, I am {self.name}: tell me your mood and I will find you a colour for it.",
            *self.start(person),
        ]

    def start(self, person: str) -> list[str]:
        """Begin (or begin again) an exchange: ask for the mood."""
        self.exchanges[person.casefold()] = Exchange()
        return ["What mood are you in?"]

    def forget(self, person: str) -> None:
        """The person left; their exchange goes with them."""
        self.exchanges.pop(person.casefold(), None)

    def hear(self, person: str, text: str, *, direct: bool = True) -> list[str]:
        """What ``person`` said -> the bot's replies.

        ``direct`` is False for a room message (heard only when the person is alone with the
        bot): then the bot answers only while it is waiting for an answer, so ordinary
        chatter after the exchange gets no reply.
        """
        said = text.strip()
        word, _, rest = said.partition(" ")
        if word.casefold() == START_COMMAND:
            replies = self.start(person)
            if rest.strip():  # "/mood sleepy": the question and its answer in one go
                return self.hear(person, rest)
            return replies
        exchange = self.exchanges.get(person.casefold())
        if exchange is None or exchange.state == DONE:
            if not direct:
                return []
            return [f"Type {START_COMMAND} when you would like a colour for your mood."]
        if exchange.state == ASK_MOOD:
            return self._suggest_first(exchange, said)
        return self._answer(person, exchange, said)

    # ----------------------------------------------------------------- helpers

    def _suggest_first(self, exchange: Exchange, mood: str) -> list[str]:
        if not mood:
            return ["What mood are you in? (any word will do: happy, sleepy, curious...)"]
        if _answer_word(mood) in YES_WORDS | NO_WORDS:  # a /y typed early read "For your Y mood, try ..."
            return ["Y and N answer a colour I suggest, and I have not suggested one yet. "
                    "What mood are you in? (any word will do: happy, sleepy, curious...)"]  # fmt: skip
        if len(mood) > MAX_MOOD_CHARS:
            mood = mood[: MAX_MOOD_CHARS - 3].rstrip() + "..."
        exchange.mood = mood
        colour = self._new_colour(exchange)
        return [f"For your {mood} mood, try #{colour}: {colour_link(colour)}", "Happy with it? (Y/N)"]

    def _answer(self, person: str, exchange: Exchange, answer: str) -> list[str]:
        word = _answer_word(answer)
        if word in YES_WORDS:
            exchange.state = DONE
            if self.room_closes:  # seed 000: Y ends the chat, so offer no next step
                return [f"{FAREWELL} {person}! Enjoy #{exchange.colour}. Goodbye."]
            return [f"{FAREWELL} {person}! Enjoy #{exchange.colour}. Type {START_COMMAND} for another colour."]
        if word in NO_WORDS:
            colour = self._new_colour(exchange)
            return [f"Here is another suggestion: #{colour}: {colour_link(colour)}", "Happy with it? (Y/N)"]
        return [f"Please answer Y or N: are you happy with #{exchange.colour}? (Y/N)"]

    def _new_colour(self, exchange: Exchange) -> str:
        colour = suggest_colour(self.fake, avoid=exchange.suggested)
        exchange.suggested.append(colour)
        exchange.state = ASK_HAPPY
        return colour
