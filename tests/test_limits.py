"""limits.py as pure objects with a hand-turned clock: each limit just under and just over.

The flooder, the reconnection storm and the slowloris from the attacker's side, one request
or one byte at a time, with the time set by the test.
"""

from __future__ import annotations

import ipaddress
import math

import pytest

from lanchat import limits as lim

T0 = 1_000.0


# ------------------------------------------------------------------ flood control


def test_a_burst_of_ten_goes_through_and_the_eleventh_is_told_to_slow_down():
    flood = lim.FloodControl()
    assert all(flood.check("mallory", T0).allowed for _ in range(10))
    verdict = flood.check("mallory", T0)
    assert verdict.action == lim.SLOW_DOWN
    assert verdict.retry_after == pytest.approx(1 / 3, abs=1e-3) and verdict.retry_after >= 1 / 3  # rounded up: ms


def test_three_a_second_is_sustained_for_ever():
    flood = lim.FloodControl()
    now = T0
    for _ in range(10):
        assert flood.check("ann", now).allowed  # the burst
    for _ in range(300):  # 100 seconds at exactly the rate
        now += 1 / 3
        assert flood.check("ann", now).allowed


def test_just_over_the_rate_is_refused_sometimes_never_more():
    flood = lim.FloodControl()
    now = T0
    verdicts = []
    for _ in range(10):
        flood.check("ann", now)
    for _ in range(40):  # 3.5 a second: half a message a second too many
        now += 1 / 3.5
        verdicts.append(flood.check("ann", now).action)
    assert lim.SLOW_DOWN in verdicts
    assert set(verdicts) == {lim.OK, lim.SLOW_DOWN}  # never paused: accepted ones reset the count


def test_a_flooder_is_told_then_no_longer_read_then_disconnected():
    flood = lim.FloodControl()
    now = T0
    actions = [flood.check("mallory", now).action for _ in range(10 + 10)]
    assert actions == [lim.OK] * 10 + [lim.SLOW_DOWN] * 10
    paused = flood.check("mallory", now)
    assert paused.action == lim.STOP_READING
    assert paused.resume_at == pytest.approx(now + 10 / 3)  # until the bucket is full again
    for _ in range(2):  # back from each pause, it floods again at once
        now = paused.resume_at
        actions = [flood.check("mallory", now).action for _ in range(20)]
        assert actions == [lim.OK] * 10 + [lim.SLOW_DOWN] * 10
        paused = flood.check("mallory", now)
        assert paused.action == lim.STOP_READING
    now = paused.resume_at
    actions = [flood.check("mallory", now).action for _ in range(21)]
    assert actions[-1] == lim.DISCONNECT  # the fourth pause within a minute


def test_pauses_a_minute_apart_never_disconnect():
    flood = lim.FloodControl()
    now = T0
    for _ in range(6):
        actions = [flood.check("keen", now).action for _ in range(21)]
        assert actions[-1] == lim.STOP_READING
        now += lim.PAUSE_MEMORY_SECONDS


def test_everyone_has_their_own_bucket_and_leaving_does_not_refill_it():
    flood = lim.FloodControl()
    for _ in range(10):
        flood.check("mallory", T0)
    assert flood.check("ann", T0).allowed
    flood.forget("mallory", T0)  # left and came back at once under the same name
    assert flood.check("mallory", T0).action == lim.SLOW_DOWN


def test_a_renamed_bucket_goes_with_its_person_and_a_name_used_just_before_keeps_the_emptier():
    flood = lim.FloodControl(burst=3, rate=1.0)
    for _ in range(3):
        assert flood.check("mallory", 0.0).allowed
    flood.renamed("mallory", "mal2", 0.0)
    assert not flood.check("mal2", 0.0).allowed  # the empty bucket came along
    assert flood.check("mallory", 0.0).allowed  # the name given up is anyone's again
    flood.renamed("mal2", "mallory", 0.0)  # back to a name whose bucket is fuller: the emptier stays
    assert not flood.check("mallory", 0.0).allowed
    flood.renamed("nobody", "anyone", 0.0)  # nothing counted yet: nothing to carry
    assert len(flood) == 1


def test_operators_may_have_more_and_a_benchmark_none():
    flood = lim.FloodControl()
    flood.allow("teacher", burst=50, rate=20)
    flood.allow("bench", unlimited=True)
    assert all(flood.check("teacher", T0).allowed for _ in range(50))
    assert not flood.check("teacher", T0).allowed
    assert all(flood.check("bench", T0).allowed for _ in range(100_000))


def test_memory_is_bounded_however_many_names_flood():
    flood = lim.FloodControl(max_tracked=100)
    for i in range(10_000):
        flood.check(f"name{i}", T0 + i * 0.001)
    assert len(flood) <= 100
    flood.forget("name9999", T0 + 100)  # refilled long ago: nothing kept
    assert "name9999" not in flood._senders


# ------------------------------------------------------------------ connections


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("127.0.0.1", "local"),
        ("::1", "local"),
        ("::ffff:127.0.0.1", "local"),
        ("/tmp/chat.sock", "local"),
        ("", "local"),
        ("192.168.1.7", "192.168.1.7"),
        ("::ffff:192.168.1.7", "192.168.1.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        # on a LAN's own IPv6 addresses the /64 is the whole class: one machine, one address
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::2", "fe80::2"),
        ("fd12:3456:789a:1::7", "fd12:3456:789a:1::7"),
    ],
)
def test_connections_are_counted_per_machine(address, group):
    assert lim.address_group(address) == group


def test_a_class_joining_over_link_local_ipv6_is_not_one_machine():
    """Every link-local address on a LAN is in fe80::/64: counted per /64, the 17th student to
    join over IPv6 link-local was refused 'too many connections', and a ban of one student's
    address banned the class."""
    caps = lim.ConnectionLimits()
    for student in range(1, 31):
        assert caps.admit(f"fe80::{student:x}%eth0", T0 + student) is None
    for _ in range(15):
        assert caps.admit("fe80::1%eth0", T0 + 40) is None  # one machine still has its own 16
    assert caps.admit("fe80::1%eth0", T0 + 40) is not None


CLASS_LAN = ipaddress.IPv6Network("2001:db8:1::/64")  # the server's own network, global IPv6


@pytest.mark.parametrize(
    ("address", "group"),
    [
        # on the server's own LAN the /64 is the whole class: one machine, one address, as IPv4
        ("2001:db8:1::7", "2001:db8:1::7"),
        ("2001:db8:1::7%eth0", "2001:db8:1::7"),
        # another network's /64 may be one machine's: counted as one
        ("2001:db8:2::7", "2001:db8:2::/64"),
        ("2001:db8:1:1::7", "2001:db8:1:1::/64"),  # the next /64 along is not on the link
        ("192.168.1.7", "192.168.1.7"),
        ("fe80::1%eth0", "fe80::1"),
        ("::1", "local"),
    ],
)
def test_addresses_on_the_servers_own_ipv6_network_are_counted_one_by_one(address, group):
    assert lim.address_group(address, on_link=(CLASS_LAN,)) == group


def test_a_class_joining_over_the_servers_global_ipv6_network_is_not_one_machine():
    """A class on a LAN with a global IPv6 prefix was one /64: the 17th student was refused
    'too many connections'. Off that network a /64 still counts as one machine."""
    caps = lim.ConnectionLimits(groups=lim.AddressGroups([CLASS_LAN]))
    for student in range(1, 31):
        assert caps.admit(f"2001:db8:1::{student:x}", T0 + student) is None
    for _ in range(15):
        assert caps.admit("2001:db8:1::1", T0 + 40) is None  # one machine still has its own 16
    assert "2001:db8:1::1 (16 at once)" in caps.admit("2001:db8:1::1", T0 + 40)
    for host in range(1, 17):
        assert caps.admit(f"2001:db8:2::{host:x}", T0 + 50) is None
    assert "address 2001:db8:2::/64 (16 at once)" in caps.admit("2001:db8:2::99", T0 + 50)


def test_the_servers_ipv4_link_local_and_unique_local_networks_change_nothing():
    """Only global IPv6 networks are kept: the others are counted one by one anyway, and a
    loopback or link-local 'network' must never make a stranger's /64 look local."""
    networks = [ipaddress.ip_network(n) for n in ("192.168.1.0/24", "fe80::/64", "fd00:1::/64", "::1/128")]
    assert lim.AddressGroups(networks).on_link == ()
    assert lim.AddressGroups([*networks, CLASS_LAN]).on_link == (CLASS_LAN,)


def test_a_network_wider_than_a_64_never_makes_strangers_count_one_by_one():
    """An interface whose prefix is shorter than /64 is no class LAN: an IPv6 netmask of '::'
    (read as ::/0), a 6to4 tunnel's 2002::/16, an overlay's 200::/7 whose addresses anyone makes
    by the thousand. Kept as the server's own network, each of those addresses was one machine
    with its own 16 connections, so a stranger with many addresses had no /64 cap at all."""
    wide = [ipaddress.ip_network(n) for n in ("::/0", "2002::/16", "200::/7", "2001:db8::/48")]
    groups = lim.AddressGroups([*wide, CLASS_LAN])
    assert groups.on_link == (CLASS_LAN,)
    assert groups.group("2001:db8:5::1") == "2001:db8:5::/64"
    assert groups.group("2002:c000:204::1") == "2002:c000:204::/64"
    assert groups.group("2001:db8:1::9") == "2001:db8:1::9"  # the class LAN (a /64) still is
    caps = lim.ConnectionLimits(groups=lim.AddressGroups(wide))
    for host in range(1, 17):
        assert caps.admit(f"2002:c000:204::{host:x}", T0) is None
    assert "2002:c000:204::/64 (16 at once)" in caps.admit("2002:c000:204::99", T0)


class Interfaces:
    """netinfo.local_networks as a test sets it: what the machine is on now, and how often asked."""

    def __init__(self, *networks: str) -> None:
        self.networks = [ipaddress.ip_network(n) for n in networks]
        self.asked = 0

    def __call__(self) -> list:
        self.asked += 1
        return list(self.networks)


def test_a_server_started_before_its_lans_prefix_came_up_learns_it_from_the_first_stranger():
    """The prefix comes after the server started (a slow router advertisement): the first
    address from a /64 the server is not on makes it look again; then that /64 is its own."""
    interfaces = Interfaces()
    now = [T0]
    groups = lim.AddressGroups(interfaces(), refresh=interfaces, clock=lambda: now[0], refresh_seconds=60)
    interfaces.networks = [CLASS_LAN]
    assert groups.group("2001:db8:1::5") == "2001:db8:1::5"
    assert interfaces.asked == 2
    assert groups.group("2001:db8:1::6") == "2001:db8:1::6"  # known now: not asked again
    assert interfaces.asked == 2


def test_strangers_make_the_server_look_at_its_networks_at_most_once_a_minute_and_messages_never():
    """A storm from outside (or one muted stranger's every message) costs a dict lookup, and
    reading the interfaces at most once in ``refresh_seconds``."""
    interfaces = Interfaces("2001:db8:1::/64")
    now = [T0]
    groups = lim.AddressGroups(interfaces(), refresh=interfaces, clock=lambda: now[0], refresh_seconds=60)
    for host in range(1000):
        assert groups.group(f"2001:db8:{host + 2:x}::1") == f"2001:db8:{host + 2:x}::/64"
    for _ in range(1000):
        groups.group("2001:db8:2::1")  # the same stranger again: remembered
    for address in ("192.168.1.7", "fe80::1%eth0", "fd00::1", "::1", "2001:db8:1::9"):
        groups.group(address)  # nothing to learn from these
    assert interfaces.asked == 2  # at start, and for the first stranger
    now[0] += 60
    groups.group("2001:db8:ffff::1")
    assert interfaces.asked == 3


def test_a_re_read_that_finds_no_network_at_all_keeps_the_ones_known():
    """netinfo.local_networks answers [] when psutil fails: forgetting the class LAN for a minute
    would make a /ban in that minute hold the whole LAN's /64."""
    interfaces = Interfaces("2001:db8:1::/64")
    now = [T0]
    groups = lim.AddressGroups(interfaces(), refresh=interfaces, clock=lambda: now[0], refresh_seconds=60)
    interfaces.networks = []
    assert groups.group("2001:db8:7::1") == "2001:db8:7::/64"  # a stranger: the server looks again
    assert interfaces.asked == 2
    assert groups.group("2001:db8:1::5") == "2001:db8:1::5"


def test_a_connection_is_released_under_the_group_it_was_counted_under():
    """The networks may change while a student is connected; the cap is given back to the
    group it was taken from, or that group would stay full for ever."""
    interfaces = Interfaces()
    now = [T0]
    groups = lim.AddressGroups(refresh=interfaces, clock=lambda: now[0])
    caps = lim.ConnectionLimits(groups=groups)
    group = groups.group("2001:db8:1::5")
    assert group == "2001:db8:1::/64"
    assert caps.check("2001:db8:1::5", now[0], group=group) is None
    interfaces.networks = [CLASS_LAN]
    now[0] += 61
    assert groups.group("2001:db8:7::1") == "2001:db8:7::/64"  # a stranger: the server looks again
    assert groups.group("2001:db8:1::5") == "2001:db8:1::5"
    caps.release("2001:db8:1::5", group=group)
    assert caps.open == {}


@pytest.mark.parametrize(
    ("stored", "address", "held"),
    [
        ("2001:db8:1::66", "2001:db8:1::66", True),
        ("2001:db8:1::66", "2001:db8:1::67", False),  # a classmate on the same LAN
        # a /64 stored by an older version, or for a machine off the server's LAN: still that /64
        ("2001:db8:1::/64", "2001:db8:1::67", True),
        ("2001:db8:1::/64", "2001:db8:1:1::67", False),
        ("fe80::/64", "fe80::67%eth0", True),  # before link-local was counted one by one
        ("fe80::66", "fe80::66%eth0", True),
        ("192.168.1.66", "::ffff:192.168.1.66", True),
        ("192.168.1.66", "192.168.1.67", False),
        ("2001:db8:1::/64", "192.168.1.66", False),
        ("2001:db8:1::66", "local", False),
    ],
)
def test_a_stored_ban_or_mute_address_holds_what_it_held(stored, address, held):
    assert lim.group_matches(stored, address) is held


def test_sixteen_connections_from_one_address_and_not_seventeen():
    caps = lim.ConnectionLimits()
    now = T0
    for _ in range(16):
        assert caps.admit("192.168.1.7", now) is None
    refusal = caps.admit("192.168.1.7", now)
    assert refusal == "too many connections from address 192.168.1.7 (16 at once); " + lim.AT_ONCE_SHARED
    assert caps.admit("192.168.1.8", now) is None  # a classmate is unaffected
    caps.release("192.168.1.7")
    assert caps.admit("192.168.1.7", now) is None  # one closed: one more may come


def test_an_account_holds_sixteen_unfinished_connections_and_a_classmate_still_comes_in():
    """On a lab server the class shares this machine's caps: one account's script holding
    unfinished connections is refused its 17th (one clear line naming the account), spending
    none of the machine's new connections a minute; a classmate's account, an account not
    known (None) and a settled one (welcomed, or closed) may come."""
    caps = lim.ConnectionLimits(new_per_minute_local=18, max_pending_per_account=16)  # (64 by default)
    for _ in range(16):
        assert caps.check("127.0.0.1", T0, account=1066) is None
    for _ in range(100):  # the script keeps trying: each refused, none counted toward the machine
        refusal = caps.check("127.0.0.1", T0, account=1066)
        assert refusal is not None and refusal.rule == lim.PENDING
    assert refusal.text == (
        "too many unfinished connections from user 1066 on this machine (16 at once); "
        "finish joining with one or close some, then try again"
    )
    assert caps.check("127.0.0.1", T0, account=1067) is None  # a classmate: the 17th of 18 this minute
    caps.settled(1066)  # one of the script's was welcomed (a visible join), or closed
    assert caps.check("127.0.0.1", T0, account=1066) is None  # the 18th
    assert caps.pending == {1066: 16, 1067: 1}
    caps.release("127.0.0.1", group=lim.LOCAL, account=1067)  # closed before its welcome
    assert caps.pending == {1066: 16} and caps.open == {lim.LOCAL: 17}


def test_an_accounts_new_connections_a_minute_are_its_own_not_the_machines():
    """A script opening and closing connections as fast as it may (each settled at once) spends
    its own account's new connections a minute, never the class's: a classmate, and the
    server's own account (counted as the machine, account None), still come in."""
    caps = lim.ConnectionLimits(new_per_minute_local=5)
    for _ in range(5):
        assert caps.check("127.0.0.1", T0, account=1066) is None
        caps.release("127.0.0.1", group=lim.LOCAL, account=1066)
    refusal = caps.check("127.0.0.1", T0, account=1066)
    assert refusal is not None and refusal.rule == lim.PER_MINUTE
    assert refusal.text == "too many new connections from user 1066 on this machine (5 a minute); try again in 12 s"
    assert caps.check("127.0.0.1", T0, account=1067) is None
    assert caps.check("127.0.0.1", T0) is None
    assert caps.pending == {1067: 1}


def test_loopback_has_its_own_number():
    caps = lim.ConnectionLimits(max_per_local=3, new_per_minute_local=100)
    assert [caps.admit(a, T0) for a in ("127.0.0.1", "::1", "/tmp/x.sock")] == [None, None, None]
    assert "this machine (3 at once)" in caps.admit("127.0.0.1", T0)


def test_new_connections_per_minute_just_under_and_just_over():
    caps = lim.ConnectionLimits(max_per_address=1000)
    now = T0
    for _ in range(30):
        assert caps.admit("10.0.0.9", now) is None
        caps.release("10.0.0.9")
    refusal = caps.admit("10.0.0.9", now)
    assert refusal == "too many new connections from 10.0.0.9 (30 a minute); try again in 2 s"
    assert caps.admit("10.0.0.9", now + 2.0) is None  # one more every two seconds
    assert caps.open == {"10.0.0.9": 1}


def test_a_storm_of_refusals_is_one_line_then_a_count_per_address_and_rule():
    caps = lim.ConnectionLimits(max_per_address=1, new_per_minute=1000)
    refusals = lim.RefusalLog(seconds=5.0, max_tracked=2)
    assert caps.admit("10.0.0.9", T0) is None and caps.admit("10.0.0.8", T0) is None
    at_once = caps.check("10.0.0.9", T0)
    assert at_once is not None and at_once.rule == lim.AT_ONCE
    assert refusals.refused("10.0.0.9", "10.0.0.9:5000", at_once, T0) == [
        "10.0.0.9:5000: too many connections from address 10.0.0.9 (1 at once); close some and try again; refusing"
        " (a class behind one address? serve --max-per-address N raises the cap)"
    ]
    assert [refusals.refused("10.0.0.9", "10.0.0.9:5001", at_once, T0 + n / 10) for n in range(1, 50)] == [[]] * 49
    other = caps.check("10.0.0.8", T0)  # another address: a storm of its own, told apart
    assert refusals.refused("10.0.0.8", "10.0.0.8:7000", other, T0)[0].startswith("10.0.0.8:7000: ")
    assert caps.admit("10.0.0.7", T0) is None
    third = caps.check("10.0.0.7", T0)  # two storms are counted already (max_tracked): logged in full, memory bounded
    assert third is not None and [len(refusals.refused("10.0.0.7", "10.0.0.7:1", third, T0)) for _ in range(2)] == [1, 1]
    assert refusals.next_due() == T0 + 5.0
    assert refusals.due(T0 + 4.9) == []
    assert refusals.due(T0 + 5.0) == ["10.0.0.9: 49 more connections refused within 5 s of the first (too many connections from address 10.0.0.9 (1 at once))"]
    assert refusals.next_due() is None  # 10.0.0.8 had no more: nothing to say, nothing kept
    # A storm still counting when the next refusal comes after its time: its count comes first.
    refusals.refused("10.0.0.9", "10.0.0.9:1", at_once, T0 + 10)
    refusals.refused("10.0.0.9", "10.0.0.9:2", at_once, T0 + 11)
    assert refusals.refused("10.0.0.9", "10.0.0.9:3", at_once, T0 + 15) == [
        "10.0.0.9: 1 more connection refused within 5 s of the first (too many connections from address 10.0.0.9 (1 at once))",
        "10.0.0.9:3: too many connections from address 10.0.0.9 (1 at once); close some and try again; refusing" + lim.AT_ONCE_HINT,
    ]
    refusals.refused("10.0.0.9", "10.0.0.9:4", at_once, T0 + 16)
    assert len(refusals.due(math.inf)) == 1  # the server shutting down: every count, whatever its time


def test_remembered_addresses_are_bounded():
    caps = lim.ConnectionLimits(max_tracked=50)
    for i in range(5_000):
        address = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        assert caps.admit(address, T0 + i) is None
        caps.release(address)
    assert len(caps._arrivals) <= 50 and caps.open == {}


# ------------------------------------------------------------------ deadlines


def test_a_frame_dripped_a_byte_a_second_is_closed_ten_seconds_after_its_first_byte():
    deadlines = lim.Deadlines()
    deadlines.connected(1, T0)
    for second in range(1, 11):  # a byte a second, the frame never finished
        deadlines.progress(1, T0 + second, partial_frame=True)
        assert deadlines.expired(T0 + second) == []
    assert deadlines.next_due() == T0 + 11  # the frame clock started at its first byte, T0 + 1
    assert deadlines.expired(T0 + 10.999) == []
    assert deadlines.expired(T0 + 11) == [(1, "frame", "a frame was started but not finished within 10 seconds")]
    assert deadlines.expired(T0 + 30) == []  # once only
    assert len(deadlines) == 0


def test_hello_within_twenty_seconds_however_many_other_frames_arrive():
    deadlines = lim.Deadlines()
    deadlines.connected(1, T0)
    for second in range(0, 20, 5):  # a frame every 5 s, each finished in time, none a hello
        deadlines.progress(1, T0 + second, partial_frame=True)
        deadlines.progress(1, T0 + second + 4, partial_frame=False)
        assert deadlines.expired(T0 + second + 4) == []
    assert deadlines.expired(T0 + 20) == [(1, "hello", 'no "hello" within 20 seconds of connecting')]


def test_no_hello_at_all_is_closed_at_twenty_seconds():
    deadlines = lim.Deadlines()
    deadlines.connected(1, T0)
    deadlines.connected(2, T0 + 1)
    assert deadlines.expired(T0 + 19.99) == []
    assert deadlines.expired(T0 + 20) == [(1, "hello", 'no "hello" within 20 seconds of connecting')]
    deadlines.joined(2)
    assert deadlines.expired(T0 + 25) == []
    assert deadlines.next_due() is None


def test_finished_frames_never_expire_and_a_new_frame_gets_a_fresh_clock():
    deadlines = lim.Deadlines()
    deadlines.connected(1, T0)
    deadlines.joined(1)
    deadlines.progress(1, T0, partial_frame=True)
    deadlines.progress(1, T0 + 9, partial_frame=False)  # finished just in time
    deadlines.progress(1, T0 + 9.5, partial_frame=True)  # the next one starts
    assert deadlines.expired(T0 + 15) == []
    assert deadlines.expired(T0 + 19.5) == [(1, "frame", "a frame was started but not finished within 10 seconds")]


def test_closed_connections_are_forgotten():
    deadlines = lim.Deadlines()
    for cid in range(1000):
        deadlines.connected(cid, T0)
        deadlines.progress(cid, T0, partial_frame=True)
        deadlines.closed(cid)
    assert len(deadlines) == 0
    assert deadlines.next_due() is None
    assert deadlines.expired(T0 + 100) == []


def test_the_tokens_left_for_a_welcome_are_whole_and_refill():
    flood = lim.FloodControl(burst=4, rate=2.0)
    assert flood.tokens_left("ann", T0) == 4  # never seen: all of them
    for _ in range(4):
        flood.check("ann", T0)
    assert flood.tokens_left("ann", T0) == 0
    assert flood.tokens_left("ann", T0 + 0.4) == 0  # 0.8 of a token allows nothing yet
    assert flood.tokens_left("ann", T0 + 1.0) == 2
    assert flood.tokens_left("ann", T0 + 60) == 4
    flood.allow("teacher", burst=50, rate=20.0)
    assert flood.tokens_left("teacher", T0) == 50


def test_a_shared_bucket_keeps_its_last_tokens_for_a_light_sender_for_hours_and_remembers_few():
    # Its counts grow by exp(t / 10 s): rescaled every few minutes, never overflowing; a heavy
    # sender spends it down to the reserve, a light one still passes; the people it remembers
    # stay bounded however many names pass through.
    shared = lim.SharedBucket(20, 6.0, 0.0)
    light_refused = heavy_passed = 0
    for tenth in range(3 * 3600 * 10):  # three hours
        now = tenth / 10
        heavy_passed += shared.admit("mallory", now)
        if tenth % 20 == 0:
            light_refused += not shared.admit("eve", now)
        if tenth % 50 == 0:
            shared.admit(f"guest{tenth}", now)  # a new name every 5 s
    assert light_refused == 0
    assert heavy_passed <= 20 + 6 * 3 * 3600
    assert len(shared.use) <= lim.MAX_SHARING and all(math.isfinite(v) for v in shared.use.values())


@pytest.mark.parametrize("gap", [2 * 3600.0, 1e6])
def test_a_shared_bucket_takes_a_line_hours_after_the_last_one(gap):
    # A laptop that speaks at 9:00 and again at 11:00 (or a server up for weeks): its counts
    # grow by exp(t / 10 s), and the gap's was computed before rescaling: exp(720) overflowed
    # (OverflowError: the server ended the connection, and each later line's as well).
    shared = lim.SharedBucket(20, 6.0, 5.0)
    assert shared.admit("ann", 10.0) and shared.admit("bob", 10.5)
    assert shared.admit("ann", 10.0 + gap) and shared.admit("bob", 10.0 + gap + 1)
    assert shared.admit("ann", 10.0 + 2 * gap)
    assert all(math.isfinite(v) for v in shared.use.values()) and math.isfinite(shared.heaviest)


def test_an_empty_shared_bucket_refuses_only_heavy_senders_and_its_debt_is_bounded():
    # Empty, it refuses (False: a step of their ladder) a line only of one as busy as the busiest
    # there, or past a person's burst and half as busy; anyone else's goes into debt, and past
    # SHARED_DEBT waits (None), uncounted, so a client sending it again never looks heavy.
    shared = lim.SharedBucket(20, 6.0, 0.0)
    assert all(shared.admit("mallory", 0.0) for _ in range(20))
    assert all(shared.admit("mallory", 0.0) is False for _ in range(30))  # refused attempts count
    assert all(shared.admit("eve", 0.0) is True for _ in range(20))  # light: into debt
    assert shared.bucket.tokens == -lim.SHARED_DEBT
    assert [shared.admit("eve", 0.0) for _ in range(50)] == [None] * 50
    assert shared.use["eve"] == 20.0  # the waiting ones not counted
    assert shared.admit("eve", 1.0) is True  # 6 tokens paid back: the light sender goes first
    assert shared.admit("mallory", 1.0) is False
    shared.renamed("mallory", "mal2")  # a /nick is no fresh count
    assert shared.admit("mal2", 2.0) is False


def _in_debt(flood: lim.FloodControl, now: float) -> lim.SharedBucket:
    """A shared bucket a heavy sender emptied and light ones borrowed from up to SHARED_DEBT."""
    shared = lim.SharedBucket(20, 6.0, now)
    assert all(shared.admit("mallory", now) for _ in range(20))
    for n in range(int(lim.SHARED_DEBT)):
        assert flood.check(f"light{n}", now, 1.0, shared).allowed
    assert shared.bucket.tokens == 1.0 - 1.0 - lim.SHARED_DEBT
    return shared


def test_a_light_senders_line_sent_behind_one_that_waits_waits_too_so_none_overtakes_it():
    # Eve pastes two lines behind a busy school NAT: the first meets the debt's end and waits
    # (retry_after); the second was already on its way and came a moment later, when the debt
    # was a little paid back. Before, it went through, and the client sent the first again
    # after it: her lines arrived out of order ('s8 line 2' before 's8 line 0').
    flood = lim.FloodControl()
    shared = _in_debt(flood, T0)
    first = flood.check("eve", T0, 1.0, shared)
    assert first.action == lim.SLOW_DOWN and first.shared and first.retry_after > 0.2
    second = flood.check("eve", T0 + 0.2, 1.0, shared)  # 1.2 tokens paid back by then
    assert second.action == lim.SLOW_DOWN and second.shared
    assert T0 + 0.2 + second.retry_after == pytest.approx(T0 + first.retry_after, abs=1e-3)  # both at once
    assert flood.check("bob", T0 + 0.2, 1.0, shared).allowed  # a classmate with no line waiting borrows
    again = T0 + first.retry_after  # her client sends both again, in order, once told
    assert flood.check("eve", again, 1.0, shared).allowed and flood.check("eve", again, 1.0, shared).allowed
    assert flood.tokens_left("eve", again) == lim.DEFAULT_BURST - 2  # each spent once, the waits not at all


def test_lines_sent_behind_a_waiting_one_past_a_burst_go_to_the_shared_bucket_as_any_line():
    # The rule is for what a client sent before it read the refusal (its burst at most): a
    # script pushing more behind it is not refused for nothing, uncounted, for ever.
    flood = lim.FloodControl(burst=1000, rate=1000.0)  # their own limit out of the way
    shared = _in_debt(flood, T0)
    assert flood.check("eve", T0, 1.0, shared).action == lim.SLOW_DOWN
    used = shared.use["eve"]
    for _ in range(lim.BEHIND_MOST):
        assert flood.check("eve", T0 + 0.2, 1.0, shared).action == lim.SLOW_DOWN
    assert shared.use["eve"] == used  # none of those counted
    assert flood.check("eve", T0 + 0.2, 1.0, shared).allowed  # the next: to the shared bucket (debt paid a little)
    assert shared.use["eve"] > used


def test_a_line_pushed_past_the_burst_that_waits_too_gives_no_fresh_batch_of_free_refusals():
    # A script's guest pushing within the wait: its eleventh line went to the shared bucket, was
    # made to wait too (the debt still at its end), and that started ten more refused for
    # nothing, uncounted, and so on: never counted, never heavy, never put out (12 guests of one
    # address at 40 lines a second: 7 still in after a minute, where all went before 1f3707e).
    flood = lim.FloodControl(burst=1000, rate=1000.0)  # their own limit out of the way
    shared = _in_debt(flood, T0)
    assert flood.check("eve", T0, 1.0, shared).action == lim.SLOW_DOWN
    for _ in range(lim.BEHIND_MOST):
        assert flood.check("eve", T0 + 0.01, 1.0, shared).action == lim.SLOW_DOWN
    assert flood.check("eve", T0 + 0.02, 1.0, shared).action == lim.SLOW_DOWN  # the shared bucket's wait: still at its end
    used = shared.use["eve"]
    assert flood.check("eve", T0 + 0.2, 1.0, shared).allowed  # the next goes to the shared bucket, which lends now
    assert shared.use["eve"] > used  # and counts it


def test_a_waiting_line_is_not_counted_when_it_is_the_one_that_makes_the_bucket_forget():
    # The line that takes the count past MAX_SHARING people makes it forget the faded ones (a
    # new dict): that line, if it waits (None), was still taken off the old one, so it counted.
    shared = lim.SharedBucket(20, 6.0, 0.0)
    assert all(shared.admit("mallory", 0.0) is not None for _ in range(100))  # the busiest, by far
    assert all(shared.admit(f"light{n}", 0.0) is True for n in range(20))  # into debt
    for n in range(20, 20 + lim.MAX_SHARING):  # each waits, uncounted (its count 0 until forgotten)
        assert shared.admit(f"light{n}", 0.0) is None
        assert shared.use.get(f"light{n}", 0.0) == 0.0, n
    assert len(shared.use) <= lim.MAX_SHARING


def test_a_request_sent_once_the_retry_after_is_up_obeys_it_and_one_sent_before_climbs():
    # Each refusal says when to try again (retry_after, rounded up to the ms). Sending again
    # then is obeying: refused again perhaps (here classmates behind the same address take
    # each token of the bucket they share just before), but never paused however long.
    flood = lim.FloodControl(burst=100, rate=100.0)  # their own limits out of the way
    now = T0
    shared = lim.SharedBucket(20, 6.0, now)
    assert all(flood.check("ann", now, 1.0, shared).allowed for _ in range(20))
    for _ in range(40):
        verdict = flood.check("ann", now, 1.0, shared)
        assert verdict.action == lim.SLOW_DOWN and verdict.retry_after > 0, verdict
        now += verdict.retry_after
        assert flood.check("ben", now, 1.0, shared).allowed  # the classmates, first, take what there is
        while flood.check("cy", now, 1.0, shared).allowed:
            pass
    # a script ignoring retry_after: sends 100 a second, climbs, is paused, then cut
    script = lim.FloodControl()
    now = T0
    actions = [script.check("mallory", now).action for _ in range(10)]
    seen = []
    for _ in range(200):
        verdict = script.check("mallory", now)
        seen.append(verdict.action)
        if verdict.action == lim.DISCONNECT:
            break
        now = verdict.resume_at if verdict.resume_at is not None else now + 0.01
    assert actions == [lim.OK] * 10 and lim.STOP_READING in seen and seen[-1] == lim.DISCONNECT



def test_frames_landed_just_before_the_retry_after_is_up_still_climb_the_ladder():
    # Obeying is sending once the wait is up. A script timing a burst of frames into the last
    # ms before it (each refusal's wait, rounded up, then ends at the token's coming) was
    # refused dozens of times a token without a step, never paused: more refusals to answer
    # than the ladder's 10 in a row.
    flood = lim.FloodControl()
    now = T0
    while flood.check("mallory", now).allowed:
        pass
    verdict = flood.check("mallory", now)
    seen = []
    for _ in range(20):
        now += verdict.retry_after - 0.0009
        while (verdict := flood.check("mallory", now)).action == lim.SLOW_DOWN:
            seen.append(verdict.action)
            now += 0.000005
        seen.append(verdict.action)
        if verdict.action != lim.OK:
            break
        verdict = flood.check("mallory", now)
    assert lim.STOP_READING in seen and seen.count(lim.SLOW_DOWN) <= 2 * lim.SLOW_DOWNS_BEFORE_PAUSE, seen


def test_a_person_asked_for_the_rooms_password_gets_time_to_type_it():
    # The hello came at once; then the room asked for its password (a challenge with a salt).
    # 20 s from connecting cut a student typing the password off the board; from the question
    # they get PROMPT_SECONDS, never more than HANDSHAKE_CEILING from connecting.
    deadlines = lim.Deadlines()
    deadlines.connected(1, T0)
    deadlines.connected(2, T0)
    deadlines.prompted(1, T0 + 0.1)
    assert [(cid, kind) for cid, kind, _ in deadlines.expired(T0 + lim.HELLO_SECONDS)] == [(2, lim.HELLO)]  # never asked anything: as before
    assert deadlines.expired(T0 + 0.1 + lim.PROMPT_SECONDS - 0.01) == []
    deadlines.prompted(1, T0 + 100.0)  # a hello again (another name), asked again: more time, from then
    deadlines.prompted(1, T0 + 250.0)
    assert deadlines.next_due() == T0 + lim.HANDSHAKE_CEILING  # but no more than this from connecting
    ((cid, kind, why),) = deadlines.expired(T0 + lim.HANDSHAKE_CEILING)
    assert cid == 1 and kind == lim.PROMPTED and why == "no password given within 50 s; connect again to join", why  # (asked at 250)
    deadlines.connected(3, T0)
    deadlines.prompted(3, T0 + 1)
    deadlines.joined(3)
    assert deadlines.next_due() is None and not deadlines.prompted_at


def test_a_person_at_nc_asked_their_name_gets_a_prompts_time_and_is_told_in_their_words():
    # textline.TextDoor asks "name: " once a connection shows it is a person at nc: from that
    # question, PROMPT_SECONDS (never more than the server's prompt_seconds); run out, the
    # words are a person's ("hello" means nothing at nc), and each question's own time is said.
    deadlines = lim.Deadlines()
    deadlines.connected(1, T0)
    deadlines.prompted(1, T0 + 3.0, lim.PROMPT_SECONDS, question=lim.NAME_ASKED)
    assert deadlines.expired(T0 + lim.HELLO_SECONDS) == []
    ((cid, kind, why),) = deadlines.expired(T0 + 3.0 + lim.PROMPT_SECONDS)
    assert (cid, kind, why) == (1, lim.PROMPTED, "no name given within 2 min; connect again to join")
    shorter = lim.Deadlines(hello_seconds=1.0, prompt_seconds=1.5)  # a test server's (serve's are the constants)
    shorter.connected(2, T0)
    shorter.prompted(2, T0 + 0.2, lim.PROMPT_SECONDS, question=lim.NAME_ASKED)
    assert shorter.next_due() == T0 + 1.7
    shorter.prompted(2, T0 + 1.0, lim.PROMPT_SECONDS)  # the name given, then "password: " asked
    ((_, _, why),) = shorter.expired(T0 + 2.5)
    assert why == "no password given within 1.5 s; connect again to join", why
    assert [lim.asked_for(s) for s in (120.0, 119.99999, 90.0, 60.0, 1.5, 17.6)] == ["2 min", "2 min", "90 s", "1 min", "1.5 s", "18 s"]


def test_the_host_is_told_of_refusals_from_an_address_at_most_once_a_minute_with_the_count():
    """Guard tells the host's screen of refusals at the door (test_subnets: a class behind a NAT):
    the first at once, then nothing for a minute from that group, then one notice for all since."""
    told = lim.HostNotices(seconds=60.0, max_tracked=2)
    assert told.refused("10.0.0.9", 0.0) == lim.HostNotice(1)
    assert [told.refused("10.0.0.9", t) for t in (1.0, 30.0, 59.9)] == [None, None, None]
    assert told.refused("10.0.0.7", 2.0) == lim.HostNotice(1)  # another address: its own minute
    assert told.refused("10.0.0.9", 60.0) == lim.HostNotice(4)  # the three untold, and this one
    assert told.refused("10.0.0.9", 61.0) is None
    assert told.refused("10.0.0.5", 62.0) == lim.HostNotice(1) and len(told.told) == 2  # memory bounded: the oldest went


def test_an_urgent_notice_is_told_within_its_groups_minute_but_still_among_the_few_a_minute():
    """A wrong password that starts a lock (gate.py) is told at once, though its address was told
    of a moment ago, with the ones between; it is one of the few groups' notices a minute all the same."""
    told = lim.HostNotices(seconds=60.0, most_groups=3)
    assert told.refused("10.0.0.9", 0.0) == lim.HostNotice(1)
    assert told.refused("10.0.0.9", 5.0) is None  # a second slip: counted
    assert told.refused("10.0.0.9", 10.0, urgent=True) == lim.HostNotice(2)  # the lock, and the slip before it
    assert told.refused("10.0.0.7", 11.0) == lim.HostNotice(1)  # the third notice this minute
    assert told.refused("10.0.0.7", 12.0, urgent=True) is None  # a lock past the three: summed up for later
    assert told.waiting == 1


def test_the_host_is_told_of_a_few_address_groups_a_minute_and_the_others_summed_up():
    """A laptop with many addresses (test_attack_flood: 24 IPv6 addresses, each refused once) wrote
    a notice each on the host's screen at once. At most most_groups groups a minute are told of;
    the refusals of the others wait and the next notice stands for them too, with how many groups."""
    told = lim.HostNotices(seconds=60.0, most_groups=3, max_tracked=4)
    assert [told.refused(f"fd00::{n}", 0.0) for n in range(3)] == [lim.HostNotice(1)] * 3
    assert [told.refused(f"fd00::{n}", 1.0) for n in range(3, 9)] == [None] * 6  # six groups more: summed up
    assert told.refused("fd00::5", 2.0) is None  # a waiting group's second refusal waits with the rest
    assert told.refused("fd00::0", 30.0) is None  # a group told of: its own minute, as before
    assert told.waiting == 7 and len(told.waiting_groups) == 4  # (the groups remembered: bounded)
    assert told.refused("fd00::9", 60.0) == lim.HostNotice(8, 5)  # the minute is up: this one and the seven waiting
    assert told.refused("fd00::0", 60.0) == lim.HostNotice(2)  # its own untold one and this
    assert told.refused("fd00::a", 60.5) == lim.HostNotice(1)
    assert told.refused("fd00::b", 61.0) is None and told.waiting == 1  # three told in this minute again
