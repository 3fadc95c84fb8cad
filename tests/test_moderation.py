"""Moderation (moderation.py through room.py) as a conversation with a pure room: hal hosts,
ann and bob are students, mallory misbehaves. Every command by an operator and by someone who
is not one; kick and ban, then coming back under a new name or key from the same address; a
mute across a reconnection; the turn passed on. After each, the room still serves the others.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from collections.abc import Callable, Collection

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_identity import auth, hello
from test_room import START, RoomDriver

from lanchat import events as ev
from lanchat import identity
from lanchat.limits import AddressGroups
from lanchat.moderation import Ban, Mute, ban_tries_due, key_id, mutes_end_at, mutes_ended, tick
from lanchat.moderation import ban_tries_due_at as next_ban_tries
from lanchat.protocol import encode
from lanchat.room import Claim, DropBans, DropMutes, KeepMode, Log, Record, Room, StoreBan, StoreMute
from lanchat.session import Local, Outgoing, Session

LAN = {"hal": "/tmp/chat.sock", "ann": "192.168.1.10", "bob": "192.168.1.11", "mallory": "192.168.1.66"}


class ModDriver(RoomDriver):
    """RoomDriver that also performs the moderation actions: acts kept, bans stored."""

    def __init__(self, mode: str = "duplex", **kwargs: object) -> None:
        super().__init__(mode, **kwargs)
        self.records: list[ev.Moderated] = []
        self.stored: dict[int, Ban] = {}
        self.stored_mutes: dict[int, Mute] = {}
        self.logged: list[str] = []
        self.kept_mode: str | None = None

    def perform(self, actions: list) -> list:
        rest = []
        for action in actions:
            if isinstance(action, Record):
                self.records.append(action.event)
            elif isinstance(action, StoreBan):
                self.stored[action.ban.id] = action.ban
            elif isinstance(action, DropBans):
                for ban_id in action.ids:
                    del self.stored[ban_id]
            elif isinstance(action, StoreMute):
                self.stored_mutes[action.mute.id] = action.mute
            elif isinstance(action, DropMutes):
                for mute_id in action.ids:
                    del self.stored_mutes[mute_id]
            elif isinstance(action, KeepMode):
                self.kept_mode = action.mode
            elif isinstance(action, Claim):
                pass  # the store's copy of name ownership; the gate already holds it
            elif isinstance(action, Log):
                self.logged.append(action.text)
            else:
                rest.append(action)
        return super().perform(rest)

    def arrive(self, name: str, *, address: str | None = None, key: bytes | str | None = None, host: bool = False) -> int:
        cid = self.connect(host=host)
        self.room.moderation.arrive(cid, address if address is not None else LAN.get(name, "10.0.0.1"), key)
        return self.join(name, cid=cid)

    def arrive_with_key(self, name: str, key: Ed25519PrivateKey) -> int:
        """Join under ``name`` proving ``key`` (hello, challenge, auth), as `lanchat connect` does."""
        cid = self.connect()
        self.room.moderation.arrive(cid, LAN.get(name, "10.0.0.1"))
        (challenge,) = self.perform(self.room.handle(cid, hello(key, name)))
        self.take(cid)
        self.perform(self.room.handle(cid, auth(key, challenge.event)))
        if self.room.name_of(cid) is not None:
            self.cid[name] = cid
        return cid

    def mod(self, who: str, action: str, name: str | None = None, **fields: object) -> list:
        return self.perform(self.room.handle(self.cid[who], ev.Moderate(action=action, name=name, **fields)))  # type: ignore[arg-type]

    def told(self, who: str) -> list[ev.Moderated]:
        return [e for e in self.take(who) if isinstance(e, ev.Moderated)]

    def still_serves(self, *names: str) -> None:
        """The room goes on: a message from the first reaches every one of them."""
        self.take_all()
        self.say(names[0], "still here")
        for name in names:
            got = [e for e in self.take(name) if isinstance(e, ev.Message)]
            assert [m.text for m in got] == ["still here"], f"{name} got {got}"


def classroom(mode: str = "duplex", **kwargs: object) -> ModDriver:
    room = ModDriver(mode, **kwargs)
    room.arrive("hal", host=True)
    for name in ("ann", "bob", "mallory"):
        room.arrive(name)
    room.take_all()
    return room


# ------------------------------------------------------------- who may moderate

COMMANDS = [
    ("op", "bob", {}),
    ("deop", "bob", {}),
    ("kick", "mallory", {"reason": "spam"}),
    ("ban", "mallory", {"reason": "spam"}),
    ("unban", "mallory", {}),
    ("bans", None, {}),
    ("mute", "mallory", {"minutes": 5}),
    ("unmute", "mallory", {}),
    ("mode", None, {"mode": "turn"}),
]  # /pass: in a duplex room nobody may (test_pass_outside_turn_mode_says_why); in turn mode, below


@pytest.mark.parametrize(("action", "name", "fields"), COMMANDS)
def test_a_student_who_is_not_an_operator_is_refused_and_nothing_happens(action, name, fields):
    room = classroom()
    room.mod("ann", action, name, **fields)
    error = room.only_error("ann")
    assert error.code == ev.E_NOT_OPERATOR and not error.fatal
    assert error.message == f"only an operator can use /{action}; hal (the host) is one"
    room.nobody_else_got_anything("hal", "bob", "mallory")
    assert room.records == [] and room.stored == {}
    assert room.room.names == ("hal", "ann", "bob", "mallory") and room.room.mode == "duplex"
    room.still_serves("mallory", "hal", "ann", "bob")


def test_the_host_makes_ann_an_operator_and_everyone_is_told():
    room = classroom()
    room.mod("hal", "op", "ann")
    for name in ("hal", "ann", "bob", "mallory"):
        got = room.take(name)
        assert got == [
            ev.Moderated(action="op", by="hal", name="ann", time=START),
            ev.Operators(names=("hal", "ann")),
        ]
    room.mod("ann", "kick", "mallory", reason="spam")  # now she may
    assert "mallory" not in room.room.names
    room.mod("hal", "deop", "ann")
    assert room.take("bob")[-1] == ev.Operators(names=("hal",))
    room.take_all()
    room.mod("ann", "mute", "bob")
    assert room.only_error("ann").code == ev.E_NOT_OPERATOR
    room.still_serves("bob", "hal", "ann")


def test_a_newcomer_hears_who_the_operators_are_besides_the_host():
    room = classroom()
    room.mod("hal", "op", "ann")
    cid = room.arrive("cat", address="192.168.1.12")
    got = room.take(cid)
    assert isinstance(got[0], ev.Welcome) and got[0].host == "hal"
    assert got[-1] == ev.Operators(names=("hal", "ann"))


def test_a_newcomer_hears_every_operator_in_join_order_by_connection_or_by_key():
    """Who the operators are is worked out at every join: the host, whom /op made one by their
    connection (a keyless guest) and whom it made one by their key (kept across reconnections)
    are all named, in the order they joined, and a /deop takes one out."""
    room = classroom()
    cy_key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    room.arrive("cy", address="192.168.1.13", key=cy_key)
    room.mod("hal", "op", "cy")  # by key
    room.mod("hal", "op", "bob")  # keyless: by connection
    assert room.room.moderation.operator_keys == {key_id(cy_key)}
    room.take_all()
    assert room.take(room.arrive("dee", address="192.168.1.14"))[-1] == ev.Operators(names=("hal", "bob", "cy"))
    room.mod("hal", "deop", "cy")
    assert room.take(room.arrive("eve", address="192.168.1.15"))[-1] == ev.Operators(names=("hal", "bob"))
    room.mod("hal", "deop", "bob")  # only the host is left: the welcome names the host, nothing more
    assert not [e for e in room.take(room.arrive("fay", address="192.168.1.16")) if isinstance(e, ev.Operators)]


def test_operators_are_named_in_join_order_not_in_connection_order_few_or_many():
    """A newcomer hears the operators in the order they joined, which is not the order they
    connected (one typed a password first): the few are put in order by their place in the
    roster, a room with more than FEW_OPERATORS by a pass over everyone; both say the same."""
    from lanchat.moderation import FEW_OPERATORS

    room = classroom()
    early, late = room.connect(), room.connect()  # connected in this order...
    for cid in (early, late):
        room.room.moderation.arrive(cid, "10.0.0.9")
    room.join("zed", cid=late)  # ... joined in the other
    room.join("amy", cid=early)
    for name in ("mallory", "zed", "amy", "ann"):
        room.mod("hal", "op", name)
    room.take_all()
    assert room.take(room.arrive("dee"))[-1] == ev.Operators(names=("hal", "ann", "mallory", "zed", "amy"))
    many = [f"op{n}" for n in range(FEW_OPERATORS + 2)]
    for name in reversed(many):  # joined last to first
        room.arrive(name)
    for name in many:
        room.mod("hal", "op", name)
    room.take_all()
    expected = ("hal", "ann", "mallory", "zed", "amy", *reversed(many))
    assert room.take(room.arrive("eve"))[-1] == ev.Operators(names=expected)


def test_serve_operator_makes_the_first_key_to_join_as_teach_an_operator_in_a_room_without_host():
    """serve --headless --operator teach: nobody owns teach yet. A guest without a key may not
    take the name; the first key to join as teach owns it and is an operator, everyone is told,
    and the key keeps it across a reconnection; another key can never be teach."""
    room = ModDriver(operators=("teach",))
    teach_key, other_key, ann_key = (Ed25519PrivateKey.generate() for _ in range(3))
    ann = room.arrive_with_key("ann", ann_key)
    room.take_all()
    guest = room.arrive("TEACH")  # a keyless guest (nc), before the teacher came
    assert room.only_error(guest).code == ev.E_NAME_OWNED and room.room.names == ("ann",)
    room.mod("ann", "kick", "ann")
    assert room.only_error("ann").message == "only an operator can use /kick; nobody here is an operator"
    teach = room.arrive_with_key("teach", teach_key)
    made = [ev.Moderated(action="op", by="the server", name="teach", reason="serve --operator", time=START), ev.Operators(names=("teach",))]
    assert room.take(teach)[-2:] == made and room.take(ann)[-2:] == made
    assert room.records == made[:1]
    assert room.logged == [f"teach (key {identity.short_fingerprint(identity.public_bytes(teach_key))}) is an operator (serve --operator)"]
    room.arrive("bob")
    room.take_all()
    room.mod("teach", "kick", "bob", reason="off task")
    assert "bob" not in room.room.names
    room.leave("teach")
    room.take_all()
    impostor = room.arrive_with_key("Teach", other_key)
    assert room.only_error(impostor).code == ev.E_NAME_OWNED
    assert room.room.moderation.operator_keys == {key_id(identity.public_bytes(teach_key))}
    back = room.arrive_with_key("teach", teach_key)
    assert room.take(back)[-1] == ev.Operators(names=("teach",))  # by its key, as after /op
    assert room.take(ann) == [ev.Joined(name="teach", time=START, rejoined=True), ev.Operators(names=("teach",))]  # its lost session back
    assert len(room.records) == 2  # the op once, the kick; not again on coming back
    room.still_serves("ann", "teach")


def test_in_a_room_without_host_the_serve_operator_takes_the_turn_after_the_students_even_leaving_with_it():
    """serve --headless --operator teach, a quiz: ann, then the teacher, then bob. The turn goes
    ann, bob, teach (the teacher last, as a host is), and when she leaves holding it, on to ann;
    back, she is last again, after cy who came after her. ann made an operator with /op keeps her place in join order, and in a
    hosted room the host goes last, the operator just before (room.turn_order)."""
    room = ModDriver("turn", operators=("teach",))
    room.arrive("ann")
    teach_key = Ed25519PrivateKey.generate()
    room.arrive_with_key("teach", teach_key)
    room.arrive("bob")
    assert room.room.turn_name == "ann"
    went = []
    for name in ("ann", "bob"):
        room.say(name, "my answer")
        went.append(room.room.turn_name)
    assert went == ["bob", "teach"]
    room.leave("teach")  # her laptop slept, holding the turn
    assert room.room.turn_name == "ann"
    room.arrive_with_key("teach", teach_key)
    room.arrive("cy")  # late, after the teacher came back
    room.mod("teach", "op", "ann")
    went = []
    for name in ("ann", "bob", "cy", "teach"):
        room.say(name, "my answer")
        went.append(room.room.turn_name)
    assert went == ["bob", "cy", "teach", "ann"]
    hosted = ModDriver("turn", operators=("ta",))
    hosted.arrive("hal", host=True)
    hosted.arrive("ann")
    hosted.arrive_with_key("ta", Ed25519PrivateKey.generate())
    hosted.arrive("bob")
    went = []
    for name in ("ann", "bob", "ta", "hal"):
        hosted.say(name, "my answer")
        went.append(hosted.room.turn_name)
    assert went == ["bob", "ta", "hal", "ann"]  # (in join order, ta came between ann and bob)


def test_a_student_cannot_take_the_serve_operator_name_with_nick_before_the_teacher_comes():
    """serve --headless --operator teach, the teacher not in yet: a student with a key typed /nick
    teach, then /nick back. Her key owned teach without her being made an operator, and the
    teacher, joining as teach, was refused it: a headless room left with no operator, and no host
    to /release the name. The name is taken by joining under it, never by /nick."""
    room = ModDriver(operators=("teach",))
    mallory = room.arrive_with_key("mallory", Ed25519PrivateKey.generate())
    room.take_all()
    room.perform(room.room.handle(mallory, ev.Nick(name="Teach")))
    refused = room.only_error(mallory)
    assert refused.code == ev.E_NAME_OWNED and "serve --operator" in refused.message
    assert room.room.names == ("mallory",)
    teach = room.arrive_with_key("teach", Ed25519PrivateKey.generate())
    assert room.take(teach)[-1] == ev.Operators(names=("teach",))  # the teacher is the operator


def test_a_headless_room_refusal_names_the_operators_a_student_can_ask():
    """No host to name: the refusal names the operators present, or says there are none."""
    room = ModDriver(operators=("teach",))
    keys = {name: Ed25519PrivateKey.generate() for name in ("teach", "sam", "ann")}
    room.arrive_with_key("ann", keys["ann"])
    room.take_all()
    room.mod("ann", "kick", "bob")
    assert room.only_error("ann").message == "only an operator can use /kick; nobody here is an operator"
    room.arrive_with_key("teach", keys["teach"])
    room.take_all()
    room.mod("ann", "kick", "bob")
    assert room.only_error("ann").message == "only an operator can use /kick; ask teach"
    room.arrive_with_key("sam", keys["sam"])
    room.mod("teach", "op", "sam")
    room.take_all()
    room.mod("ann", "mute", "teach")
    assert room.only_error("ann").message == "only an operator can use /mute; the operators here: teach, sam"
    room.still_serves("ann", "teach", "sam")


def test_serve_operator_for_a_name_a_key_already_owns_needs_that_key_and_a_deop_holds():
    owner, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    room = ModDriver(operators=("teach",))
    room.room.gate.owners["teach"] = identity.public_bytes(owner)  # from the history, at start
    room.arrive("hal", host=True)
    impostor = room.arrive_with_key("teach", other)
    assert room.only_error(impostor).code == ev.E_NAME_OWNED
    assert room.room.moderation.operator_keys == set()
    room.take_all()
    teach = room.arrive_with_key("teach", owner)
    assert room.take(teach)[-2:] == [
        ev.Moderated(action="op", by="hal", name="teach", reason="serve --operator", time=START),  # by the host, with one
        ev.Operators(names=("hal", "teach")),
    ]
    room.mod("hal", "deop", "teach")
    room.leave("teach")
    room.take_all()
    back = room.arrive_with_key("teach", owner)
    assert not [e for e in room.take(back) if isinstance(e, ev.Moderated | ev.Operators)]  # the deop holds
    room.mod("teach", "kick", "hal")
    assert room.only_error("teach").code == ev.E_NOT_OPERATOR


def test_nobody_can_kick_ban_mute_or_deop_the_host():
    room = classroom()
    room.mod("hal", "op", "ann")
    room.take_all()
    for action in ("kick", "ban", "mute", "deop"):
        room.mod("ann", action, "hal")
        error = room.only_error("ann")
        assert error.code == ev.E_NOT_OPERATOR and "the host (hal)" in error.message
    assert room.room.names[0] == "hal"



def test_muting_someone_who_shares_the_hosts_key_leaves_the_host_speaking():
    """README's "trying both on one machine": serve and connect in two terminals of one login
    share one identity key (and, over AF_UNIX or loopback, one address). The host's /mute bob
    matched the host by that key too: the host's next line was refused ("you are muted by hal"),
    /who marked the host muted, and a turn room skipped the host. No mute holds against the host,
    as no /mute may name the host."""
    same_key = "SHA256:one-login-two-terminals"
    room = ModDriver("duplex")
    room.arrive("hal", host=True, key=same_key)
    room.arrive("bob", key=same_key)
    room.arrive("ann")
    room.take_all()
    room.mod("hal", "mute", "bob", minutes=8, reason="spam")
    room.take_all()
    room.say("hal", "hello class")
    assert [e for e in room.take("ann") if isinstance(e, ev.Message)] == [ev.Message(sender="hal", text="hello class", time=START)]
    room.take_all()
    room.say("bob", "still?")
    assert room.only_error("bob").code == ev.E_MUTED  # the mute still holds against bob
    room.who("ann")
    assert room.take("ann") == [ev.Roster(members=("hal", "bob", "ann"), muted=("bob",), muted_minutes=(8,))]
    assert room.room.host_cid in room.room.may_hold_turn()


# ------------------------------------------------------------------ kick and ban


def test_kick_everyone_sees_who_and_why_mallory_sees_why_and_is_closed():
    room = classroom()
    mallory = room.cid["mallory"]
    room.mod("hal", "kick", "mallory", reason="flooding the chat")
    act = ev.Moderated(action="kick", by="hal", name="mallory", reason="flooding the chat", time=START)
    assert room.take("mallory") == [
        act,
        ev.Error(code=ev.E_KICKED, message="hal removed you from the room: flooding the chat", fatal=True),
    ]
    assert mallory in room.closed
    for name in ("hal", "ann", "bob"):
        assert room.take(name) == [act, ev.Left(name="mallory", reason="kicked", time=START)]
    assert room.records == [act]
    room.still_serves("ann", "hal", "bob")
    # a kick is not a ban: mallory may come back
    room.arrive("mallory")
    assert "mallory" in room.room.names


def test_a_ban_holds_against_a_new_name_from_the_same_address():
    room = classroom()
    room.mod("hal", "ban", "mallory", reason="spam")
    assert room.take("mallory")[-1] == ev.Error(code=ev.E_BANNED, message="hal banned you from the room: spam", fatal=True)
    (ban,) = room.stored.values()
    assert (ban.name, ban.address, ban.by, ban.reason) == ("mallory", "192.168.1.66", "hal", "spam")
    cid = room.arrive("m4llory2", address="192.168.1.66")  # new name, same machine
    assert room.only_error(cid) == ev.Error(code=ev.E_BANNED, message="you are banned from this room by hal: spam", fatal=True)
    assert cid in room.closed
    cid = room.arrive("MALLORY", address="192.168.1.99")  # same name (any case), other machine
    assert room.only_error(cid).code == ev.E_BANNED
    room.still_serves("ann", "hal", "bob")


def test_a_ban_over_link_local_ipv6_holds_that_machine_not_the_whole_lan():
    """Counted per /64, a ban of one student joined over IPv6 link-local banned everyone on the
    link (all of fe80::/64); now that address, as an IPv4 one."""
    room = ModDriver()
    room.arrive("hal", host=True)
    room.arrive("mallory", address="fe80::66%eth0")
    room.arrive("ann", address="fe80::10%eth0")
    room.take_all()
    room.mod("hal", "ban", "mallory", reason="spam")
    (ban,) = room.stored.values()
    assert ban.address == "fe80::66"
    assert room.only_error(room.arrive("m4llory2", address="fe80::66%eth0")).code == ev.E_BANNED
    room.arrive("cat", address="fe80::12%eth0")  # a classmate on the same link
    assert "cat" in room.room.names


CLASS_LAN = ipaddress.IPv6Network("2001:db8:1::/64")  # the server's own network, global IPv6


def on_the_class_lan(**kwargs: object) -> ModDriver:
    """hal hosts a class on a LAN whose IPv6 prefix is global: 2001:db8:1::/64 is the server's own."""
    room = ModDriver(address_groups=AddressGroups([CLASS_LAN]), **kwargs)
    room.arrive("hal", host=True)
    room.arrive("mallory", address="2001:db8:1::66")
    room.arrive("ann", address="2001:db8:1::10")
    room.take_all()
    return room


def test_a_ban_over_the_servers_own_global_ipv6_network_holds_that_machine_not_the_whole_lan():
    """Counted per /64, a ban of one student joined over the LAN's global IPv6 prefix banned
    the class; now that address, as an IPv4 one. Off the server's network, still the /64."""
    room = on_the_class_lan()
    room.mod("hal", "ban", "mallory", reason="spam")
    (ban,) = room.stored.values()
    assert ban.address == "2001:db8:1::66"
    assert room.only_error(room.arrive("m4llory2", address="2001:db8:1::66")).code == ev.E_BANNED
    cat = room.arrive("cat", address="2001:db8:1::12")  # a classmate on the same LAN
    assert isinstance(room.take(cat)[0], ev.Welcome)
    room.arrive("eve", address="2001:db8:2::5")  # from elsewhere, where a /64 may be one machine
    room.take_all()
    room.mod("hal", "ban", "eve")
    assert room.stored[2].address == "2001:db8:2::/64"
    assert room.only_error(room.arrive("eve2", address="2001:db8:2::6")).code == ev.E_BANNED


def test_a_ban_or_mute_stored_as_a_64_by_an_older_version_still_holds_that_64(tmp_path):
    """Older versions stored a global IPv6 ban or mute as its /64. We cannot tell which machine
    of it was meant, so it is never lifted by an upgrade: /bans shows it, /unban lifts it."""
    from lanchat.history import HistoryStore

    store = HistoryStore(tmp_path / "history.sqlite3")
    store.add_ban(Ban(id=1, name="mallory", name_key="mallory", key=None, address="2001:db8:1::/64", by="hal",
                      reason="spam", time=START))  # fmt: skip
    store.add_mute(Mute(id=1, name="bob", name_key="bob", key=None, address="2001:db8:1::/64", until=None, by="hal",
                        reason=""), START)  # fmt: skip
    room = ModDriver(bans=store.bans(), mutes=store.mutes(START), address_groups=AddressGroups([CLASS_LAN]))
    room.stored = {ban.id: ban for ban in room.room.moderation.bans}  # what the server loaded
    store.close()
    room.arrive("hal", host=True)
    assert room.only_error(room.arrive("cat", address="2001:db8:1::12")).code == ev.E_BANNED
    room.mod("hal", "bans")
    (listing,) = [e for e in room.take("hal") if isinstance(e, ev.BanList)]
    assert listing.bans == ("#1 mallory (by name and address 2001:db8:1::/64; banned by hal: spam)",)
    room.mod("hal", "unban", "#1")
    room.arrive("dan", address="2001:db8:1::13")  # muted there by the old /64 mute
    room.take_all()
    room.say("dan", "hello")
    assert room.only_error("dan").code == ev.E_MUTED


def test_who_tells_everyone_who_is_muted_and_for_how_long():
    """A teacher who muted two students could not see it in /who. The roster now lists who is
    muted and the minutes left (0: until unmuted), to everyone: the mute act told them already."""
    room = classroom()
    room.who("ann")
    assert room.take("ann") == [ev.Roster(members=("hal", "ann", "bob", "mallory"))]  # no mutes: as before
    room.mod("hal", "mute", "bob", minutes=10)
    room.mod("hal", "mute", "mallory")
    room.take_all()
    room.now = START + 2 * 60 + 1  # 7 minutes 59 seconds left: "8 more minutes", as bob's refusal says
    room.who("ann")
    expected = ev.Roster(members=("hal", "ann", "bob", "mallory"), muted=("bob", "mallory"), muted_minutes=(8, 0))
    assert room.take("ann") == [expected]
    room.say("bob", "still?")
    assert "8 more minutes" in room.only_error("bob").message
    room.now = START + 10 * 60  # bob's mute is over
    room.who("hal")
    assert room.take("hal") == [ev.Roster(members=("hal", "ann", "bob", "mallory"), muted=("mallory",), muted_minutes=(0,))]


def test_a_mute_over_the_servers_own_global_ipv6_network_leaves_classmates_speaking():
    room = on_the_class_lan()
    room.mod("hal", "mute", "mallory", minutes=5)
    (mute,) = room.stored_mutes.values()
    assert mute.address == "2001:db8:1::66"
    room.take_all()
    room.say("ann", "can I still talk?")
    assert [e.text for e in room.take("hal") if isinstance(e, ev.Message)] == ["can I still talk?"]
    room.take_all()
    room.say("mallory", "me too?")
    assert room.only_error("mallory").code == ev.E_MUTED


def test_a_ban_holds_against_the_same_key_under_a_new_name_from_another_address():
    room = ModDriver()
    room.arrive("hal", host=True)
    room.arrive("mallory", key="SHA256:mallorys-key")
    room.arrive("ann")
    room.take_all()
    room.mod("hal", "ban", "mallory")
    cid = room.arrive("innocent", address="10.9.9.9", key="SHA256:mallorys-key")
    assert room.only_error(cid).code == ev.E_BANNED
    cid = room.arrive("cat", address="10.9.9.10", key="SHA256:cats-key")
    assert isinstance(room.take(cid)[0], ev.Welcome)


def test_a_ban_puts_out_the_banned_persons_other_names_here_too():
    """Mallory in a second terminal under another name (her key, or her machine): the ban held
    against that session only at its next hello, and it chatted on after /ban mallory. Every
    session here the ban holds against goes now, told why; the host and a classmate stay."""
    room = ModDriver()
    room.arrive("hal", host=True)
    room.arrive("ann")
    room.arrive("mallory", key="SHA256:mallorys-key")
    same_key = room.arrive("m2", address="10.9.9.9", key="SHA256:mallorys-key")
    same_machine = room.arrive("m3", address="192.168.1.66")
    room.take_all()
    room.mod("hal", "ban", "mallory", reason="spam")
    for cid in (same_key, same_machine):
        assert cid in room.closed
        assert room.take(cid)[-1] == ev.Error(code=ev.E_BANNED, message="you are banned from this room by hal: spam", fatal=True)
    assert [(e.name, e.reason) for e in room.take("ann") if isinstance(e, ev.Left)] == [
        ("mallory", "banned"), ("m2", "banned"), ("m3", "banned")
    ]
    assert len(room.stored) == 1  # one ban, one act
    room.still_serves("hal", "ann")


def test_a_ban_of_the_name_mallory_left_with_nick_puts_out_her_key_under_the_new_one():
    room = ModDriver()
    room.arrive("hal", host=True)
    room.arrive("ann")
    cid = room.arrive("mallory", key=b"\x01" * 32)
    room.room.gate.claim("mallory", b"\x01" * 32)  # as joining with that key does (gate.py)
    room.perform(room.room.handle(cid, ev.Nick(name="m4ll")))
    room.take_all()
    room.mod("hal", "ban", "mallory", reason="spam")  # nobody here is called mallory now
    assert cid in room.closed
    assert room.take(cid)[-1].code == ev.E_BANNED
    room.still_serves("hal", "ann")


def test_a_ban_never_puts_out_the_host_or_a_session_sharing_the_hosts_key():
    """A one-machine demo: every terminal of one login has the host's key. A ban of one of
    them holds by name there (PROTOCOL.md, Moderation), and puts out nobody else."""
    room = ModDriver()
    room.arrive("hal", host=True, address="127.0.0.1", key="SHA256:the-logins-key")
    room.arrive("ann", address="127.0.0.1", key="SHA256:the-logins-key")
    room.arrive("mallory", address="127.0.0.1", key="SHA256:the-logins-key")
    room.take_all()
    room.mod("hal", "ban", "mallory")
    assert room.cid["ann"] not in room.closed
    room.still_serves("hal", "ann")


def test_the_host_and_operators_hear_of_a_banned_students_tries_once_per_30_s_with_a_count():
    """The teacher never knew mallory kept trying. Now the host and the operators hear it, one
    line a banned person every 30 s at most, so a script trying 50 times a second is one line,
    then one more with its count; the others hear nothing."""
    room = classroom()
    room.mod("hal", "op", "ann")
    room.mod("hal", "ban", "mallory", reason="spam")
    room.take_all()
    cid = room.arrive("mallory", address="192.168.1.99")
    assert room.only_error(cid).code == ev.E_BANNED
    first = ev.Refused(name="mallory", code=ev.E_BANNED, time=START, by="hal", reason="spam")
    assert room.take("hal") == room.take("ann") == [first]
    assert room.logged[-1] == "mallory (banned by hal: spam) tried to join and was turned away"
    for second in range(1, 30):  # a script: 29 more tries within the 30 s
        room.now = START + second
        room.arrive(f"m{second}", address="192.168.1.66")
    assert next_ban_tries(room.room) == START + 30  # the loop wakes then (hub.next_deadline)
    room.now = START + 29.9
    assert room.perform(ban_tries_due(room.room)) == []
    assert room.take("hal") == room.take("ann") == room.take("bob") == []
    room.now = START + 30
    room.perform(ban_tries_due(room.room))
    then = ev.Refused(name="m29", code=ev.E_BANNED, time=START + 30, by="hal", reason="spam", count=29, of="mallory",
                      holds="address 192.168.1.66")  # under another name: whose ban it is, and what it holds
    assert room.take("hal") == room.take("ann") == [then]
    assert room.take("bob") == []
    assert room.logged[-1] == ("29 more tries to join were turned away (mallory's ban by hal: spam, which holds address "
                               "192.168.1.66; /unban mallory lifts it), the last as m29")  # not "m29 tried 29 times"
    room.now = START + 60  # nobody tried since: nothing to tell, and nothing timed any more
    assert room.perform(ban_tries_due(room.room)) == [] and next_ban_tries(room.room) is None
    room.now = START + 61
    room.arrive("mallory")
    assert [e.count for e in room.take("hal") if isinstance(e, ev.Refused)] == [None]  # told at once again


def test_a_banned_students_tries_read_as_one_line_with_whose_ban_and_why():
    session = Session(name="hal", host="hal")
    (line,) = session.on_event(ev.Refused(name="mallory", code=ev.E_BANNED, time=START, by="ann", reason="spam"))
    assert line.text == "mallory (banned by ann: spam) tried to join and was turned away"
    (line,) = session.on_event(ev.Refused(name="m2", code=ev.E_BANNED, time=START, by="ann", count=7))
    assert line.text == "m2 (banned by ann) tried to join 7 more times and was turned away each time"
    (line,) = session.on_event(ev.Refused(name="cat", code=ev.E_ROOM_FULL, time=START))
    assert line.text.startswith("cat was turned away: the room is full")
    (line,) = session.on_event(ev.Refused(name="teacher_smells_29", code=ev.E_ROOM_FULL, time=START, count=29))
    assert line.text.startswith("29 more tries to join were turned away, the last as teacher_smells_29: the room is full")
    (line,) = session.on_event(ev.Refused(name="cat", code=ev.E_ROOM_FULL, time=START, count=-1))  # no server sends it
    assert line.text.startswith("cat was turned away: the room is full")
    why = "too many connections from address 10.0.0.9 (16 at once)"
    (line,) = session.on_event(ev.Refused(name="10.0.0.9", code=ev.E_TOO_MANY, time=START, reason=why))
    assert line.text == f"a connection was turned away: {why}"
    (line,) = session.on_event(ev.Refused(name="10.0.0.9", code=ev.E_TOO_MANY, time=START, reason=why, count=7))
    assert line.text == f"7 connections were turned away: {why}"


def test_on_this_machine_a_ban_is_by_name_and_key_never_by_address():
    """Everyone in a one-machine demo shares loopback: banning it would ban the class."""
    room = ModDriver()
    room.arrive("hal", host=True, address="127.0.0.1")
    room.arrive("mallory", address="127.0.0.1")
    room.take_all()
    room.mod("hal", "ban", "mallory")
    (ban,) = room.stored.values()
    assert ban.address is None
    cid = room.arrive("ann", address="127.0.0.1")
    assert isinstance(room.take(cid)[0], ev.Welcome)
    cid = room.arrive("Mallory", address="127.0.0.1")
    assert room.only_error(cid).code == ev.E_BANNED


def _accounts(uids: dict[int, int]) -> Callable[[Collection[int]], dict[int, int | None]]:
    """What the loop reads for the room (gate.users_of): each cid's account, from ``uids``."""
    return lambda cids: {cid: uids.get(cid) for cid in cids}


def _lab(users: dict[str, int], own_user: int = 1000) -> tuple[ModDriver, dict[int, int]]:
    """A lab server's room: everyone joins over the socket file, each under a Unix account
    (``users``: name -> uid; the driver's arrive records each cid's), the server run by ``own_user``."""
    room = ModDriver(own_user=own_user)
    uids: dict[int, int] = {}
    room.room.moderation.users_of = _accounts(uids)
    room.arrive("hal", host=True, address="local")
    for name, uid in users.items():
        cid = room.connect()
        uids[cid] = uid
        room.room.moderation.arrive(cid, "local")
        room.join(name, cid=cid)
    room.take_all()
    return room, uids


def _comes_back(room: ModDriver, uids: dict[int, int], name: str, uid: int) -> int:
    cid = room.connect()
    uids[cid] = uid
    room.room.moderation.arrive(cid, "local")
    room.join(name, cid=cid)
    return cid


def _banned_by_account(room: ModDriver, comes_back: Callable[[str, int], int]) -> None:
    """hal bans mallory (account 1066): the ban holds the account, so mallory under a new name
    (and no key) is refused, and bob on an account of his own is welcome (``comes_back(name, uid)``
    joins one)."""
    room.mod("hal", "ban", "mallory", reason="spam")
    (ban,) = room.stored.values()
    assert ban.address == "user 1066" and "user 1066 on this machine" in ban.describe()
    cid = comes_back("m4llory", 1066)  # a new name (and no key): the same account
    assert room.only_error(cid) == ev.Error(code=ev.E_BANNED, message="you are banned from this room by hal: spam", fatal=True)
    cid = comes_back("bob", 1002)
    assert isinstance(room.take(cid)[0], ev.Welcome)
    room.still_serves("ann", "hal", "bob")


def test_on_a_lab_server_a_ban_holds_the_students_account_against_a_new_name_and_key():
    """A lab server's class joins over its socket file, each student under an account of their
    own: a ban held by name and key only, so a new key file and a new name came straight back.
    It holds the account now; another account is let in, and the /bans line says it."""
    room, uids = _lab({"ann": 1001, "mallory": 1066})
    _banned_by_account(room, lambda name, uid: _comes_back(room, uids, name, uid))


def test_on_a_lab_server_a_mute_holds_the_account_and_unmute_lifts_it():
    room, uids = _lab({"ann": 1001, "mallory": 1066})
    room.mod("hal", "mute", "mallory", reason="calm down")
    (mute,) = room.stored_mutes.values()
    assert mute.address == "user 1066"
    room.leave("mallory")
    room.take_all()
    cid = _comes_back(room, uids, "mallory", 1066)
    room.take_all()
    room.perform(room.room.handle(cid, ev.Say(text="still here")))
    assert room.take(cid)[-1].code == ev.E_MUTED
    assert all(not isinstance(e, ev.Message) for e in room.take("ann"))
    room.mod("hal", "unmute", "mallory")
    assert not room.stored_mutes
    room.still_serves("ann", "hal", "mallory")


def test_a_ban_in_a_lab_of_forty_asks_for_the_accounts_of_everyone_here_at_once():
    """A ban on this machine compares the student's account with everyone else's here (a shared
    account holds by name and key only). Each account is a read of /proc/net/tcp by the loop,
    and asked one member at a time they stalled a lab of 256 for 0.8 s: the room asks for all
    of them together, once (the loop reads the table once for them: transport.peer_users)."""
    room, uids = _lab({f"s{n:02d}": 2000 + n for n in range(40)})
    asked: list[list[int]] = []
    accounts = _accounts(uids)

    def users_of(cids: Collection[int]) -> dict[int, int | None]:  # as the gate's: each account asked once
        if unread := [cid for cid in cids if not any(cid in before for before in asked)]:
            asked.append(unread)
        return accounts(cids)

    room.room.moderation.users_of = users_of
    here = set(room.room.members)
    room.mod("hal", "ban", "s17", reason="spam")
    (ban,) = room.stored.values()
    assert ban.address == "user 2017"
    assert len(asked) == 1 and set(asked[0]) == here  # hal too: the host is on this machine
    cid = _comes_back(room, uids, "s17x", 2017)
    assert room.only_error(cid).code == ev.E_BANNED


def test_with_a_mute_by_account_in_force_a_turn_room_asks_for_the_class_accounts_at_once():
    """Who may take the turn is everyone not muted (Room.may_hold_turn): with a mute by account
    in force (stored, from a lesson before) each member's account is compared, and asked one
    member at a time that was one read of /proc/net/tcp each, as a ban's was."""
    uids: dict[int, int] = {}
    asked: list[list[int]] = []  # the accounts asked of the loop, not read before (gate.users_of keeps them)
    accounts = _accounts(uids)

    def users_of(cids: Collection[int]) -> dict[int, int | None]:
        if unread := [cid for cid in cids if not any(cid in before for before in asked)]:
            asked.append(unread)
        return accounts(cids)

    mute = Mute(id=1, name="mallory", name_key="mallory", key=None, address="user 1066", until=None, by="hal", reason="")
    room = ModDriver(own_user=1000, mutes=[mute])
    room.room.moderation.users_of = users_of
    room.arrive("hal", host=True, address="local")
    for n in range(40):
        _comes_back(room, uids, f"s{n:02d}", 2000 + n)
    room.take_all()
    asked.clear()
    room.mod("hal", "mode", mode="turn")
    assert room.room.turn_holder is not None
    assert len(asked) == 1 and len(asked[0]) == 41


def test_the_gate_asks_the_loop_for_the_accounts_not_read_yet_together_and_keeps_them():
    """Gate.users_of: one ask of the loop (read_users) for every connection on this machine
    not read yet; each connection's account is read once, a gone one's (None) too."""
    from lanchat.gate import Gate

    gate = Gate(clock=lambda: 0.0)
    reads: list[list[int]] = []
    gate.read_users = lambda cids: reads.append(list(cids)) or {cid: 1000 + cid for cid in cids if cid != 3}
    for cid in range(1, 6):
        gate.arrived(cid, f"127.0.0.1:{40000 + cid}", user=True)
    gate.arrived(6, "10.0.0.9:50000", user=True)  # another machine: it has no account here
    gate.arrived(7, "127.0.0.1:40007")  # in-process: nothing to read
    assert gate.user_of(1) == 1001 and reads == [[1]]
    assert gate.users_of([1, 2, 3, 4, 6, 7]) == {1: 1001, 2: 1002, 3: None, 4: 1004, 6: None, 7: None}
    assert reads == [[1], [2, 3, 4]]
    assert gate.users_of([2, 3, 4, 5]) == {2: 1002, 3: None, 4: 1004, 5: 1005} and reads[2:] == [[5]]
    gate.forget(2)
    gate.arrived(2, "127.0.0.1:40102", user=True)  # a new connection under that number: read afresh
    assert gate.user_of(2) == 1002 and reads[3:] == [[2]]


def test_a_ban_on_a_shared_lab_account_or_the_servers_own_holds_by_name_and_key_only():
    """A lab whose class shares one "student" account (or a student on the teacher's own): a ban
    by that account would send everyone out, so it holds by name and key, as before."""
    room, uids = _lab({"ann": 1500, "mallory": 1500, "eve": 1000})
    room.mod("hal", "ban", "mallory")
    room.mod("hal", "ban", "eve")  # the server's own account (own_user)
    assert [ban.address for ban in room.stored.values()] == [None, None]
    cid = _comes_back(room, uids, "bob", 1500)
    assert isinstance(room.take(cid)[0], ev.Welcome)
    cid = _comes_back(room, uids, "cat", 1000)
    assert isinstance(room.take(cid)[0], ev.Welcome)


class _Accounts:
    """A lab server's loop as the gate sees it (gate.read_users, gate.peek_users): each open
    connection's account; ``at_once``: the kernel says it at a join (a socket file, sock_diag);
    a connection closed (``gone``) has no socket left to ask about. Every ask is counted."""

    def __init__(self, *, at_once: bool = True) -> None:
        self.uids: dict[int, int] = {}
        self.gone: set[int] = set()
        self.at_once = at_once
        self.reads: list[list[int]] = []  # asks that may read /proc's tables
        self.peeks: list[list[int]] = []  # asks at a join: the kernel's answer only

    def read(self, cids: list[int]) -> dict[int, int | None]:
        self.reads.append(list(cids))
        return {cid: None if cid in self.gone else self.uids.get(cid) for cid in cids}

    def peek(self, cids: list[int]) -> dict[int, int | None]:
        self.peeks.append(list(cids))
        return {cid: self.uids[cid] for cid in cids if self.at_once and cid not in self.gone and cid in self.uids}


def _lab_on_loopback(users: dict[str, int], *, at_once: bool = True) -> tuple[ModDriver, _Accounts]:
    """A lab server's room through its gate: hal hosts, ``users`` (name -> uid) join over loopback."""
    room = ModDriver(own_user=1000)
    accounts = _Accounts(at_once=at_once)
    room.room.gate.read_users, room.room.gate.peek_users = accounts.read, accounts.peek
    room.arrive("hal", host=True, address="local")
    for name, uid in users.items():
        _joins_on_loopback(room, accounts, name, uid)
    room.take_all()
    return room, accounts


def _joins_on_loopback(room: ModDriver, accounts: _Accounts, name: str, uid: int) -> int:
    cid = room.connect()
    accounts.uids[cid] = uid
    room.room.gate.arrived(cid, f"127.0.0.1:{40000 + cid}", user=True)
    room.room.moderation.arrive(cid, "127.0.0.1")
    return room.join(name, cid=cid)


def test_a_student_who_quit_before_the_ban_is_held_by_the_account_read_at_their_join():
    """From the attacker's side: mallory says spam and quits before the teacher's /ban is typed.
    Asked then, mallory's account could no longer be read (the socket is gone), so the ban held
    the name (and a key) only, and mallory came back with a fresh data folder and a new name.
    The account the kernel said at the join is kept with the departed name, and the ban holds it;
    the joins asked nothing that reads /proc's tables."""
    room, accounts = _lab_on_loopback({"ann": 1001, "mallory": 1066})
    room.say("mallory", "spam spam spam")
    accounts.gone.add(room.cid["mallory"])
    room.leave("mallory")
    room.take_all()
    assert accounts.reads == [] and len(accounts.peeks) == 2  # one ask at each join, of the kernel only
    _banned_by_account(room, lambda name, uid: _joins_on_loopback(room, accounts, name, uid))


def test_a_ban_of_a_student_whose_client_dropped_before_the_server_noticed_holds_the_account():
    """mallory's client is gone (the socket with it) but the server has not read the end yet
    when the /ban comes: mallory is still a member, and the account is the one read at the join."""
    room, accounts = _lab_on_loopback({"ann": 1001, "mallory": 1066})
    accounts.gone.add(room.cid["mallory"])
    room.mod("hal", "ban", "mallory", reason="spam")
    assert [ban.address for ban in room.stored.values()] == ["user 1066"]


def test_a_ban_of_someone_who_left_holds_no_account_shared_with_someone_here_nor_the_servers_own():
    """The exceptions of a ban of someone here hold for one who left: an account someone here
    joined from too (a lab's shared "student" account) or the server's own is not banned; nor
    is an account the kernel could not say at the join (no sock_diag: name and key only, as
    before, rather than a read of /proc's tables at every join)."""
    room, accounts = _lab_on_loopback({"ann": 1500, "mallory": 1500, "eve": 1000, "zed": 1077})
    for name in ("mallory", "eve", "zed"):
        accounts.gone.add(room.cid[name])
        room.leave(name)
    room.mod("hal", "ban", "mallory")
    room.mod("hal", "ban", "eve")
    room.leave("ann")  # the shared account is nobody's here any more: now it holds
    room.mod("hal", "ban", "mallory")
    assert [ban.address for ban in room.stored.values()] == [None, None, "user 1500"]
    blind, accounts = _lab_on_loopback({"mallory": 1066}, at_once=False)
    accounts.gone.add(blind.cid["mallory"])
    blind.leave("mallory")
    blind.mod("hal", "ban", "mallory")
    assert [ban.address for ban in blind.stored.values()] == [None] and accounts.reads == []


def test_a_student_who_quit_before_the_mute_comes_back_muted_from_that_account_under_any_name():
    """mallory says spam and quits before the teacher's /mute: it answered 'nobody called
    mallory is here', and mallory came back and spammed on. A mute of someone who left is held
    as a ban of them is: by name, by the key that owns it, and by the account they left from."""
    room, accounts = _lab_on_loopback({"ann": 1001})
    key = Ed25519PrivateKey.generate()
    cid = room.connect()
    accounts.uids[cid] = 1066
    room.room.gate.arrived(cid, f"127.0.0.1:{40000 + cid}", user=True)
    room.room.moderation.arrive(cid, "127.0.0.1")
    room.perform(room.room.handle(cid, hello(key, "mallory")))
    (challenge,) = room.take(cid)
    room.perform(room.room.handle(cid, auth(key, challenge)))
    room.cid["mallory"] = cid
    room.say("mallory", "spam spam spam")
    accounts.gone.add(cid)
    room.leave("mallory")
    room.take_all()
    room.mod("hal", "mute", "mallory", reason="spam", minutes=10)
    (mute,) = room.stored_mutes.values()
    assert (mute.name, mute.key, mute.address) == ("mallory", key_id(key.public_key().public_bytes_raw()), "user 1066")
    assert room.told("ann")[-1] == ev.Moderated(action="mute", by="hal", name="mallory", reason="spam", time=START, minutes=10)
    back = _joins_on_loopback(room, accounts, "m4llory", 1066)  # a new name and no key: the same account
    assert room.take(back)[0].muted == 10  # type: ignore[attr-defined]
    room.perform(room.room.handle(back, ev.Say(text="spam again")))
    assert room.take(back)[-1].code == ev.E_MUTED  # type: ignore[attr-defined]
    assert not [e for e in room.take("ann") if isinstance(e, ev.Message)]
    bob = _joins_on_loopback(room, accounts, "bob", 1002)
    assert room.take(bob)[0].muted is None  # type: ignore[attr-defined]
    room.take("hal")
    room.mod("hal", "mute", "x" * 300)  # a name nobody can have: no mute
    assert room.only_error("hal").code == ev.E_BAD_NAME and len(room.stored_mutes) == 1
    room.still_serves("ann", "hal", "bob")


def test_a_name_that_left_again_from_elsewhere_no_longer_holds_the_account_of_its_earlier_owner():
    """bob (account 1001) left; later another bob joined from another machine and left too.
    The room kept 1001 under "bob" from the first, so /ban bob held account 1001: a classmate
    who had done nothing was banned, and the bob the teacher meant was held by name only. The
    last to leave under a name is the one a ban of it means: with no account known for them,
    none is held."""
    room, accounts = _lab_on_loopback({"bob": 1001, "ann": 1002})
    room.leave("bob")
    room.arrive("bob", address="10.0.0.7")  # another person, another machine, the same name
    room.leave("bob")
    room.mod("hal", "ban", "bob", reason="spam")
    assert [ban.address for ban in room.stored.values()] == [None]
    assert "bob" not in room.room.moderation.departed_users


def test_the_room_remembers_the_accounts_of_the_most_recently_departed_only(monkeypatch):
    """What the room keeps of those who left is bounded (DEPARTED_USERS): the oldest go first."""
    from lanchat import moderation

    monkeypatch.setattr(moderation, "DEPARTED_USERS", 3)
    room, accounts = _lab_on_loopback({f"s{n}": 2000 + n for n in range(5)})
    for n in range(5):
        room.leave(f"s{n}")
    assert dict(room.room.moderation.departed_users) == {"s2": 2002, "s3": 2003, "s4": 2004}
    room.mod("hal", "ban", "s1")
    room.mod("hal", "ban", "s4")
    assert [ban.address for ban in room.stored.values()] == [None, "user 2004"]


def test_a_lab_class_that_joined_by_the_servers_own_lan_address_is_held_by_account_not_by_that_address():
    """On a lab server a student's client finds the room by its announcement and dials the
    server's LAN address (discovery.pick_address), not loopback: every student then came from
    the server's own address, and /ban mallory held that address, sending the class out while
    mallory came back over loopback under a new name and key. That address is this machine's
    (transport.from_this_machine): a ban holds the account there, as over loopback."""
    own = "192.0.2.2"
    room = ModDriver(own_user=1000)
    room.arrive("hal", host=True, address="local")
    uids: dict[int, int] = {}
    room.room.moderation.users_of = _accounts(uids)

    def joins(name: str, uid: int, address: str = own) -> int:
        cid = room.connect()
        uids[cid] = uid
        room.room.gate.arrived(cid, f"{address}:{40000 + cid}", this_machine=address == own)
        room.room.moderation.arrive(cid, address)
        return room.join(name, cid=cid)

    joins("ann", 1001)
    joins("mallory", 1066)
    joins("eve", 1000)  # on the teacher's own account
    room.take_all()
    room.mod("hal", "ban", "mallory")
    room.mod("hal", "ban", "eve")
    assert [ban.address for ban in room.stored.values()] == ["user 1066", None]
    assert room.only_error(joins("m4llory", 1066, address="127.0.0.1")).code == ev.E_BANNED
    assert room.only_error(joins("m4l", 1066)).code == ev.E_BANNED
    for name, uid in (("bob", 1002), ("cat", 1000)):
        assert isinstance(room.take(joins(name, uid))[0], ev.Welcome), name
    room.still_serves("ann", "hal", "bob", "cat")


def test_a_long_list_of_stored_bans_is_one_frame_with_the_newest_and_a_count_of_the_rest():
    """Bans are stored and add up: 400 with long reasons made a ban-list of 97 KB, over the 64 KiB
    frame limit. /bans then broke the server's pass (an internal error) and cut the operator off.
    The list now holds the newest that fit and says how many older ones it leaves out."""
    from lanchat.wire import MAX_FRAME_BYTES

    room = classroom()
    for number in range(1, 401):
        room.mod("hal", "ban", f"gone{number}", reason="\u00e9" * ev.MAX_REASON_CHARS)  # not ASCII: longer in JSON
    room.take_all()
    room.mod("hal", "bans")
    (listing,) = [e for e in room.take("hal") if isinstance(e, ev.BanList)]
    assert len(encode(listing)) <= 4 + MAX_FRAME_BYTES
    left_out = 400 - (len(listing.bans) - 1)
    assert listing.bans[0] == f"(and {left_out} older bans, not listed: /unban #ID lifts one)"
    assert listing.bans[1].startswith(f"#{left_out + 1} gone{left_out + 1} ") and listing.bans[-1].startswith("#400 gone400 ")
    assert 100 < len(listing.bans) < 400


def test_bans_are_listed_lifted_and_survive_a_restart():
    room = classroom()
    room.mod("hal", "ban", "mallory", reason="spam")
    room.mod("hal", "ban", "gone", reason="trolling")  # someone not here: by name
    room.mod("hal", "bans")
    (listing,) = [e for e in room.take("hal") if isinstance(e, ev.BanList)]
    assert listing.bans == (
        "#1 mallory (by name and address 192.168.1.66; banned by hal: spam)",
        "#2 gone (by name; banned by hal: trolling)",
    )
    # the server restarts with the stored bans
    restarted = ModDriver(bans=list(room.stored.values()))
    restarted.stored = dict(room.stored)  # what the server loaded from its history file
    restarted.arrive("hal", host=True)
    cid = restarted.arrive("mallory2", address="192.168.1.66")
    assert restarted.only_error(cid).code == ev.E_BANNED
    restarted.mod("hal", "unban", "#1")
    assert [e.action for e in restarted.told("hal")] == ["unban"]
    restarted.mod("hal", "unban", "GONE")
    cid = restarted.arrive("mallory", address="192.168.1.66")
    assert isinstance(restarted.take(cid)[0], ev.Welcome)
    restarted.take_all()
    restarted.mod("hal", "unban", "nobody")
    assert restarted.only_error("hal").code == ev.E_NO_SUCH_USER
    assert room.records[-1].action == "ban" and restarted.records[-1].action == "unban"


def test_a_ban_on_someone_who_just_left_holds_against_the_key_that_owns_the_name():
    """Kicked, or gone before the teacher typed /ban: back under a new name, the same key is refused."""
    room = ModDriver()
    room.arrive("hal", host=True)
    room.arrive("mallory", key=b"\x01" * 32)
    room.room.gate.claim("mallory", b"\x01" * 32)  # as joining with that key does (gate.py)
    room.mod("hal", "kick", "mallory")
    room.take_all()
    room.mod("hal", "ban", "MALLORY", reason="spam")
    (ban,) = room.stored.values()
    assert ban.describe() == "#1 MALLORY (by name and key; banned by hal: spam)"
    cid = room.arrive("innocent", address="10.9.9.9", key=b"\x01" * 32)
    assert room.only_error(cid).code == ev.E_BANNED
    cid = room.arrive("cat", address="10.9.9.9", key=b"\x02" * 32)
    assert isinstance(room.take(cid)[0], ev.Welcome)
    room.room.gate.claim("cat-old-name", b"\x02" * 32)
    room.mod("hal", "op", "cat")
    room.take_all()
    room.mod("cat", "ban", "cat-old-name")  # an operator's own key is never banned this way
    assert room.only_error("cat").message == "'cat-old-name' belongs to your key or the host's: not banned"
    assert len(room.stored) == 1


def test_an_unban_number_int_cannot_read_is_one_clear_error_and_the_ban_stays():
    room = classroom()
    room.mod("hal", "ban", "mallory", reason="spam")
    room.take_all()
    for odd in ("#\u00b2", "#" + "9" * 5000):  # a digit to isdigit() only; more digits than int() reads
        room.mod("hal", "unban", odd)
        assert room.only_error("hal").code == ev.E_NO_SUCH_USER
    room.mod("hal", "bans")
    (listing,) = [e for e in room.take("hal") if isinstance(e, ev.BanList)]
    assert [line.split()[:2] for line in listing.bans] == [["#1", "mallory"]]


def test_an_operator_cannot_kick_or_ban_themself():
    room = classroom()
    room.mod("hal", "op", "ann")
    room.take_all()
    room.mod("ann", "kick", "ann")
    assert "you cannot /kick yourself" in room.only_error("ann").message


# ------------------------------------------------------------------------ mute


def test_a_muted_student_still_reads_and_is_told_why_when_typing():
    room = classroom()
    room.mod("hal", "mute", "mallory", minutes=5, reason="calm down")
    act = ev.Moderated(action="mute", by="hal", name="mallory", reason="calm down", minutes=5, time=START)
    for name in ("hal", "ann", "bob", "mallory"):
        assert room.take(name) == [act]
    room.say("mallory", "spam")
    assert room.only_error("mallory") == ev.Error(
        code=ev.E_MUTED,  # and told whom they may still whisper, to ask why (README, the guide)
        message="you are muted by hal for 5 more minutes: calm down; you can still read, and /w the host or an operator (here now: hal)",
    )
    room.whisper("mallory", "ann", "spam")
    assert room.only_error("mallory").code == ev.E_MUTED
    room.nobody_else_got_anything("hal", "ann", "bob")
    room.still_serves("ann", "hal", "bob", "mallory")  # mallory reads


def test_a_muted_student_may_whisper_the_host_and_operators_to_ask_why_and_nobody_else():
    room = classroom()
    room.mod("hal", "op", "ann")
    room.mod("hal", "mute", "mallory", minutes=5, reason="calm down")
    room.take_all()
    room.whisper("mallory", "hal", "why?")
    room.whisper("mallory", "ann", "was it me?")
    assert [(e.sender, e.to, e.text) for e in room.take("hal")] == [("mallory", "hal", "why?")]
    assert [(e.sender, e.to, e.text) for e in room.take("ann")] == [("mallory", "ann", "was it me?")]
    assert [e.text for e in room.take("mallory")] == ["why?", "was it me?"]  # their own copies
    room.whisper("mallory", "bob", "tell them the answer is 42")
    assert room.only_error("mallory") == ev.Error(
        code=ev.E_MUTED,
        message="you are muted by hal for 5 more minutes: calm down; you can still read,"
        " and whisper only the host and operators (here now: hal, ann)",
    )
    room.nobody_else_got_anything("hal", "ann", "bob")
    room.mod("hal", "deop", "ann")  # an operator no more: a classmate like any other
    room.take_all()
    room.whisper("mallory", "ann", "psst")
    assert "(here now: hal)" in room.only_error("mallory").message
    room.nobody_else_got_anything("ann")


def test_a_muted_students_whisper_to_an_operator_who_left_is_kept_for_their_key():
    room = ModDriver("duplex")
    room.arrive("hal", host=True)
    room.arrive_with_key("ann", Ed25519PrivateKey.generate())
    room.arrive_with_key("bob", Ed25519PrivateKey.generate())
    room.arrive("mallory")
    room.mod("hal", "op", "ann")
    room.mod("hal", "mute", "mallory", minutes=5)
    room.leave("ann")
    room.leave("bob")
    room.take_all()
    room.room.history = True  # as a room with history, which knows who was here (Room.known)
    room.room.known[ev.name_key("ann")], room.room.known[ev.name_key("bob")] = "ann", "bob"
    actions = room.room.handle(room.cid["mallory"], ev.Whisper(to="ann", text="why was I muted?"))
    assert [type(a).__name__ for a in actions] == ["Keep", "Broadcast"]  # kept for ann's key, mallory's copy
    (refused,) = room.room.handle(room.cid["mallory"], ev.Whisper(to="bob", text="the answer is 42"))
    assert refused.event.code == ev.E_MUTED


def test_a_muted_student_in_a_headless_room_is_told_to_ask_an_operator_not_a_host_there_is_not():
    """serve --headless --operator teach: there is no host, yet the refusals said '/w the host or
    an operator' and 'whisper only the host and operators'. They name operators only there, and
    say so when none is here (the teacher left)."""
    room = ModDriver(operators=("teach",))
    room.arrive_with_key("teach", Ed25519PrivateKey.generate())
    room.arrive_with_key("cy", Ed25519PrivateKey.generate())
    room.arrive_with_key("bob", Ed25519PrivateKey.generate())
    room.mod("teach", "mute", "cy", minutes=5, reason="calm down")
    room.take_all()
    head = "you are muted by teach for 5 more minutes: calm down; you can still read"
    room.say("cy", "let me speak")
    assert room.only_error("cy").message == f"{head}, and /w an operator (here now: teach)"
    room.whisper("cy", "bob", "psst")
    assert room.only_error("cy").message == f"{head}, and whisper only operators (here now: teach)"
    room.leave("teach")
    room.take_all()
    room.say("cy", "still?")
    assert room.only_error("cy").message == f"{head}, and /w an operator (none is here now)"


def test_a_muted_student_cannot_talk_through_away_or_nick():
    """/away REASON and /nick are shown to everyone: muted, they would carry what say may not."""
    room = classroom()
    room.mod("hal", "mute", "mallory", minutes=5, reason="calm down")
    room.take_all()
    for event in (ev.SetAway(reason="the teacher is boring"), ev.Nick(name="teacher_is_boring")):
        room.perform(room.room.handle(room.cid["mallory"], event))
        assert room.only_error("mallory").code == ev.E_MUTED
        room.nobody_else_got_anything("hal", "ann", "bob")
    assert room.room.members[room.cid["mallory"]].name == "mallory"
    room.mod("hal", "unmute", "mallory")
    room.take_all()
    room.perform(room.room.handle(room.cid["mallory"], ev.SetAway(reason="lunch")))
    assert [e.reason for e in room.take("ann") if isinstance(e, ev.Away)] == ["lunch"]


def test_a_muted_student_who_is_away_may_still_come_back():
    room = classroom()
    room.perform(room.room.handle(room.cid["mallory"], ev.SetAway(reason="lunch")))
    room.mod("hal", "mute", "mallory", minutes=5)
    room.take_all()
    room.perform(room.room.handle(room.cid["mallory"], ev.SetAway(reason="")))  # back: says nothing
    assert [e.reason for e in room.take("ann") if isinstance(e, ev.Away)] == [""]


def test_a_mute_holds_across_a_reconnection_and_ends_on_time():
    room = classroom()
    room.mod("hal", "mute", "mallory", minutes=2)
    room.leave("mallory")
    room.arrive("mallory")  # back at once, same name and address
    room.take_all()
    room.say("mallory", "I'm back")
    assert room.only_error("mallory").code == ev.E_MUTED
    room.leave("mallory")
    room.arrive("m2", address="192.168.1.66")  # a new name from the same machine
    room.take_all()
    room.say("m2", "me again")
    assert "2 more minutes" in room.only_error("m2").message
    room.now += 120  # two minutes later
    room.say("m2", "may I?")
    assert [e.text for e in room.take("ann") if isinstance(e, ev.Message)] == ["may I?"]


def test_a_student_rejoining_muted_is_told_the_minutes_rounded_up_and_keeps_the_real_end():
    """bob, muted for 10 minutes at 40 s past a minute, rejoined with 5 min 20 s left: the room
    said "5" (rounded to the nearest), so his screen took the mute to end 20 s early, and its
    "muted until" moved at each rejoin. The room now rounds up (6) and bob's screen keeps the
    end it had from the act, to the second; his refusal says 6 minutes too."""
    room = classroom()
    bob = Session(name="bob", clock=lambda: room.now)
    bob.on_event(ev.Welcome(name="bob", mode="duplex", members=("hal", "ann", "bob", "mallory"), host="hal"))
    room.take_all()
    room.now = START + 40
    room.mod("hal", "mute", "bob", minutes=10)
    for event in room.take("bob"):
        bob.on_event(event)
    real_end = START + 40 + 10 * 60
    assert bob.muted_until == real_end
    room.now = real_end - (5 * 60 + 20)
    room.leave("bob")
    bob.rejoin.lost(bob, room.now)
    room.arrive("bob")
    (welcome,) = [event for event in room.take("bob") if isinstance(event, ev.Welcome)]
    assert welcome.muted == 6
    bob.on_event(welcome)
    assert bob.muted_until == real_end
    room.say("bob", "back?")
    assert "6 more minutes" in room.only_error("bob").message
    room.now = real_end - 0.5  # half a second left: still "1 more minute", never 0 (until unmuted)
    room.say("bob", "now?")
    assert room.only_error("bob").message.startswith("you are muted by hal for 1 more minute; you can still read, and /w")


def test_unmute_and_a_mute_without_minutes():
    room = classroom()
    room.mod("hal", "mute", "bob")
    room.take_all()
    room.say("bob", "x")
    assert "until an operator unmutes you" in room.only_error("bob").message
    room.mod("hal", "unmute", "bob")
    assert room.told("bob")[0].action == "unmute"
    room.still_serves("bob", "hal", "ann")
    room.mod("hal", "unmute", "bob")
    assert room.only_error("hal").message == "bob is not muted"


def test_a_mute_is_stored_survives_a_restart_and_its_minutes_run_on_while_the_server_is_down():
    """A teacher restarting the server unmuted mallory: mutes lived only in memory. Now each is
    stored as a ban is, with its wall-clock end; /unmute drops it from the store too."""
    room = classroom()
    room.mod("hal", "mute", "mallory", minutes=5, reason="calm down")
    room.mod("hal", "mute", "bob")  # until unmuted
    assert [(m.name, m.until, m.by, m.reason) for m in room.stored_mutes.values()] == [
        ("mallory", START + 300, "hal", "calm down"),
        ("bob", None, "hal", ""),
    ]
    restarted = ModDriver(mutes=list(room.stored_mutes.values()))
    restarted.stored_mutes = dict(room.stored_mutes)
    restarted.now = START + 120  # the server was down for two minutes
    restarted.arrive("hal", host=True)
    for name in ("mallory", "bob", "ann"):
        restarted.arrive(name)
    restarted.take_all()
    restarted.say("mallory", "free at last?")
    assert restarted.only_error("mallory").message.startswith("you are muted by hal for 3 more minutes: calm down; you can still read,")
    restarted.say("bob", "and me?")
    assert "until an operator unmutes you" in restarted.only_error("bob").message
    restarted.mod("hal", "unmute", "bob")
    assert [m.name for m in restarted.stored_mutes.values()] == ["mallory"]
    restarted.mod("hal", "mute", "ann", minutes=1)  # a new id, never one of the stored ones
    assert sorted(restarted.stored_mutes) == [1, 3]
    restarted.now = START + 300
    restarted.still_serves("mallory", "hal", "ann")


def test_a_second_mute_of_the_same_person_replaces_the_first_and_says_so():
    """hal muted mallory twice: two mutes were stored, and the act read as if the first had
    never been. Now the second replaces the first (one stored row, one /unmute lifts it), and
    everyone reads what it replaced; a mute holding someone by address alone is not theirs."""
    room = classroom()
    room.mod("hal", "mute", "mallory", minutes=5)
    room.now += 120
    room.take_all()
    room.mod("hal", "mute", "mallory", minutes=10, reason="still spamming")
    (act,) = room.told("ann")
    assert act == ev.Moderated(
        action="mute", by="hal", name="mallory", reason="still spamming", minutes=10, was_until=START + 300, time=START + 120
    )
    assert [(m.name, m.until, m.reason) for m in room.stored_mutes.values()] == [("mallory", START + 720, "still spamming")]
    assert room.room.moderation.mutes == list(room.stored_mutes.values())
    watcher = Session(name="ann", members=["hal", "ann", "mallory"], host="hal")
    (line,) = watcher.on_event(act)
    assert line.text == (
        "hal muted mallory for 10 minutes: still spamming (mallory was already muted for 3 more minutes; this mute replaces that one)"
    )
    (line,) = Session(name="mallory", members=["hal", "mallory"], host="hal").on_event(act)
    assert line.text.startswith("hal muted you for 10 minutes: still spamming (you were already muted for 3 more minutes;")
    room.now += 300  # the first mute would be over: the second holds
    room.take_all()
    room.say("mallory", "now?")
    assert "5 more minutes" in room.only_error("mallory").message
    room.mod("hal", "mute", "mallory")  # until unmuted, then 1 minute: each replaces the one before
    room.mod("hal", "mute", "mallory", minutes=1)
    acts = room.told("bob")
    assert [a.was_until for a in acts] == [START + 720, 0.0]
    assert act_line(acts[1]).endswith("(mallory was already muted until unmuted; this mute replaces that one)")
    assert len(room.stored_mutes) == 1
    room.mod("hal", "unmute", "mallory")
    assert room.stored_mutes == {} and room.room.moderation.mutes == []
    room.take_all()
    room.still_serves("mallory", "hal", "ann", "bob")
    room.mod("hal", "mute", "bob")
    room.leave("mallory")
    room.arrive("m2", address=LAN["bob"])  # on bob's machine: held by bob's mute's address
    room.take_all()
    room.mod("hal", "mute", "m2", minutes=2)
    assert room.told("ann")[0].was_until is None  # bob's mute is bob's: it stays
    assert sorted(m.name for m in room.stored_mutes.values()) == ["bob", "m2"]


def test_a_mute_that_ends_is_dropped_here_and_from_the_store_at_its_end():
    room = classroom()
    assert mutes_end_at(room.room) is None and mutes_ended(room.room) == []
    room.mod("hal", "mute", "mallory", minutes=2)
    room.mod("hal", "mute", "bob")  # until unmuted: never ends by itself
    assert mutes_end_at(room.room) == START + 120
    room.now += 119
    assert mutes_ended(room.room) == []
    room.now += 1
    assert room.perform(mutes_ended(room.room)) == []  # DropMutes(ids=(1,)), performed:
    assert [m.name for m in room.stored_mutes.values()] == ["bob"] == [m.name for m in room.room.moderation.mutes]
    assert mutes_end_at(room.room) is None


def test_thousands_of_mutes_ending_at_once_cost_one_pass_not_one_per_pair(monkeypatch: pytest.MonkeyPatch):
    """Mutes given in a burst (a script, a class muted at once) end in a burst: dropping them
    compared every mute with every ended one (a list's ``in``), 3,000 of them 0.6 s and 10,000
    some seconds of a server that relays nothing meanwhile. Counted, not timed: no Mute is
    compared with another at all."""
    compared = 0
    equal = Mute.__eq__

    def counted(self: Mute, other: object) -> bool:
        nonlocal compared
        compared += 1
        return equal(self, other)

    room = classroom()
    room.room.moderation.mutes = [
        Mute(name_key=f"u{i}", key=None, address=None, until=START + 60, by="hal", reason="", id=100 + i, name=f"u{i}")
        for i in range(3000)
    ]
    room.mod("hal", "mute", "bob")  # until unmuted: stays
    monkeypatch.setattr(Mute, "__eq__", counted)
    room.now += 60
    actions = mutes_ended(room.room)
    assert compared < 100, compared
    assert [m.name for m in room.room.moderation.mutes] == ["bob"]
    (dropped,) = (a for a in actions if isinstance(a, DropMutes))
    assert sorted(dropped.ids) == list(range(100, 3100))


def act_line(act: ev.Moderated) -> str:
    (line,) = Session(name="ann", members=["hal", "ann"], host="hal").on_event(act)
    return line.text


@pytest.mark.parametrize("minutes", [0, -1, 7 * 24 * 60 + 1])
def test_mute_minutes_out_of_range_are_refused(minutes):
    room = classroom()
    room.mod("hal", "mute", "bob", minutes=minutes)
    assert room.only_error("hal").code == ev.E_BAD_MESSAGE
    room.still_serves("bob", "hal")


# ------------------------------------------------------------------ mode and turn


def test_the_room_switches_to_turns_and_back_while_it_runs():
    room = classroom()
    room.mod("hal", "mode", mode="turn")
    got = room.take("bob")
    assert got == [ev.Moderated(action="mode", by="hal", mode="turn", time=START), ev.Turn(holder="ann")]
    assert room.kept_mode == "turn"  # kept with the history: a restart resumes it
    room.say("bob", "me first")
    assert room.only_error("bob").code == ev.E_NOT_YOUR_TURN
    room.say("ann", "hello")
    assert room.room.turn_name == "bob"
    room.mod("hal", "mode", mode="duplex")
    assert room.take("mallory")[-2:] == [ev.Moderated(action="mode", by="hal", mode="duplex", time=START), ev.Turn(holder=None)]
    assert room.kept_mode == "duplex"
    room.still_serves("mallory", "hal", "ann", "bob")
    room.mod("hal", "mode", mode="duplex")
    assert room.only_error("hal").message == "the room is already full-duplex"  # was 'already duplex'
    room.mod("hal", "mode", mode="turn")
    room.take_all()
    room.mod("hal", "mode", mode="turn")
    assert room.only_error("hal").message == "the room is already turn-based"  # was 'already turn'


def test_an_operator_passes_the_turn_from_someone_who_went_away():
    room = classroom("turn")
    assert room.room.turn_name == "ann"
    room.mod("hal", "pass", reason="ann stepped out")
    assert room.take("bob") == [
        ev.Moderated(action="pass", by="hal", name="ann", reason="ann stepped out", time=START),
        ev.Turn(holder="bob"),
    ]
    room.say("bob", "my turn")
    assert room.room.turn_name == "mallory"


PASS_HOW = "/pass alone moves it on to the next in turn order; it cannot hand it to someone"


def test_the_student_holding_the_turn_gives_it_up_and_others_cannot():
    """Only an operator could /pass: a student holding the turn with nothing to say held up the
    whole class until the teacher passed it or --turn-timeout moved it on."""
    room = classroom("turn")
    assert room.room.turn_name == "ann"
    room.mod("bob", "pass")  # not his turn, not an operator: refused, nothing moves
    error = room.only_error("bob")
    assert error.code == ev.E_NOT_OPERATOR
    assert error.message == "only the one holding the turn, or an operator, can /pass; it is ann's turn"
    room.nobody_else_got_anything("hal", "ann", "mallory")
    room.mod("ann", "pass", "bob")  # naming someone else: the turn is hers, nothing moves
    assert room.only_error("ann").message == "bob does not hold the turn; it is ann's turn (" + PASS_HOW + ")"
    assert room.room.turn_name == "ann" and room.records == []
    room.mod("ann", "pass", "Ann", reason="nothing to add")  # naming herself, any case
    for name in ("hal", "ann", "bob", "mallory"):
        assert room.take(name) == [
            ev.Moderated(action="pass", by="ann", name="ann", reason="nothing to add", time=START),
            ev.Turn(holder="bob"),
        ], name
    assert room.records[-1].by == "ann" and room.logged[-1] == "ann passed the turn on: nothing to add"
    room.mod("bob", "pass")  # with no name: his own turn
    assert room.take("ann")[-1] == ev.Turn(holder="mallory")
    room.take_all()
    room.mod("hal", "pass")  # the host keeps the right to pass anyone's turn
    assert room.take("bob")[0] == ev.Moderated(action="pass", by="hal", name="mallory", time=START)
    assert room.room.turn_name == "hal"
    room.say("hal", "the teacher")
    assert room.room.turn_name == "ann"


def test_a_pass_that_would_give_the_turn_back_to_its_holder_is_refused():
    room = ModDriver("turn")
    room.arrive("ann")
    assert room.room.turn_name == "ann"
    room.take_all()
    room.mod("ann", "pass")
    assert room.only_error("ann").message == "nobody else here can take the turn; it stays ann's"
    assert room.records == []


def test_a_muted_person_never_holds_the_turn_up():
    """In turn-based mode the turn went to a muted student, who could not speak: the whole
    room, the host too, read "waiting for bob" until someone passed it by hand."""
    room = classroom()
    room.mod("hal", "mute", "ann", minutes=10)
    room.mod("hal", "mode", mode="turn")
    assert room.room.turn_name == "bob"  # ann joined first, but she is muted
    room.say("bob", "mine")
    assert room.room.turn_name == "mallory"
    room.say("mallory", "and mine")
    assert room.room.turn_name == "hal"
    room.say("hal", "the teacher")
    assert room.room.turn_name == "bob"  # ann is passed over
    room.take_all()
    room.mod("hal", "mute", "bob")  # muted while holding it: it moves on at once
    assert room.room.turn_name == "mallory"
    assert room.take("mallory")[-1] == ev.Turn(holder="mallory")
    room.say("mallory", "still going")
    room.mod("hal", "unmute", "ann")
    room.say("hal", "ann may speak again")
    assert room.room.turn_name == "ann"


def test_when_everyone_but_the_host_is_muted_the_first_unmuted_gets_the_turn():
    room = classroom("turn")
    for name in ("ann", "bob", "mallory"):
        room.mod("hal", "mute", name, minutes=5)
    assert room.room.turn_holder is None  # nobody may hold it (the host never holds it alone)
    room.take_all()
    room.mod("hal", "unmute", "bob")
    assert room.room.turn_name == "bob" and room.take("bob")[-1] == ev.Turn(holder="bob")
    for name in ("bob",):
        room.mod("hal", "mute", name, minutes=5)
    room.now += 5 * 60  # every mute ends by itself: the first to speak takes the turn
    room.take_all()
    room.say("mallory", "back")
    assert [e.text for e in room.take("ann") if isinstance(e, ev.Message)] == ["back"]
    assert room.room.turn_name == "hal"


def test_when_the_mutes_of_everyone_but_the_host_end_by_themselves_the_turn_is_given_again():
    """Everyone but the host muted in a turn room: nobody holds the turn and every screen reads
    'waiting for someone to join'. When the mutes ended by themselves nobody was told whose turn
    it was, so every client (which holds a line typed until it is your turn, client.send_typed)
    held everyone's lines, the host's too, at 'not your turn yet', and /pass said 'nobody holds the turn'."""
    room = classroom("turn")
    for name in ("ann", "bob", "mallory"):
        room.mod("hal", "mute", name, minutes=5)
    assert room.room.turn_holder is None
    room.take_all()
    room.now += 5 * 60
    room.perform(mutes_ended(room.room))
    assert room.room.turn_name == "ann"  # the first to have joined, as /mode turn gives it
    for name in ("hal", "ann", "bob", "mallory"):
        assert room.take(name)[-1] == ev.Turn(holder="ann"), name
    room.now += 60  # a later sweep changes nothing
    assert room.perform(mutes_ended(room.room)) == []


def test_a_host_with_only_muted_students_is_not_told_the_room_waits_for_someone_to_join():
    """Host plus one muted student in a turn room: both screens read 'waiting for someone to
    join' while the room showed 2 here, and the host's say was refused the same way."""
    room = ModDriver("turn")
    room.arrive("hal", host=True)
    room.arrive("ann")
    room.mod("hal", "mute", "ann")
    assert room.room.turn_holder is None
    room.take_all()
    room.say("hal", "anyone?")
    assert room.only_error("hal").message == "not your turn: waiting for an unmute (everyone but the host is muted)"
    welcome = {"mode": "turn", "members": ("hal", "ann"), "turn": None, "host": "hal"}
    student, host = Session(name="ann"), Session(name="hal")
    student.on_event(ev.Welcome(name="ann", **welcome))
    host.on_event(ev.Welcome(name="hal", **welcome))
    assert student.turn_text() == "waiting for an unmute (everyone but the host is muted)"
    assert host.turn_text() == "waiting for an unmute (everyone else is muted: /unmute NAME, or /mode duplex)"
    alone = Session(name="hal")
    alone.on_event(ev.Welcome(name="hal", mode="turn", members=("hal", "colourbot"), turn=None, host="hal"))
    assert alone.turn_text() == "waiting for someone to join" and alone.waiting_for() == "someone to join"


def test_a_turn_nobody_takes_moves_on_by_itself():
    room = classroom("turn", turn_timeout=60)
    room.now += 59
    assert room.perform(tick(room.room)) == []
    room.now += 1
    room.perform(tick(room.room))
    assert room.take("bob") == [
        ev.Moderated(action="pass", by="the server", name="ann", reason="nobody spoke for 60 s", time=START + 60),
        ev.Turn(holder="bob"),
    ]
    room.say("bob", "quick")  # bob speaks: the clock starts again for mallory
    room.now += 59
    assert room.perform(tick(room.room)) == []
    room.take_all()
    room.now += 1  # and runs out 60 s after bob spoke, not after the last pass
    room.perform(tick(room.room))
    assert room.take("bob")[0] == ev.Moderated(
        action="pass", by="the server", name="mallory", reason="nobody spoke for 60 s", time=START + 120
    )
    assert room.room.turn_name != "mallory"


def test_a_turn_timeout_is_the_servers_act_even_when_the_host_held_the_turn():
    """The host read 'hal passed the turn on: nobody spoke for 60 s' about a turn the timeout
    took from hal: as if hal had typed /pass. The server did it, and the line says so."""
    room = classroom("turn", turn_timeout=60)
    for _ in range(3):  # ann, bob and mallory each let it run out: the host's turn comes
        room.now += 60
        room.perform(tick(room.room))
    room.take_all()
    assert room.room.turn_name == "hal"
    room.now += 60
    room.perform(tick(room.room))
    (act, _turn) = room.take("ann")
    assert act.by == "the server" and act.name == "hal"
    assert act_line(act) == "the server passed the turn on from hal: nobody spoke for 60 s"


def test_an_operators_pass_naming_someone_who_no_longer_holds_the_turn_moves_nothing():
    """The host typed '/pass ann' as the turn went from ann to bob: the name went as the reason,
    and bob's turn was passed on ('hal passed the turn on from bob: ann'). A name of someone here
    is sent as the name, and the room refuses it, saying whose turn it is."""
    session = Session(name="hal", members=["hal", "ann", "bob"], host="hal", mode="turn", turn="bob")
    assert session.parse_input("/pass ANN went quiet") == Outgoing(ev.Moderate(action="pass", name="ANN", reason="went quiet"))
    holding = Session(name="bob", members=["hal", "ann", "bob"], host="hal", mode="turn", turn="bob")
    assert holding.parse_input("/pass ann knows this one") == Outgoing(ev.Moderate(action="pass", reason="ann knows this one"))
    room = classroom("turn")
    room.mod("hal", "pass", name="ann")  # ann first in the order, then bob
    room.take_all()
    assert room.room.turn_name == "bob"
    room.mod("hal", "pass", name="ann")
    assert room.only_error("hal").message == "ann does not hold the turn; it is bob's turn (" + PASS_HOW + ")"
    assert room.room.turn_name == "bob"


def test_mode_alone_says_which_mode_the_room_is_in():
    """The host typed /mode to see the room's mode and read only 'usage: /mode turn|duplex'."""
    session = Session(name="hal", members=["hal", "ann"], host="hal", mode="turn", turn="ann")
    (line,) = session.parse_input("/mode").lines  # type: ignore[union-attr]
    assert line.text == "usage: /mode turn|duplex (the room is turn-based now)"
    session.mode = "duplex"
    (line,) = session.parse_input("/mode sideways").lines  # type: ignore[union-attr]
    assert line.text == "usage: /mode turn|duplex (the room is full-duplex now)"


def test_pass_outside_turn_mode_says_why():
    room = classroom()
    room.mod("hal", "pass")
    assert room.only_error("hal").message == "/pass works in turn-based mode only"
    # a student too: told "only an operator can use /pass; hal (the host) is one", as if an
    # operator could pass a turn in a duplex room
    room.mod("bob", "pass")
    assert room.only_error("bob").message == "/pass works in turn-based mode only"


def test_moderation_needs_a_name_and_a_known_action():
    room = classroom()
    room.mod("hal", "kick")
    assert room.only_error("hal").message == "/kick needs a NAME"
    room.mod("hal", "kick", "nobody")
    assert room.only_error("hal").code == ev.E_NO_SUCH_USER
    room.mod("hal", "explode", "bob")
    assert room.only_error("hal").code == ev.E_BAD_MESSAGE
    room.mod("hal", "kick", "bob", reason="x" * 201)
    assert room.only_error("hal").code == ev.E_TOO_LONG
    room.still_serves("bob", "hal", "ann", "mallory")


def test_a_room_without_moderation_events_behaves_as_before():
    room = Room(clock=lambda: START)
    assert room.moderation.bans == [] and tick(room) == []


# ------------------------------------- what a person types and sees (session_moderation.py)


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("/kick mallory flooding the chat", ev.Moderate(action="kick", name="mallory", reason="flooding the chat")),
        ("/kick mallory", ev.Moderate(action="kick", name="mallory")),
        ("/ban mallory spam", ev.Moderate(action="ban", name="mallory", reason="spam")),
        ("/unban #3", ev.Moderate(action="unban", name="#3")),
        ("/bans", ev.Moderate(action="bans")),
        ("/mute bob 5 calm down", ev.Moderate(action="mute", name="bob", minutes=5, reason="calm down")),
        ("/mute bob calm down", ev.Moderate(action="mute", name="bob", reason="calm down")),
        ("/unmute bob", ev.Moderate(action="unmute", name="bob")),
        ("/op ann", ev.Moderate(action="op", name="ann")),
        ("/deop ann", ev.Moderate(action="deop", name="ann")),
        ("/mode TURN", ev.Moderate(action="mode", mode="turn")),
        ("/pass went for coffee", ev.Moderate(action="pass", reason="went for coffee")),
        ("/pass HAL", ev.Moderate(action="pass", name="HAL")),  # our own turn, by name
        ("/pass ann asleep", ev.Moderate(action="pass", name="ann", reason="asleep")),  # the holder's
        ("/pass bob is away", ev.Moderate(action="pass", reason="bob is away")),  # anyone else: a reason
    ],
)
def test_moderation_commands_become_moderate_events(typed, sent):
    session = Session(name="hal")
    session.mode, session.turn = "turn", "ann"
    assert session.parse_input(typed) == Outgoing(sent)


@pytest.mark.parametrize("typed", ["/kick", "/mode sideways", "/op ann extra", "/bans please"])
def test_a_malformed_moderation_command_shows_its_usage(typed):
    result = Session(name="hal").parse_input(typed)
    assert isinstance(result, Local) and result.lines[0].text.startswith("usage: /")


def test_unban_alone_shows_both_ways_to_name_the_ban():
    """/unban alone said "usage: /unban NAME", though /bans numbers the bans for "/unban #ID"
    (README, /help), the way to lift a ban whose name someone else has taken since."""
    result = Session(name="hal").parse_input("/unban")
    assert isinstance(result, Local) and result.lines[0].text == "usage: /unban NAME|#ID (/bans lists them)"


def test_back_to_duplex_says_so_once_and_no_empty_turn_line():
    session = Session(name="ann", members=["hal", "ann"], host="hal", mode="turn", turn="ann")
    shown = session.on_event(ev.Moderated(action="mode", by="hal", mode="duplex", time=START))
    shown += session.on_event(ev.Turn(holder=None))  # the room sends it after every switch
    assert [line.text for line in shown] == ["hal switched the room to full-duplex mode"]
    assert session.mode == "duplex" and session.turn is None


def test_acts_read_as_one_line_with_who_and_why():
    session = Session(name="mallory", members=["hal", "ann", "mallory"], host="hal")

    def line(**fields: object) -> str:
        (shown,) = session.on_event(ev.Moderated(by="hal", time=START, **fields))  # type: ignore[arg-type]
        return shown.text

    assert line(action="kick", name="ann", reason="spam") == "hal removed ann from the room: spam"
    assert line(action="mute", name="mallory", minutes=5, reason="calm down") == (
        "hal muted you for 5 minutes: calm down (you can still read)"
    )
    assert line(action="ban", name="ann") == "hal banned ann"
    assert line(action="mode", mode="turn") == "hal switched the room to turn-based mode"
    assert session.mode == "turn"
    assert line(action="pass", name="ann", reason="nobody spoke for 60 s") == "hal passed the turn on from ann: nobody spoke for 60 s"
    # the teacher with nothing to say passes their own turn: it read 'hal passed the turn on from hal'
    assert line(action="pass", name="hal") == "hal passed the turn on"
    assert Session(name="hal", host="hal").on_event(ev.Moderated(by="hal", time=START, action="pass", name="hal"))[0].text == (
        "hal passed the turn on"  # on hal's own screen it read '... from you'
    )
    assert session.on_event(ev.Left(name="ann", reason="kicked", time=START)) == []  # already said
    assert session.members == ["hal", "mallory"]


def test_who_marks_the_host_and_operators():
    session = Session(name="bob", host="hal")
    assert session.on_event(ev.Operators(names=("hal", "ann"))) == []
    (line,) = session.on_event(ev.Roster(members=("hal", "ann", "bob")))
    assert line.text == "here (3): hal (host), ann (op), bob (you)"


# ------------------------------------------------------- bans and acts on disk (history.py)


def test_bans_and_acts_are_stored_and_survive_reopening(tmp_path):
    from lanchat.history import HistoryStore

    path = tmp_path / "history.sqlite3"
    room = classroom()
    store = HistoryStore(path)
    room.mod("hal", "ban", "mallory", reason="spam")
    room.mod("hal", "mute", "bob", minutes=5)
    for ban in room.stored.values():
        store.add_ban(ban)
    for act in room.records:
        store.keep_act(act)
    store.close()
    reopened = HistoryStore(path)
    assert reopened.bans() == list(room.stored.values())
    assert reopened.acts() == room.records
    restarted = ModDriver(bans=reopened.bans())
    restarted.arrive("hal", host=True)
    cid = restarted.arrive("mallory2", address="192.168.1.66")
    assert restarted.only_error(cid).code == ev.E_BANNED
    reopened.drop_bans((1,))
    assert reopened.bans() == []
    reopened.close()


def test_mutes_are_stored_and_those_over_are_left_out_on_reopening(tmp_path):
    from lanchat.history import HistoryStore

    path = tmp_path / "history.sqlite3"
    room = classroom()
    room.mod("hal", "mute", "mallory", minutes=5, reason="calm down")
    room.mod("hal", "mute", "bob")
    room.mod("hal", "mute", "ann", minutes=1)
    room.mod("hal", "unmute", "ann")
    store = HistoryStore(path)
    for mute in room.stored_mutes.values():
        store.add_mute(mute, START)
    store.close()
    reopened = HistoryStore(path)
    assert reopened.mutes(START + 60) == list(room.stored_mutes.values())  # the key and address with them
    assert [m.name for m in reopened.mutes(START + 300)] == ["bob"]  # mallory's five minutes are over
    reopened.add_mute(Mute(id=9, name="cy", name_key="cy", key=None, address=None, until=None, by="hal", reason=""), START + 301)
    assert [r[0] for r in reopened.db.execute("SELECT name FROM mutes ORDER BY id")] == ["bob", "cy"]  # over: gone
    reopened.drop_mutes((2,))
    assert [m.name for m in reopened.mutes(START)] == ["cy"]
    reopened.close()


def test_an_old_history_is_rekeyed_so_look_alike_names_meet(tmp_path):
    """A file keyed by case folding alone: a direct message kept for 'A1ice' must reach 'alice'."""
    from helpers import first_release_history

    from lanchat.history import HistoryStore

    path = first_release_history(tmp_path / "old.sqlite3", [(START, "bob", "A1ice", "psst")])
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO names (key, name, last_seen) VALUES ('a1ice', 'A1ice', 0)")
    db.close()
    store = HistoryStore(path)
    assert store.db.execute("SELECT recipient_key FROM messages").fetchall() == [("alice",)]
    assert store.last_seen("ALICE") == 0
    store.close()
    again = HistoryStore(path)  # once only: the rule is recorded
    assert again.db.execute("SELECT value FROM settings WHERE key = 'name_rule'").fetchone() == ("nfkc-casefold-skeleton-1",)
    again.close()


def test_a_ban_by_a_public_keys_bytes_holds_as_the_identity_work_gives_them():
    """The identity work gives each member the raw bytes of an Ed25519 public key: a ban keeps
    its fingerprint (moderation.key_id), and the same key under another name is refused."""
    room = ModDriver()
    room.arrive("hal", host=True)
    room.arrive("mallory", key=b"\x01" * 32)
    room.take_all()
    room.mod("hal", "ban", "mallory")
    (ban,) = room.stored.values()
    assert ban.key is not None and len(ban.key) == 64
    cid = room.arrive("innocent", address="10.9.9.9", key=b"\x01" * 32)
    assert room.only_error(cid).code == ev.E_BANNED
    cid = room.arrive("cat", address="10.9.9.10", key=b"\x02" * 32)
    assert isinstance(room.take(cid)[0], ev.Welcome)


def test_serve_operator_with_a_full_fingerprint_makes_only_that_key_an_operator_under_any_name():
    """serve --operator SHA256:...: no name is kept for anyone; another key joining as the
    teacher's name is no operator, the teacher's key is, under whatever name, and stays one
    when it comes back under another."""
    teach_key, other_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = identity.public_bytes(teach_key)
    room = ModDriver(operators=(identity.fingerprint(public),))
    mallory = room.arrive_with_key("teach", other_key)
    guest = room.arrive("ms-k")  # a keyless guest under the name the teacher will use
    room.take_all()
    assert room.room.moderation.operator_names(room.room) == ()
    room.mod("teach", "kick", "ms-k")
    assert room.only_error(mallory).code == ev.E_NOT_OPERATOR
    room.leave("ms-k")
    room.take_all()
    assert guest not in room.room.members
    teach = room.arrive_with_key("ms-k", teach_key)
    made = [ev.Moderated(action="op", by="the server", name="ms-k", reason="serve --operator", time=START), ev.Operators(names=("ms-k",))]
    assert room.take(teach)[-2:] == made and room.take(mallory)[-2:] == made
    assert room.room.moderation.operator_keys == {key_id(public)}
    room.leave("ms-k")
    room.take_all()
    room.arrive_with_key("teacher", teach_key)
    room.mod("teacher", "kick", "teach")
    assert "teach" not in room.room.names
    room.still_serves("teacher")


def test_who_in_a_room_of_hundreds_of_muted_long_names_still_fits_one_frame():
    """The room-full rule keeps every member's name inside one frame once, as a welcome lists
    them; a roster lists the muted ones a second time. 460 people with names of 32 four-byte
    characters, all muted, made /who's roster 121 KB: FrameError in the server's pass, and the
    one who asked was cut off. The muted ones are now listed as far as they fit."""
    from lanchat.wire import MAX_FRAME_BYTES

    room = classroom()
    names = [chr(0x10400 + number // 40) + chr(0x10400 + number % 40) + "\U0001f600" * 30 for number in range(460)]
    for name in names:
        room.arrive(name)
        room.mod("hal", "mute", name, minutes=5)
    room.take_all()
    room.who("ann")
    (roster,) = [e for e in room.take("ann") if isinstance(e, ev.Roster)]
    assert len(encode(roster)) <= 4 + MAX_FRAME_BYTES
    assert roster.members[-460:] == tuple(names)
    assert 0 < len(roster.muted) < 460 and roster.muted == tuple(names[: len(roster.muted)])  # as many as fit beside 60 KB of names
    assert roster.muted_minutes == (5,) * len(roster.muted)


def test_op_by_key_is_stored_and_a_restarted_room_keeps_it_until_a_deop(tmp_path):
    """/op was lost with a restart (the teacher's laptop restarting mid-lesson): the room kept bans,
    mutes and the mode, not who she had made an operator. Now /op of someone whose proven key owns
    their name is stored by that key (StoreOperator), a room started from the store has it again
    for that key under any name, and /deop drops it from the store (DropOperator). A keyless guest's
    is not stored: after a restart anyone could join under that name."""
    from lanchat.actions import DropOperator, StoreOperator
    from lanchat.history import HistoryStore

    store = HistoryStore(tmp_path / "history.sqlite3")
    ann_key = Ed25519PrivateKey.generate()
    ann_id = key_id(identity.public_bytes(ann_key))

    def keep(room: ModDriver) -> None:  # what the hub does with the kept actions
        for action in room.kept:
            if isinstance(action, StoreOperator):
                store.add_operator(action.key, action.name)
            elif isinstance(action, DropOperator):
                store.drop_operator(action.key)
        room.kept.clear()

    before = ModDriver()
    before.arrive("hal", host=True)
    before.arrive_with_key("ann", ann_key)
    before.arrive("guest")
    before.mod("hal", "op", "ann")
    before.mod("hal", "op", "guest")
    assert before.kept == [StoreOperator(key=ann_id, name="ann")]
    keep(before)
    assert store.operator_keys() == [(ann_id, "ann")]

    after = ModDriver(operator_keys=[key for key, _name in store.operator_keys()])
    after.arrive("hal", host=True)
    after.arrive("guest")
    ann = after.arrive_with_key("annie", ann_key)  # the same key, under another name
    assert after.room.moderation.operator_names(after.room) == ("hal", "annie")
    after.take_all()
    after.mod("annie", "mute", "guest")
    assert [act.action for act in after.told("guest")] == ["mute"]
    after.mod("hal", "deop", "annie")
    keep(after)
    assert store.operator_keys() == []
    assert not after.room.moderation.is_operator(after.room, after.room.members[ann])
    store.close()


def test_a_banned_operator_is_one_no_more_after_an_unban_or_a_restart():
    """Operator status by key is stored (a restart keeps it): banning that key drops it, here and
    from the store, whether the operator is here or has just left, so an /unban lets the person
    back in, not back into running the room."""
    from lanchat.actions import DropOperator, StoreOperator

    for here in (True, False):
        room = ModDriver(mode="duplex")
        room.arrive("hal", host=True)
        key = Ed25519PrivateKey.generate()
        room.arrive_with_key("ann", key)
        room.mod("hal", "op", "ann")
        if not here:
            room.leave("ann")
        room.mod("hal", "ban", "ann")
        ann_id = key_id(identity.public_bytes(key))
        assert room.kept == [StoreOperator(key=ann_id, name="ann"), DropOperator(key=ann_id)], here
        assert ann_id not in room.room.moderation.operator_keys


def an_operator_by_key_who_left() -> tuple[ModDriver, str]:
    """hal hosts; ann, with a key, was made an operator (stored by that key) and has left."""
    room = ModDriver(mode="duplex")
    room.arrive("hal", host=True)
    key = Ed25519PrivateKey.generate()
    room.arrive_with_key("ann", key)
    room.mod("hal", "op", "ann")
    room.leave("ann")
    return room, key_id(identity.public_bytes(key))  # type: ignore[return-value]


def test_deop_of_an_operator_not_here_takes_back_what_a_restart_would_keep():
    """The host's start lines say 'operators kept from the last run (their keys; /deop NAME takes
    it back): ann', but /deop ann with ann not here answered 'nobody called ann is here': the
    teacher could not take it back before ann came in already running the room. Now /deop of a
    name whose owning key is an operator drops it, here and from the store (DropOperator)."""
    from lanchat.actions import DropOperator, StoreOperator

    room, ann_id = an_operator_by_key_who_left()
    room.take_all()
    room.mod("hal", "deop", "ann")
    assert room.kept == [StoreOperator(key=ann_id, name="ann"), DropOperator(key=ann_id)]
    assert ann_id not in room.room.moderation.operator_keys
    assert [(act.action, act.name) for act in room.told("hal")] == [("deop", "ann")]
    room.mod("hal", "deop", "nobody")  # no operator key owns it: as before
    assert [e.code for e in room.take("hal") if isinstance(e, ev.Error)] == [ev.E_NO_SUCH_USER]


def test_release_of_an_operators_name_takes_operator_status_from_its_old_key():
    """/release NAME says the name's key is no longer its person's (a lost key file, maybe taken).
    Operator status given with /op stayed with that old key, stored, across restarts, and no
    /deop or /ban of the name could reach it any more (the name was no longer that key's). Now
    the release drops it, here and from the store; the person, with a new key, is /op'ed again."""
    from lanchat.actions import DropOperator, StoreOperator

    room, ann_id = an_operator_by_key_who_left()
    room.perform(room.room.handle(room.cid["hal"], ev.Release(name="ann")))
    assert room.kept == [StoreOperator(key=ann_id, name="ann"), DropOperator(key=ann_id)]
    assert ann_id not in room.room.moderation.operator_keys


def test_a_banned_student_cannot_get_in_by_the_serve_operator_name_nobody_owns_yet():
    """serve --operator teach, before the teacher has joined with her key (the name owned by
    nobody yet): mallory, banned by key, joined as teach with that same key. The ban check let
    the --operator name past every ban, so she was welcomed, her ban was lifted and she was made
    an operator. A name nobody owns proves nobody: her ban holds, and nothing is lifted."""
    room = ModDriver(operators=("teach",))
    room.arrive("hal", host=True)
    mallory_key = Ed25519PrivateKey.generate()
    room.arrive_with_key("mallory", mallory_key)
    room.arrive("ann")
    room.take_all()
    room.mod("hal", "ban", "mallory", reason="spam")
    assert "mallory" not in room.room.names
    room.take_all()
    as_teach = room.arrive_with_key("teach", mallory_key)
    got = room.take(as_teach)
    assert not any(isinstance(e, ev.Welcome) for e in got), got
    assert [e.code for e in got if isinstance(e, ev.Error)] == [ev.E_BANNED]
    assert "teach" not in room.room.names
    assert [ban.name for ban in room.room.moderation.bans] == ["mallory"] and len(room.stored) == 1
    assert not room.room.moderation.operator_keys
    # the teacher herself, whose key nobody has banned, still becomes the operator it names
    teacher = room.arrive_with_key("teach", Ed25519PrivateKey.generate())
    assert room.room.name_of(teacher) == "teach" and room.room.moderation.is_operator(room.room, room.room.members[teacher])
    assert [ban.name for ban in room.room.moderation.bans] == ["mallory"]


def test_a_mute_replaced_while_away_shows_its_own_end_to_the_second_on_rejoining():
    """bob, muted for 10 minutes, dropped; while he was away hal muted him again, ending 20 s
    after the old end. The rejoin's welcome said the minutes only (rounded up), which fit the old
    end, so bob's status line kept it, 20 s early. The welcome now says the seconds left too
    (``muted_seconds``), and bob's screen takes the end from them: the new mute's, to the second."""
    room = classroom()
    bob = Session(name="bob", clock=lambda: room.now)
    bob.on_event(ev.Welcome(name="bob", mode="duplex", members=("hal", "ann", "bob", "mallory"), host="hal"))
    room.take_all()
    room.mod("hal", "mute", "bob", minutes=10)
    for event in room.take("bob"):
        bob.on_event(event)
    old_end = START + 10 * 60
    room.now = START + 100
    room.leave("bob")
    bob.rejoin.lost(bob, room.now)
    room.now = START + 140
    room.mod("hal", "mute", "bob", minutes=8)  # 8 minutes from START + 140: 20 s past the old end
    room.now = START + 200
    room.arrive("bob")
    (welcome,) = [event for event in room.take("bob") if isinstance(event, ev.Welcome)]
    new_end = START + 140 + 8 * 60
    assert (welcome.muted, welcome.muted_seconds) == (7, new_end - room.now)
    bob.on_event(welcome)
    assert bob.muted_until == new_end != old_end


def test_a_first_join_muted_says_the_mutes_end_to_the_second():
    """cy, muted by name before joining for the first time, joins with 5 min 20 s left: by the
    minutes alone (6, rounded up) his screen said "muted until" up to two minutes late (a minute
    from the room's rounding, one from the status line's). The seconds left put it at the real end."""
    room = classroom()
    room.mod("hal", "mute", "cy", minutes=10)
    room.now = START + 4 * 60 + 40
    room.arrive("cy")
    (welcome,) = [event for event in room.take("cy") if isinstance(event, ev.Welcome)]
    assert (welcome.muted, welcome.muted_seconds) == (6, 5 * 60 + 20)
    cy = Session(name="cy", clock=lambda: room.now)
    cy.on_event(welcome)
    assert cy.muted_until == START + 10 * 60
    until_unmuted = classroom()
    until_unmuted.mod("hal", "mute", "cy")
    until_unmuted.arrive("cy")
    (welcome,) = [event for event in until_unmuted.take("cy") if isinstance(event, ev.Welcome)]
    assert (welcome.muted, welcome.muted_seconds) == (0, None)  # no end to say


def test_a_welcome_from_an_older_server_without_seconds_still_gives_the_mutes_end():
    """An older server's welcome has ``muted`` alone: the end is taken from the minutes as before
    (kept_mute_end), and a welcome whose seconds make no sense (another server's) falls back so."""
    for seconds in (None, 0, -5, ev.MAX_MUTE_MINUTES * 60 + 1):
        cy = Session(name="cy", clock=lambda: 1000.0)
        cy.on_event(ev.Welcome(name="cy", mode="duplex", members=("hal", "cy"), host="hal", muted=6, muted_seconds=seconds))
        assert cy.muted_until == 1000.0 + 6 * 60, seconds


def test_release_of_a_present_operators_name_takes_operator_status_from_that_connection_too():
    """ann, with a key, was made an operator and is here when hal, told her key file was lost,
    types /release ann. Her key lost operator status (here and in the store), but her connection
    stayed an operator until it left (status given by /op is kept by connection too): whoever held
    the key could go on kicking and banning. The release now takes it from the connection as
    well, and the room is told as for a /deop (the act, then the operators)."""
    from lanchat.actions import DropOperator

    room = ModDriver(mode="duplex")
    room.arrive("hal", host=True)
    key = Ed25519PrivateKey.generate()
    ann = room.arrive_with_key("ann", key)
    room.arrive("bob")
    room.mod("hal", "op", "ann")
    room.take_all()
    room.perform(room.room.handle(room.cid["hal"], ev.Release(name="ann")))
    assert DropOperator(key=key_id(identity.public_bytes(key))) in room.kept  # type: ignore[arg-type]
    assert not room.room.moderation.is_operator(room.room, room.room.members[ann])
    got = room.take("bob")
    assert [(e.action, e.by, e.name) for e in got if isinstance(e, ev.Moderated)] == [("deop", "hal", "ann")]
    assert [e.names for e in got if isinstance(e, ev.Operators)] == [("hal",)]
    room.mod("ann", "kick", "bob")
    assert [e.code for e in room.take("ann") if isinstance(e, ev.Error)] == [ev.E_NOT_OPERATOR]
    assert "bob" in room.room.names
    # a release of a name whose key is no operator tells nobody anything new
    room.perform(room.room.handle(room.cid["hal"], ev.Release(name="ann")))
    assert not [e for e in room.take("bob") if isinstance(e, (ev.Moderated, ev.Operators))]


def test_unban_of_a_number_no_ban_has_lifts_an_older_versions_ban_on_that_name():
    """A name like "#5" is refused now (it reads as a ban's number), but a ban on it made by an
    older version stays in the store: /unban #5 found no ban numbered 5 and said 'no ban
    matches', and the teacher could lift it only by guessing its number. A number no ban has
    is taken as the name; a number a ban has is that ban, as /bans shows it."""
    old = Ban(id=1, name="#5", name_key=ev.name_key("#5"), key=None, address=None, by="hal", reason="", time=START)
    room = classroom(bans=[old])
    room.stored[old.id] = old
    room.mod("hal", "ban", "mallory")
    room.take_all()
    room.mod("hal", "unban", "#5")
    assert [(a.action, a.name) for a in room.told("hal")] == [("unban", "#5")]
    assert [b.name for b in room.room.moderation.bans] == ["mallory"]
    (mallory,) = room.room.moderation.bans
    room.mod("hal", "unban", f"#{mallory.id}")
    assert [(a.action, a.name) for a in room.told("hal")] == [("unban", "mallory")]
    assert ev.name_problem("#5") is not None


def test_a_mute_of_the_colour_bot_an_older_version_stored_does_not_hold_it():
    """The bot is the server's own now (no /mute reaches it), but a history file may hold a mute
    of 'colourbot' an older version stored: the bot's whispers were refused (muted, to whisper
    only the host and operators), so /mood went unanswered, and /who showed it muted. No mute
    holds against a bot, as none does against the host."""
    old = Mute(name_key=ev.name_key("colourbot"), key=None, address=None, until=None, by="hal", reason="", id=1, name="colourbot")
    room = classroom(mutes=[old])
    bot = room.connect()
    room.room.service_cids.add(bot)
    room.join("colourbot", cid=bot)
    room.take_all()
    room.perform(room.room.handle(bot, ev.Whisper(to="ann", text="Hi ann")))
    assert not [e for e in room.take(bot) if isinstance(e, ev.Error)]
    assert [e.text for e in room.take("ann") if isinstance(e, ev.Direct)] == ["Hi ann"]
    room.perform(room.room.handle(room.cid["ann"], ev.Who()))
    (roster,) = [e for e in room.take("ann") if isinstance(e, ev.Roster)]
    assert "colourbot" not in roster.muted


def test_the_colour_bot_cannot_be_made_an_operator():
    """kick, ban and mute of the bot are refused (it is the server's own), but /op colourbot made
    it one: the room read 'hal made colourbot an operator', /who and the operators list named it,
    and a headless room's refusals said 'ask colourbot'. /op of it is refused the same way."""
    room = classroom()
    bot = room.connect()
    room.room.service_cids.add(bot)
    room.join("colourbot", cid=bot)
    room.take_all()
    room.mod("hal", "op", "colourbot")
    error = room.only_error("hal")
    assert error.code == ev.E_BAD_MESSAGE and "the server's own bot" in error.message
    assert room.room.moderation.operator_names(room.room) == ("hal",)
    assert not [e for e in room.take("ann") if isinstance(e, (ev.Moderated, ev.Operators))]


def test_an_operator_who_renames_stays_marked_and_their_old_name_marks_nobody():
    """ann, an operator, typed /nick anna. The room tells operators only when they change, and
    everyone's screen kept 'ann' as the operator: /who showed anna unmarked, a muted student's
    whisper to anna was taken for one to a student, and a newcomer called ann was marked (op)."""
    cy = Session(name="cy", clock=lambda: 100.0)
    cy.on_event(ev.Welcome(name="cy", mode="duplex", members=("hal", "ann", "cy"), host="hal"))
    cy.on_event(ev.Operators(names=("hal", "ann")))
    cy.on_event(ev.Renamed(old="ann", new="anna", time=101.0))
    assert cy.is_operator("anna") and cy.may_ask_why("anna")
    cy.on_event(ev.Joined(name="ann", time=102.0))
    assert not cy.is_operator("ann")
    (who,) = cy.on_event(ev.Roster(members=("hal", "anna", "cy", "ann")))
    assert "anna (op)" in who.text and "ann (op)" not in who.text


def test_deop_takes_operator_status_from_every_session_of_that_key():
    """ann, made an operator, also joined from a second terminal (her key, as ann2). hal typed
    /deop ann2: her key lost operator status, but her first session, made one by connection as
    well, stayed an operator until it left. A /deop is of the person: all her sessions here lose
    it; and /deop of her name while she is here only under another does the same."""
    room = ModDriver(mode="duplex")
    room.arrive("hal", host=True)
    key = Ed25519PrivateKey.generate()
    ann = room.arrive_with_key("ann", key)
    room.mod("hal", "op", "ann")
    ann2 = room.arrive_with_key("ann2", key)
    mod = room.room.moderation
    assert mod.is_operator(room.room, room.room.members[ann2])
    room.take_all()
    room.mod("hal", "deop", "ann2")
    assert not mod.is_operator(room.room, room.room.members[ann])
    assert not mod.is_operator(room.room, room.room.members[ann2])
    assert [e.names for e in room.take(ann) if isinstance(e, ev.Operators)] == [("hal",)]
    room.mod("hal", "op", "ann")
    room.leave("ann")
    room.take_all()
    room.mod("hal", "deop", "ann")  # not here as ann: the key that owns the name, here as ann2
    assert not mod.is_operator(room.room, room.room.members[ann2])
    assert [e.names for e in room.take(ann2) if isinstance(e, ev.Operators)] == [("hal",)]


def test_an_operators_rename_changes_the_operators_list_and_everyone_is_sent_it():
    """PROTOCOL.md: 'operators' lists them all whenever that changes. A rename of an operator
    changes the names in it, but none was sent: an older client, or a text participant, went on
    naming 'ann' as the operator after she became anna (and a newcomer taking 'ann' as one).
    A student's rename sends none."""
    room = classroom()
    room.mod("hal", "op", "ann")
    room.take_all()
    room.perform(room.room.handle(room.cid["ann"], ev.Nick(name="anna")))
    got = room.take("bob")
    assert [type(e).__name__ for e in got] == ["Renamed", "Operators"]
    assert got[1].names == ("hal", "anna")
    room.take_all()
    room.perform(room.room.handle(room.cid["bob"], ev.Nick(name="bobby")))
    assert [type(e).__name__ for e in room.take("mallory")] == ["Renamed"]


def test_release_of_an_operators_name_she_rejoined_under_tells_the_room():
    """ann, an operator by her key, came back after a drop (a new connection, an operator by the
    key alone). /release ann dropped the key's status, but the room was not told: every screen
    went on showing her as an operator. She is told of as after a /deop, and is one no more."""
    room = ModDriver(mode="duplex")
    room.arrive("hal", host=True)
    key = Ed25519PrivateKey.generate()
    room.arrive_with_key("ann", key)
    room.arrive("bob")
    room.mod("hal", "op", "ann")
    room.leave("ann")
    ann = room.arrive_with_key("ann", key)
    assert room.room.moderation.is_operator(room.room, room.room.members[ann])
    room.take_all()
    room.perform(room.room.handle(room.cid["hal"], ev.Release(name="ann")))
    assert not room.room.moderation.is_operator(room.room, room.room.members[ann])
    got = room.take("bob")
    assert [(e.action, e.name) for e in got if isinstance(e, ev.Moderated)] == [("deop", "ann")]
    assert [e.names for e in got if isinstance(e, ev.Operators)] == [("hal",)]


def test_a_muted_operator_cannot_unmute_themself():
    """hal made ann and bob operators; bob, getting out of hand, was muted by ann, and typed
    /unmute bob: the mute was gone at once, and the room read 'bob unmuted bob'. A mute is for
    someone else to lift: /unmute of oneself is refused (by name, and as 'you' under another)."""
    room = classroom()
    room.mod("hal", "op", "ann")
    room.mod("hal", "op", "bob")
    room.mod("ann", "mute", "bob", minutes=10)
    room.take_all()
    room.mod("bob", "unmute", "bob")
    error = room.only_error("bob")
    assert error.code == ev.E_NOT_OPERATOR and "yourself" in error.message
    assert len(room.room.moderation.mutes) == 1
    room.mod("ann", "unmute", "bob")
    assert not room.room.moderation.mutes
    room.take_all()
    room.mod("bob", "mute", "bob")  # nor mute themself, which they could not lift
    assert room.only_error("bob").message == "you cannot /mute yourself" and not room.room.moderation.mutes


def test_the_store_keeps_the_next_ban_number_past_lifted_ones_and_reads_garbage_as_none(tmp_path):
    from lanchat.history import HistoryStore

    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path)
    assert store.next_moderation_ids() == (1, 1)  # nothing kept yet
    for number in (1, 2, 3):
        store.add_ban(Ban(id=number, name=f"p{number}", name_key=f"p{number}", key=None, address=None, by="t", reason="", time=0.0))
    store.add_ban(Ban(id=2, name="p2", name_key="p2", key=None, address=None, by="t", reason="again", time=0.0))  # never lowers it
    store.drop_bans((3,))
    store.add_mute(Mute(id=7, name="m", name_key="m", key=None, address=None, until=None, by="t", reason=""), 0.0)
    store.close()
    store = HistoryStore(path)
    assert [b.id for b in store.bans()] == [1, 2] and store.next_moderation_ids() == (4, 8)
    store.db.execute("UPDATE settings SET value = 'x9' WHERE key = 'next_ban_id'")  # a hand edit
    assert store.next_moderation_ids() == (1, 8)
    store.close()


def test_a_ban_or_mute_behind_a_schools_nat_holds_the_person_not_the_whole_class():
    """A class behind one address (a school's NAT), each with their own key: /ban mallory held
    by that address too, so ann and ben were put out at once and refused at their next join
    (a /mute muted them all). With others there under keys of their own it holds by name and
    key: mallory stays out under any name with her key; the class chats on and rejoins."""
    room = ModDriver()
    room.arrive("hal", host=True)
    nat = "203.0.113.7"
    for name in ("ann", "ben", "mallory", "cy"):
        room.arrive(name, address=nat, key=f"SHA256:{name}s-key")
    room.take_all()
    room.mod("hal", "mute", "cy")
    room.say("ann", "still talking")
    assert [e.text for e in room.take("hal") if isinstance(e, ev.Message)] == ["still talking"]
    room.mod("hal", "ban", "mallory", reason="spam")
    (ban,) = room.stored.values()
    assert ban.address is None and ban.key == "SHA256:mallorys-key"
    assert room.room.name_of(room.cid["ann"]) == "ann" and room.room.name_of(room.cid["ben"]) == "ben"
    room.still_serves("ann", "hal", "ben")
    again = room.arrive("ben2", address=nat, key="SHA256:bens-key")  # ben's Wi-Fi dropped: he rejoins
    assert isinstance(room.take(again)[0], ev.Welcome)
    assert room.only_error(room.arrive("m4llory", address=nat, key="SHA256:mallorys-key")).code == ev.E_BANNED
    assert room.only_error(room.arrive("mallory", address="10.9.9.9")).code == ev.E_BANNED


def test_a_ban_of_a_scripts_guest_still_holds_its_address_when_the_others_there_have_no_key():
    room = ModDriver()
    room.arrive("hal", host=True)
    for n in range(3):
        room.arrive(f"g{n}", address="203.0.113.9")  # a script's guests: no keys
    room.take_all()
    room.mod("hal", "ban", "g0")
    (ban,) = room.stored.values()
    assert ban.address == "203.0.113.9"
    assert room.only_error(room.arrive("g9", address="203.0.113.9")).code == ev.E_BANNED


@pytest.mark.parametrize(("action", "fields", "undo"), [("mute", {"minutes": 5}, "unmute"), ("ban", {}, "unban")])
def test_a_ban_or_mute_of_a_name_the_room_never_saw_tells_the_operator_and_names_the_close_ones(action, fields, undo):
    """At the projector the teacher typed `/mute dna 5` for dan: the room said `hal muted dna for
    5 minutes` to everyone, as done, and dan chatted on; nothing told the teacher that nobody had
    that name. The act still holds whoever joins as dna; the operator alone is told, with the
    names here close to it (not the host's own, which no act reaches) and how to undo it."""
    room = classroom()
    room.arrive("dan")
    room.take_all()
    room.mod("hal", action, "dna", **fields)
    notices = [e for e in room.take("hal") if isinstance(e, ev.Notice)]
    assert [n.code for n in notices] == [ev.E_NO_SUCH_USER], notices
    assert notices[0].message == (
        f"nobody here or lately gone is named dna (did you mean dan?), and no key owns that name: the {action} "
        f"holds whoever joins as dna; /{undo} dna lifts it"
    )
    for other in ("ann", "dan"):  # the room reads the act as before, and no notice
        assert not [e for e in room.take(other) if isinstance(e, ev.Notice)]
    room.mod("hal", action, "zqx", **fields)  # nothing close: no guess
    (notice,) = [e for e in room.take("hal") if isinstance(e, ev.Notice)]
    assert notice.message.startswith("nobody here or lately gone is named zqx, and no key owns")


@pytest.mark.parametrize(("action", "fields"), [("mute", {"minutes": 5}), ("ban", {})])
def test_a_ban_or_mute_of_someone_who_just_left_or_whose_name_a_key_owns_tells_nothing_more(action, fields):
    """The act meant for someone gone (spam said, then a quick exit) is no typo: no notice."""
    room = classroom()
    room.leave("mallory")
    room.take_all()
    room.mod("hal", action, "mallory", **fields)
    assert not [e for e in room.take("hal") if isinstance(e, ev.Notice)]
    owner = Ed25519PrivateKey.generate()
    room.arrive_with_key("kim", owner)
    room.leave("kim", "quit")
    room.room.moderation.departed_places.clear()  # only the key that owns the name is left to know kim by
    room.take_all()
    room.mod("hal", action, "kim", **fields)
    assert not [e for e in room.take("hal") if isinstance(e, ev.Notice)]


def test_a_ban_or_mute_of_a_name_nobody_has_compares_it_with_a_bounded_few_in_a_big_room(monkeypatch):
    """A /mute of a name nobody has is compared with the names here for a 'did you mean': with
    every name of a 4,000-strong room (student0001...: difflib ~75 us each, alike in length) one
    such act held everyone's chat 0.3 s, and an operator may repeat it. In a room of more than
    GUESS_AMONG, that many are compared: names within one letter of its length, the first to join."""
    import difflib

    from lanchat.moderation import GUESS_AMONG

    room = classroom()
    for n in range(GUESS_AMONG * 3):
        room.arrive(f"student{n:04d}")
    room.take_all()
    compared: list[int] = []
    real = difflib.get_close_matches

    def counted(word, possibilities, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        compared.append(len(possibilities))
        return real(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counted)
    room.mod("hal", "mute", "studnet0012", minutes=5)
    (notice,) = [e for e in room.take("hal") if isinstance(e, ev.Notice)]
    assert compared == [GUESS_AMONG], compared
    assert "(did you mean student0012" in notice.message, notice.message


def _ann_now_anna_muted_as_ann() -> tuple[ModDriver, int]:
    """hal hosts, bob is here; ann, whose key owns ann, typed /nick anna; hal typed /mute ann,
    which followed her key: 'hal muted anna'. The room and anna's connection."""
    room = ModDriver()
    room.arrive("hal", host=True)
    room.arrive("bob", key=b"\x03" * 32)
    cid = room.arrive("ann", key=b"\x02" * 32)
    room.room.gate.claim("ann", b"\x02" * 32)  # as joining with that key does (gate.py)
    room.perform(room.room.handle(cid, ev.Nick(name="anna")))
    room.take_all()
    room.mod("hal", "mute", "ann", minutes=5)
    assert [(e.action, e.name) for e in room.told("hal")] == [("mute", "anna")]
    return room, cid


def test_a_mute_of_a_name_whose_key_two_sessions_here_share_stays_the_names():
    """/mute ann, whose key owns ann, follows the key to the one person here who has it under
    another name (test_moderation_cli: 'hal muted anna'). Two terminals of one login share the
    key under two names: which is meant, nobody knows, so the act is the name's, as before."""
    room, _cid = _ann_now_anna_muted_as_ann()
    room.mod("hal", "unmute", "ann")
    assert [(e.action, e.name) for e in room.told("hal")] == [("unmute", "anna")]
    room.arrive("a2", key=b"\x02" * 32)  # her second terminal, under another name
    room.take_all()
    room.mod("hal", "mute", "ann", minutes=5)
    assert [(e.action, e.name) for e in room.told("hal")] == [("mute", "ann")]


def test_unmute_of_a_second_terminal_on_a_muted_students_machine_does_not_lift_her_mute_unsaid():
    """mallory, muted (alone at her address, so the mute holds it), opened a second window as zed
    with no key and asked to be let speak: hal typed /unmute zed, every screen read 'hal unmuted
    zed', and mallory's own mute was gone: she spoke on. A mute that holds someone by address
    alone is someone else's (_put_mute): /unmute zed is refused, saying whose, and mallory stays
    muted until hal lifts hers by her name."""
    room = classroom()
    room.mod("hal", "mute", "mallory", minutes=30)
    (mute,) = room.room.moderation.mutes
    assert mute.address == LAN["mallory"]
    room.arrive("zed", address=LAN["mallory"])  # her second window, no key
    room.take_all()
    room.mod("hal", "unmute", "zed")
    refused = room.only_error("hal")
    assert refused.code == ev.E_BAD_MESSAGE, refused
    assert refused.message == (
        "zed is muted by hal's mute of mallory, which holds their address too: /unmute mallory lifts it, for both"
    )
    assert room.room.moderation.mutes == [mute] and not room.records[1:]
    room.say("mallory", "free again")
    assert room.only_error("mallory").code == ev.E_MUTED
    assert all(not isinstance(e, ev.Message) for e in room.take("ann"))
    room.mod("hal", "unmute", "mallory")  # by her name: lifted, for both
    assert [(e.action, e.name) for e in room.told("ann")] == [("unmute", "mallory")]
    room.still_serves("zed", "ann", "mallory")


def test_unmute_and_unban_of_a_name_left_by_nick_reach_its_key_after_she_has_gone():
    """hal typed /mute ann of ann, now anna (her key owns ann): 'hal muted anna'. Once she had
    gone, /unmute ann read 'nobody called ann is muted' and her mute stayed (it was made under
    anna); /ban ann then /unban ann alike ('no ban matches'). Now both reach the mute or ban of
    the key that owns the name, and say the name it was made under."""
    room, cid = _ann_now_anna_muted_as_ann()
    room.perform(room.room.leave(cid, "quit"))
    room.take_all()
    room.mod("hal", "unmute", "ann")
    assert [(e.action, e.name) for e in room.told("bob")] == [("unmute", "anna")]
    assert not room.room.moderation.mutes and not room.stored_mutes
    cid = room.arrive("anna", key=b"\x02" * 32)
    room.take_all()
    room.mod("hal", "ban", "ann")
    assert [(e.action, e.name) for e in room.told("hal")] == [("ban", "anna")]
    assert room.room.name_of(cid) is None  # put out
    room.take_all()
    room.mod("hal", "unban", "ann")
    assert [(e.action, e.name) for e in room.told("bob")] == [("unban", "anna")]
    assert not room.room.moderation.bans and not room.stored
    room.take_all()
    room.mod("hal", "unmute", "ann")  # nothing of hers left: said so, as before
    assert room.only_error("hal").message == "nobody called 'ann' is muted"
