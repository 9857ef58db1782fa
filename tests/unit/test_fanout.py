"""The publisher's fan-out: per-connection order, a slow client never holds up the others, laggards are dropped."""

from __future__ import annotations

import threading
import time

import pytest

from matching_container.fanout import Fanout


class Poster:
    """@connections stand-in: records frames; `stuck` connections block until released."""

    def __init__(self, stuck: set[str] = frozenset(), gone: set[str] = frozenset()) -> None:
        self.frames: dict[str, list[bytes]] = {}
        self.deleted: list[str] = []
        self.stuck, self.gone = set(stuck), set(gone)
        self.release = threading.Event()
        self.lock = threading.Lock()

    def post_raw(self, connection_id: str, data: bytes) -> bool:
        if connection_id in self.stuck:
            self.release.wait(10)
        if connection_id in self.gone:
            return False
        with self.lock:
            self.frames.setdefault(connection_id, []).append(data)
        return True

    def delete(self, connection_id: str) -> None:
        self.deleted.append(connection_id)


def wait_for(check, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def make():
    made = []

    def build(poster: Poster, **kwargs) -> tuple[Fanout, list[str]]:
        forgotten: list[str] = []
        fanout = Fanout(poster, on_gone=forgotten.append, **kwargs)
        made.append((fanout, poster))
        return fanout, forgotten

    yield build
    for fanout, poster in made:
        poster.release.set()
        fanout.close()


def test_each_connection_gets_its_frames_in_order(make):
    poster = Poster()
    fanout, _ = make(poster, workers=4)
    for i in range(500):
        fanout.send("a", b"%d" % i)
        fanout.send("b", b"%d" % i)
    wait_for(fanout.idle)
    assert poster.frames["a"] == poster.frames["b"] == [b"%d" % i for i in range(500)]


def test_a_stuck_connection_does_not_hold_up_the_others(make):
    poster = Poster(stuck={"slow"})
    fanout, _ = make(poster, workers=2)
    fanout.send("slow", b"x")
    for i in range(100):
        fanout.send("fast", b"%d" % i)
    wait_for(lambda: len(poster.frames.get("fast", [])) == 100)
    assert "slow" not in poster.frames


def test_sending_never_waits_for_the_poster(make):
    poster = Poster(stuck={"slow"})
    fanout, _ = make(poster, workers=1, limit=100_000)
    for i in range(50_000):  # the only worker is blocked on "slow": these only queue
        fanout.send("slow", b"%d" % i)
    assert poster.frames == {}


def test_a_connection_that_falls_behind_is_closed_and_forgotten(make):
    poster = Poster(stuck={"slow"})
    fanout, forgotten = make(poster, workers=2, limit=10)
    for i in range(11):
        fanout.send("slow", b"%d" % i)
    wait_for(lambda: poster.deleted == ["slow"] and forgotten == ["slow"])
    fanout.send("slow", b"late")
    poster.release.set()
    wait_for(fanout.idle)
    assert b"late" not in poster.frames.get("slow", [])


def test_a_gone_connection_is_forgotten_and_gets_nothing_more(make):
    poster = Poster(gone={"left"})
    fanout, forgotten = make(poster)
    fanout.send("left", b"1")
    wait_for(lambda: forgotten == ["left"])
    fanout.send("left", b"2")
    wait_for(fanout.idle)
    assert "left" not in poster.frames and poster.deleted == []
