"""Sequenced rooms (--redis-history N): several hub-ws-chat nodes share
their rooms through a redis-server of the test's own, and every room
message gets one id and one order on every node.

usage: test_redis_sequenced.py PATH/TO/hub-ws-chat [PATH/TO/hub-tcp-echo]

Checked:
- many clients on three nodes, three rooms, publishers on every node,
  a fifth of the clients disconnecting at random moments and resuming
  with `since=` their last id on ANOTHER node: per room, every client
  (its sessions taken together) has the same ids and payloads in the
  same order, every message published to the room, each once, without
  a gap or reset notice;
- Redis killed mid-run and restarted empty on the same port, publishers
  going on: no payload is lost; a payload comes twice only to the
  clients of the node that published it while Redis was away (under an
  outage id first, then under the room's id); the nodes reconnect; an
  id from before the restart resumes with a reset notice on another
  node; the nodes count their outage messages;
- a resume on a node with no client in the room yet (it fetches the
  room's stream from Redis first) gets exactly what follows its id; a
  node killed and started again, its clients resuming on the others and
  on it: nothing lost, nothing twice;
- hub-tcp-echo with the same flags: `/ids on` and `/resume ID ROOM`
  across nodes, one of them new to the room.

The many clients are raw WebSocket connections (libhub.v1) driven by one
asyncio loop; everything listens on 127.0.0.1 (the nodes on port 0,
Redis on a port found free); every wait is bounded. Exits 77 (skipped)
without redis-server, without --redis in the program (no hiredis) or
without python3-websockets.
"""

import asyncio
import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ws"))
from ws_common import (SKIP, need_websockets, run, Server,  # noqa: E402
                       ws_frame)
import redisfix  # noqa: E402

CHAT = sys.argv[1]
TCP_ECHO = sys.argv[2] if len(sys.argv) > 2 else None
SEED = int(os.environ.get("HUB_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
WAIT = 30.0

websockets = need_websockets()
if os.environ.get("HUB_REDIS_SERVER"):
    redisfix.REDIS = os.environ["HUB_REDIS_SERVER"]
if shutil.which(redisfix.REDIS) is None:
    print("skipped: redis-server is not installed")
    sys.exit(SKIP)
if "--redis-history" not in subprocess.run(
        [CHAT, "--help"], capture_output=True, text=True, timeout=30).stdout:
    print("skipped: hub-ws-chat was built without --redis (no hiredis)")
    sys.exit(SKIP)

ID = re.compile(r"([0-9a-f]{16})\.([1-9][0-9]*)")


def node(redis, *extra, history=20000, port=None):
    """A hub-ws-chat node of `redis` (or of whatever listens on `port`),
    with sequenced rooms."""
    port = port or redis.port
    srv = Server(CHAT, "--redis", "127.0.0.1:%d" % port,
                 "--redis-history", str(history), "--history", str(history),
                 "--quiet", "--slow-after", "5", "--max-queue-msgs", "4096",
                 *extra)
    srv.wait_log(r"redis: connected to Redis at 127\.0\.0\.1:%d" % port)
    return srv


def channel(room):
    return "hub:t:" + room


def wait_subscribed(redis, rooms, nodes):
    """Every node listens to every room's channel: from now on each of
    them gets every message Redis numbers in these rooms."""
    def ready():
        c = redis.client()
        try:
            return all(c.cmd("PUBSUB", "NUMSUB", channel(r))[1] >= nodes
                       for r in rooms)
        finally:
            c.close()
    assert redisfix.until(ready, timeout=WAIT), \
        "the nodes did not all subscribe to %s" % (rooms,)


def stats_of(srv):
    m = re.search(r"redis stats: .*sequenced (\d+), duplicates (\d+), "
                  r"outage local (\d+), fetched (\d+), resumes waited "
                  r"(\d+)", srv.log())
    assert m, "no redis stats line:\n" + srv.log()
    retried = re.search(r"redis stats: .*, retried (\d+)", srv.log())
    return {"sequenced": int(m.group(1)), "duplicates": int(m.group(2)),
            "outage_local": int(m.group(3)), "fetched": int(m.group(4)),
            "resumes_waited": int(m.group(5)),
            "retried": int(retried.group(1)) if retried else None}


def split_id(mid):
    m = ID.fullmatch(mid)
    assert m, "not an EPOCH.OFFSET id: %r" % mid
    return m.group(1), int(m.group(2))


# ---------------------------------------------------------------------------
# A raw libhub.v1 client on asyncio streams: cheap enough for hundreds
# ---------------------------------------------------------------------------

class Session:
    """One connection of a client: what it got, in order."""

    def __init__(self, node, since):
        self.node = node
        self.since = since
        self.msgs = []     # (id, payload bytes)
        self.notices = []  # decoded JSON objects
        self.frames = []   # ("msg", id) or ("notice", obj), in order
        self.closed_by_server = None


class WsClient:
    def __init__(self, port, room, node, since=None):
        self.port, self.room = port, room
        self.session = Session(node, since)
        self.reader = self.writer = self.task = None
        self.got = asyncio.Event()

    async def open(self):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), WAIT)
        target = "/ws?room=%s" % self.room
        if self.session.since is not None:
            target += "&since=%s" % self.session.since
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write((
            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: libhub.v1"
            "\r\n\r\n" % (target, self.port, key)).encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert b"Sec-WebSocket-Protocol: libhub.v1\r\n" in head, head
        self.task = asyncio.ensure_future(self._read())
        return self

    def send(self, payload):
        self.writer.write(ws_frame(payload))

    async def _read(self):
        buf = bytearray()
        s = self.session
        while True:
            chunk = await self.reader.read(1 << 18)
            if not chunk:
                if s.closed_by_server is None:
                    s.closed_by_server = "EOF"
                self.got.set()
                return
            buf += chunk
            pos, end = 0, len(buf)
            while end - pos >= 2:
                b0, n, length = buf[pos], 2, buf[pos + 1] & 0x7F
                if length == 126:
                    if end - pos < 4:
                        break
                    length, n = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
                elif length == 127:
                    if end - pos < 10:
                        break
                    length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                    n = 10
                if end - pos < n + length:
                    break
                payload = bytes(buf[pos + n:pos + n + length])
                pos += n + length
                op = b0 & 0x0F
                if op in (1, 2):
                    self._one(payload)
                elif op == 8:
                    code = int.from_bytes(payload[:2], "big") if payload else 0
                    s.closed_by_server = "close %d %r" % (code, payload[2:])
                elif op == 9:
                    self.writer.write(ws_frame(payload, opcode=10))
            del buf[:pos]
            self.got.set()

    def _one(self, payload):
        s = self.session
        if payload.startswith(b"!\n"):
            notice = json.loads(payload[2:])
            s.notices.append(notice)
            s.frames.append(("notice", notice))
            return
        i = payload.find(b"\n")
        assert i > 0, "a room message without an id: %r" % payload[:80]
        mid = payload[:i].decode()
        s.msgs.append((mid, payload[i + 1:]))
        s.frames.append(("msg", mid))

    def last_id(self):
        return self.session.msgs[-1][0] if self.session.msgs else None

    async def abort(self):
        """Drop the connection at once (what a crash or a lost network
        does): whatever was on its way is lost to this session."""
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        if self.writer is not None:
            self.writer.transport.abort()


async def until(cond, what, timeout=WAIT, step=0.05):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out: " + what)
        await asyncio.sleep(step)


# ---------------------------------------------------------------------------
# 1. One order per room, across nodes, through reconnects to other nodes
# ---------------------------------------------------------------------------

def test_one_order_per_room_across_nodes_and_resumes():
    rng = random.Random(SEED)
    nnodes, nclients, rooms = 3, 300, ["red", "green", "blue"]
    per_pub, interval = 200, 0.025  # messages per publisher and room
    redis = redisfix.RedisServer().start()
    nodes = []
    try:
        nodes = [node(redis) for _ in range(nnodes)]

        async def main():
            # Client i: node i % 3, room (i // 3) % 3: every node has 100
            # clients, each room about 33 of them on every node.
            clients = []  # per client: list of its WsClients, in order
            for i in range(nclients):
                n, r = i % nnodes, rooms[(i // nnodes) % len(rooms)]
                c = await WsClient(nodes[n].port, r, n).open()
                clients.append([c])
            wait_subscribed(redis, rooms, nnodes)
            # Publishers: the first client of each (node, room): they stay.
            pubs = {}
            for i in range(nclients):
                c = clients[i][0]
                pubs.setdefault((c.session.node, c.room), i)
            movers = rng.sample([i for i in range(nclients)
                                 if i not in pubs.values()], nclients // 5)
            sent = {r: [] for r in rooms}
            duration = per_pub * interval

            async def publish():
                for k in range(per_pub):
                    for (n, r), i in sorted(pubs.items()):
                        payload = ("%s n%d #%05d" % (r, n, k)).encode()
                        clients[i][-1].send(payload)
                        sent[r].append(payload)
                    await asyncio.sleep(interval)

            moves = []

            async def move(i):
                # One or two reconnects at random moments, each to another
                # node than the one the client is on, resuming after the
                # last id it got (from the oldest held if it got none).
                for _ in range(rng.choice((1, 1, 2))):
                    await asyncio.sleep(rng.uniform(0.2, duration * 0.9))
                    old = clients[i][-1]
                    await old.abort()
                    since = old.last_id()
                    if since is None:  # nothing yet: from what a node holds
                        since = next((s.last_id() for s in reversed(
                            clients[i][:-1]) if s.last_id()), "0")
                    await asyncio.sleep(rng.uniform(0, 0.1))
                    n = (old.session.node + rng.randrange(1, nnodes)) % nnodes
                    new = await WsClient(nodes[n].port, old.room, n,
                                         since=since).open()
                    clients[i].append(new)
                    moves.append((i, old.session.node, n, since))

            await asyncio.gather(publish(), *(move(i) for i in movers))
            expected = {r: len(sent[r]) for r in rooms}

            def count(i):
                return sum(len(c.session.msgs) for c in clients[i])

            def done():
                return all(count(i) >= expected[clients[i][0].room]
                           for i in range(nclients))
            try:
                await until(done, "every client with every message")
            except AssertionError:
                short = [(i, clients[i][0].room, count(i),
                          [(c.session.node, c.session.since,
                            c.session.notices, c.session.closed_by_server)
                           for c in clients[i]])
                         for i in range(nclients)
                         if count(i) < expected[clients[i][0].room]]
                raise AssertionError(
                    "%d clients incomplete (seed %d), e.g. %r" % (
                        len(short), SEED, short[:5]))
            await asyncio.sleep(0.3)  # anything extra would show now
            for cs in clients:
                await cs[-1].abort()
            return clients, sent, moves

        clients, sent, moves = asyncio.run(asyncio.wait_for(main(), 150))
    finally:
        for srv in nodes:
            srv.stop()
        redis.cleanup()

    assert len(moves) >= nclients // 5, moves
    print("# %d reconnects to another node (%d with since=0), %d messages "
          "per room" % (len(moves), sum(1 for m in moves if m[3] == "0"),
                        len(sent[rooms[0]])))
    for r in rooms:
        members = [cs for cs in clients if cs[0].room == r]
        ref = None
        for cs in members:
            whole = [m for c in cs for m in c.session.msgs]
            notices = [n for c in cs for n in c.session.notices]
            where = "room %s, client on nodes %s, since %s (seed %d)" % (
                r, [c.session.node for c in cs],
                [c.session.since for c in cs], SEED)
            for c in cs:
                assert c.session.closed_by_server is None, \
                    "%s: closed by the server: %s" % (
                        where, c.session.closed_by_server)
            assert notices == [], "%s: notices %r" % (where, notices)
            ids = [mid for mid, _ in whole]
            dup = sorted({x for x in ids if ids.count(x) > 1})
            assert not dup, "%s: ids received twice: %r" % (where, dup[:10])
            payloads = [p for _, p in whole]
            assert sorted(payloads) == sorted(sent[r]), \
                "%s: %d payloads, %d published; missing %r, extra %r" % (
                    where, len(payloads), len(sent[r]),
                    sorted(set(sent[r]) - set(payloads))[:5],
                    sorted(set(payloads) - set(sent[r]))[:5])
            # One epoch, offsets 1, 2, ... in order (a fresh Redis).
            pos = [split_id(mid) for mid in ids]
            assert len({e for e, _ in pos}) == 1, "%s: epochs %r" % (
                where, sorted({e for e, _ in pos}))
            assert [o for _, o in pos] == list(range(1, len(pos) + 1)), \
                "%s: offsets not 1..%d in order" % (where, len(pos))
            if ref is None:
                ref = whole
            assert whole == ref, "%s: not the same sequence as the room's " \
                "first client (first difference at %d)" % (where, next(
                    k for k in range(min(len(ref), len(whole)))
                    if ref[k] != whole[k]) if whole[:len(ref)] != ref[
                        :len(whole)] else min(len(ref), len(whole)))
        # Each publisher's messages in the order it sent them.
        for n in range(nnodes):
            mine = [p for _, p in ref if p.startswith(b"%s n%d " % (
                r.encode(), n))]
            assert mine == [p for p in sent[r] if p in set(mine)], \
                "room %s: node %d's messages out of order" % (r, n)
    for srv in nodes:
        st = stats_of(srv)
        assert st["outage_local"] == 0, (st, srv.log())


# ---------------------------------------------------------------------------
# 2. Redis killed and restarted empty while publishers go on
# ---------------------------------------------------------------------------

def test_redis_outage_and_restart():
    rng = random.Random(SEED + 1)
    room, per_node = "outage", 3
    redis = redisfix.RedisServer().start()
    nodes = []
    try:
        nodes = [node(redis) for _ in range(3)]  # A, B, C

        async def main():
            clients = []
            for n in range(3):
                for _ in range(per_node):
                    clients.append(
                        await WsClient(nodes[n].port, room, n).open())
            wait_subscribed(redis, [room], 3)
            pubs = {0: clients[0], 1: clients[per_node]}  # on A and B
            sent = {}  # payload -> publishing node
            phase = {"stop": False}

            async def publish():
                k = 0
                while not phase["stop"]:
                    for n, c in pubs.items():
                        payload = ("%s-%05d" % ("AB"[n], k)).encode()
                        c.send(payload)
                        sent[payload] = n
                    k += 1
                    await asyncio.sleep(0.02 + rng.uniform(0, 0.01))

            loop = asyncio.get_running_loop()
            pub_task = asyncio.ensure_future(publish())
            await asyncio.sleep(1.5)
            # The last id of the room's first epoch a client on C has.
            before = clients[2 * per_node].last_id()
            assert before is not None, "nothing reached node C"
            await loop.run_in_executor(None, redis.kill)
            killed_at = len(sent)
            await asyncio.sleep(2.0)
            await loop.run_in_executor(None, redis.start)
            restarted_at = len(sent)
            await until(lambda: all(s.count_log(r"redis: reconnected to "
                                                r"Redis at") >= 1
                                    for s in nodes),
                        "every node reconnected", timeout=WAIT)
            await asyncio.sleep(1.0)
            phase["stop"] = True
            await pub_task

            def got_all():
                return all({p for _, p in c.session.msgs} >= set(sent)
                           for c in clients)
            try:
                await until(got_all, "every payload everywhere", timeout=15)
            except AssertionError:
                pass  # said precisely below
            await asyncio.sleep(0.5)

            # Resume on another node (B) with an id of before the restart.
            # (python3-websockets here: an independent client.)
            async with websockets.connect(
                    "%s?room=%s&since=%s" % (nodes[1].url, room, before),
                    subprotocols=["libhub.v1"], ping_interval=None) as ws:
                assert ws.subprotocol == "libhub.v1"
                late = [await asyncio.wait_for(ws.recv(), 10)]
                try:
                    while True:
                        late.append(await asyncio.wait_for(ws.recv(), 0.5))
                except asyncio.TimeoutError:
                    pass
            for c in clients:
                await c.abort()
            return clients, sent, before, late, killed_at, restarted_at

        clients, sent, before, late, killed_at, restarted_at = asyncio.run(
            asyncio.wait_for(main(), 120))
    finally:
        for srv in nodes:
            srv.stop()
        redis.cleanup()

    logs = "\n\n".join("node %s:\n%s" % ("ABC"[n], s.log())
                       for n, s in enumerate(nodes))
    where = "(%d payloads, Redis killed after %d, restarted after %d; " \
        "seed %d)" % (len(sent), killed_at, restarted_at, SEED)
    # The room's epochs: the first one (before the kill) and the one the
    # restarted Redis drew (the last message every client got).
    first_epoch = split_id(before)[0]
    room_epochs = {first_epoch} | {split_id(c.session.msgs[-1][0])[0]
                                   for c in clients if c.session.msgs}
    assert len(room_epochs) == 2, "epochs of the room: %r %s\n%s" % (
        room_epochs, where, logs)
    problems = []
    for k, c in enumerate(clients):
        n = c.session.node
        who = "client %d on node %s" % (k, "ABC"[n])
        by_payload = {}
        for mid, p in c.session.msgs:
            by_payload.setdefault(p, []).append(mid)
        missing = sorted(set(sent) - set(by_payload))
        if missing:
            problems.append("%s lost %d payloads: %s" % (
                who, len(missing), _ranges(missing)))
        unknown = sorted(set(by_payload) - set(sent))
        if unknown:
            problems.append("%s: unknown payloads %r" % (who, unknown[:5]))
        outage_only, bad_dups = [], []
        for p, mids in sorted(by_payload.items()):
            epochs = [split_id(m)[0] for m in mids]
            if p not in sent:
                continue
            if len(mids) == 1:
                if epochs[0] not in room_epochs:
                    outage_only.append(p)
            elif len(mids) > 2 or sent[p] != n or \
                    epochs[0] in room_epochs or epochs[1] not in room_epochs:
                bad_dups.append((p, mids))
        if outage_only:
            problems.append("%s got %d payloads only under an outage id, "
                            "never under the room's: %s" % (
                                who, len(outage_only), _ranges(outage_only)))
        if bad_dups:
            problems.append("%s got %d payloads more than once, not as an "
                            "outage id of its node's then a room id (room "
                            "epochs %s): %r" % (who, len(bad_dups),
                                                sorted(room_epochs),
                                                bad_dups[:3]))
        if c.session.notices:
            problems.append("%s: notices %r" % (who, c.session.notices))
        if c.session.closed_by_server is not None:
            problems.append("%s closed by the server: %s" % (
                who, c.session.closed_by_server))
    # The id from before the restart: a reset, then what B holds.
    if late[0] != '!\n{"hub":"reset","missed":null}':
        problems.append("resumed on node B after %s (before the restart): "
                        "first frames %r, expected the reset notice" % (
                            before, late[:3]))
    elif len(late) < 2 or any(m.startswith("!\n") for m in late[1:]):
        problems.append("resumed on node B after %s: frames %r" % (
            before, late[:5]))
    for n, s in enumerate(nodes):
        if s.count_log(r"redis: lost the connection to Redis") < 1:
            problems.append("node %s did not log the lost connection"
                            % "ABC"[n])
        st = stats_of(s)
        if (st["outage_local"] > 0) != (n in (0, 1)):
            problems.append("node %s: outage local %d" % (
                "ABC"[n], st["outage_local"]))
    assert not problems, "%s\n%s\n%s" % ("\n".join(problems[:60]), where,
                                         logs)


def _ranges(payloads):
    """b'A-00012'.. compactly: 'A-00012..A-00020 (9)'."""
    out, run_ = [], []
    for p in payloads:
        if run_ and p[:2] == run_[-1][:2] and \
                int(p[2:]) == int(run_[-1][2:]) + 1:
            run_.append(p)
            continue
        if run_:
            out.append(run_)
        run_ = [p]
    if run_:
        out.append(run_)
    return ", ".join("%s..%s (%d)" % (r[0].decode(), r[-1].decode(), len(r))
                     if len(r) > 1 else r[0].decode() for r in out)


# ---------------------------------------------------------------------------
# 2b. A resume on a node that has not yet delivered the client's last id
# ---------------------------------------------------------------------------

def test_resume_on_a_node_that_lags_behind():
    """Node B is paused (SIGSTOP) while 1500 messages go through Redis;
    a client that read them all on A resumes on B right as B goes on
    (SIGCONT), when B still has most of them to read from Redis. The id
    is the room's, of the room's epoch: the client must get what comes
    after it, once, without a reset notice and without the history
    again."""
    redis = redisfix.RedisServer().start()
    nodes = []
    count, pad = 1500, b"." * 1000
    try:
        nodes = [node(redis, history=5000) for _ in range(2)]
        a_srv, b_srv = nodes

        async def main():
            a = await WsClient(a_srv.port, "lag", 0).open()
            b = await WsClient(b_srv.port, "lag", 1).open()
            wait_subscribed(redis, ["lag"], 2)
            for k in range(10):
                a.send(b"m%05d" % k)
            await until(lambda: len(a.session.msgs) >= 10 and
                        len(b.session.msgs) >= 10, "the first messages")
            os.kill(b_srv.proc.pid, signal.SIGSTOP)
            try:
                for k in range(10, 10 + count):
                    a.send(b"m%05d %s" % (k, pad))
                await until(lambda: len(a.session.msgs) >= 10 + count,
                            "A's copies")
                since = a.last_id()
            finally:
                os.kill(b_srv.proc.pid, signal.SIGCONT)
            c = await WsClient(b_srv.port, "lag", 1, since=since).open()
            await until(lambda: len(b.session.msgs) >= 10 + count,
                        "B caught up")
            a.send(b"after")
            await until(lambda: any(p == b"after" for _, p in c.session.msgs),
                        "the message after the resume")
            await asyncio.sleep(0.3)
            got = (since, list(c.session.frames), list(c.session.msgs),
                   a.session.msgs[-1])
            for x in (a, b, c):
                await x.abort()
            return got

        since, frames, msgs, last = asyncio.run(asyncio.wait_for(main(), 90))
    finally:
        for srv in nodes:
            if srv.proc.poll() is None:
                os.kill(srv.proc.pid, signal.SIGCONT)
            srv.stop()
        redis.cleanup()
    shown = [f if f[0] == "notice" else f[1] for f in frames[:3]]
    assert frames == [("msg", last[0])] and msgs == [last], \
        "resumed on B after %s (the room's id of A's last message): got %d " \
        "frames (%d messages), first %r, last %r; expected only %s " \
        "(seed %d)" % (since, len(frames), len(msgs), shown,
                       frames[-1] if frames else None, last[0], SEED)


# ---------------------------------------------------------------------------
# 2c. A resume on a node new to the room; a node killed and restarted
# ---------------------------------------------------------------------------

def test_new_node_and_node_restart():
    """Node C has no client in the room: a client that read up to the
    40th message on A resumes on C and gets exactly the 41st on (C
    fetches the room's stream from Redis first). Then node A is killed
    (SIGKILL) while a client of B publishes; A's clients reconnect with
    `since=` to B (which has the room), to C, and to A started again (a
    new process, resumed before or while it connects to Redis): every
    client ends with every message once, in the room's one order,
    without a notice."""
    room, first, more = "rs", 100, 300
    redis = redisfix.RedisServer().start()
    nodes = []
    try:
        nodes = [node(redis, history=5000) for _ in range(3)]
        a_srv, b_srv, c_srv = nodes

        async def main():
            on_a = [await WsClient(a_srv.port, room, 0).open()
                    for _ in range(18)]
            on_b = [await WsClient(b_srv.port, room, 1).open()
                    for _ in range(6)]
            wait_subscribed(redis, [room], 2)
            pub, sent = on_b[0], []
            for k in range(first):
                sent.append(b"p%05d" % k)
                pub.send(sent[-1])
            await until(lambda: all(len(x.session.msgs) >= first
                                    for x in on_a + on_b), "phase one")
            ref = list(on_a[0].session.msgs)
            c = await WsClient(c_srv.port, room, 2, since=ref[39][0]).open()
            await until(lambda: len(c.session.msgs) >= first - 40,
                        "the resume on C")
            await asyncio.sleep(0.2)
            assert c.session.frames == [("msg", m) for m, _ in ref[40:]], \
                "resumed on C (new to the room) after %s: %r ... (%d " \
                "frames)" % (ref[39][0], c.session.frames[:3],
                             len(c.session.frames))
            clients = [[x] for x in on_a + on_b] + [[c]]

            async def publish():
                for k in range(first, first + more):
                    sent.append(b"p%05d" % k)
                    pub.send(sent[-1])
                    await asyncio.sleep(0.005)

            async def restart():
                await asyncio.sleep(0.4)
                a_srv.proc.kill()
                a_srv.proc.wait()
                await until(lambda: all(x.session.closed_by_server
                                        for x in on_a), "A's clients cut")
                # A again, on a new port; its resumes start at once,
                # before or while it connects to Redis.
                nodes.append(Server(CHAT, "--redis", "127.0.0.1:%d" %
                                    redis.port, "--redis-history", "5000",
                                    "--history", "5000", "--quiet",
                                    "--slow-after", "5"))
                targets = [(b_srv.port, 1), (c_srv.port, 2),
                           (nodes[-1].port, 3)]
                for i, old in enumerate(on_a):
                    port, n = targets[i % 3]
                    since = old.last_id() or "0"
                    clients[i].append(await WsClient(port, room, n,
                                                     since=since).open())

            await asyncio.gather(publish(), restart())

            def count(cs):
                return sum(len(x.session.msgs) for x in cs)
            total = first + more
            await until(lambda: all(count(cs) >= total - (40 if cs[0] is c
                                                          else 0)
                                    for cs in clients), "every message")
            await asyncio.sleep(0.3)
            for cs in clients:
                await cs[-1].abort()
            return clients, c

        clients, c = asyncio.run(asyncio.wait_for(main(), 120))
        for srv in nodes:
            if srv.proc.poll() is None:
                srv.stop()
        waited = [stats_of(srv)["resumes_waited"] for srv in nodes[1:]]
    finally:
        for srv in nodes:
            if srv.proc.poll() is None:
                srv.stop()
        redis.cleanup()
    ref = [m for x in clients[0] for m in x.session.msgs]
    assert [p for _, p in ref] == [b"p%05d" % k for k in range(first + more)]
    for cs in clients:
        whole = [m for x in cs for m in x.session.msgs]
        if cs[0] is c:
            whole = ref[:40] + whole
        where = "client on nodes %s, since %s (seed %d)" % (
            [x.session.node for x in cs], [x.session.since for x in cs],
            SEED)
        assert whole == ref, "%s: %d messages, not the room's %d in " \
            "order" % (where, len(whole), len(ref))
        assert [x.session.notices for x in cs] == [[] for _ in cs], where
    # C waited for the room's stream once at least (its first resume);
    # A started again waited too.
    assert waited[1] >= 1 and waited[2] >= 1, waited


# ---------------------------------------------------------------------------
# 3. hub-tcp-echo: /ids on and /resume across two nodes
# ---------------------------------------------------------------------------

def test_tcp_echo_resume_across_nodes():
    if TCP_ECHO is None:
        return
    redis = redisfix.RedisServer().start()
    a = b = c = None
    try:
        where = "127.0.0.1:%d" % redis.port
        args = ("--redis", where, "--redis-history", "1000",
                "--history", "1000")
        a = redisfix.Node(TCP_ECHO, *args).wait_connected()
        b = redisfix.Node(TCP_ECHO, *args).wait_connected()

        def with_ids(n):
            """A client of node `n` that gets message ids."""
            s = n.connect()
            lines = redisfix.Lines(s)
            s.sendall(b"/ids on\n")
            lines.until(b'! {"hub":"ids","on":true}')
            return s, lines

        def client(n, room):
            s, lines = with_ids(n)
            s.sendall(b"/join %s\n" % room)
            lines.until(b'! {"hub":"joined","room":"%s"}' % room)
            return s, lines

        (sa, la), (sb, lb) = client(a, b"tr"), client(b, b"tr")
        wait_subscribed(redis, ["tr"], 2)
        for k in range(10):
            (sa if k % 2 == 0 else sb).sendall(b"line %d\n" % k)
        got_a, got_b = la.get(10), lb.get(10)
        # One id per line, the same on both nodes, offsets 1..10.
        assert got_a == got_b, (got_a, got_b)
        ids = [ln.split(b" ", 1)[0].decode() for ln in got_a]
        pos = [split_id(i) for i in ids]
        assert len({e for e, _ in pos}) == 1
        assert [o for _, o in pos] == list(range(1, 11)), ids
        assert sorted(ln.split(b" ", 1)[1] for ln in got_a) == sorted(
            b"line %d" % k for k in range(10))
        # A client that read up to the 4th line on A resumes on B.
        s, lines = with_ids(b)
        s.sendall(b"/resume %s tr\n" % ids[3].encode())
        lines.until(b'! {"hub":"joined","room":"tr"}')
        assert lines.get(6) == got_a[4:], "resumed on B after %s" % ids[3]
        assert lines.silent(), "more than the lines after %s" % ids[3]
        # Live lines go on, once, with the next offset.
        sa.sendall(b"after\n")
        want = b"%s.11 after" % pos[0][0].encode()
        assert la.get(1) == [want] and lb.get(1) == [want]
        assert lines.get(1) == [want]
        # An id from another stream: a reset, then what B holds.
        s2, l2 = with_ids(a)
        s2.sendall(b"/resume 0123456789abcdef.3 tr\n")
        l2.until(b'! {"hub":"joined","room":"tr"}')
        assert l2.get(1) == [b'! {"hub":"reset","missed":null}']
        assert l2.get(11) == got_a + [want]
        # A node with no client in the room: the resume waits for the
        # room's stream from Redis, then gets exactly the lines after.
        c = redisfix.Node(TCP_ECHO, *args).wait_connected()
        s3, l3 = with_ids(c)
        s3.sendall(b"/resume %s tr\n" % ids[6].encode())
        l3.until(b'! {"hub":"joined","room":"tr"}')
        assert l3.get(4) == got_a[7:] + [want], \
            "resumed on a node new to the room after %s" % ids[6]
        assert l3.silent(), "more than the lines after %s" % ids[6]
        # A resume that waits for Redis, then a /join elsewhere at once:
        # the client is in the room it joined last, and only there.
        sq, lq = client(a, b"tq")
        sq.sendall(b"q1\n")
        qid = lq.get(1)[0].split(b" ", 1)[0]
        s4, l4 = with_ids(c)
        s4.sendall(b"/resume %s tq\nhello\n/join other\n" % qid)
        assert l4.get(2) == [
            b'! {"hub":"error","error":"not in a room yet"}',
            b'! {"hub":"joined","room":"other"}'], \
            "a line while the resume waits, then /join elsewhere"
        sq.sendall(b"q2\n")
        assert lq.get(1)[0].endswith(b" q2")
        assert l4.silent(), "a resume cancelled by /join went on"
    finally:
        for n in (a, b, c):
            if n is not None:
                assert n.stop() == 0, "\n".join(n.log)
        redis.cleanup()


# ---------------------------------------------------------------------------
# 5. Answered, but not published: Redis dies between the two
# ---------------------------------------------------------------------------

class RedisRelay:
    """A TCP relay between a node and Redis that can withhold what Redis
    sends to the node's subscribing connection (named libhub-NODE-sub), so
    that the node gets the answer to a room's script but never hears the
    PUBLISH: what a Redis killed between its two writes does."""

    SUB_NAME = re.compile(rb"libhub-[0-9a-f]{16}-sub\r\n")

    def __init__(self, redis_port):
        self.redis_port = redis_port
        self.withhold = False
        self.withheld = bytearray()
        self.writers = []
        self.server = self.port = None

    async def start(self):
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _link(self, node_r, node_w):
        try:
            redis_r, redis_w = await asyncio.open_connection(
                "127.0.0.1", self.redis_port)
        except OSError:
            node_w.transport.abort()
            return
        self.writers += [node_w, redis_w]
        sub = [False]

        async def up():
            while True:
                data = await node_r.read(1 << 16)
                if not data:
                    break
                sub[0] = sub[0] or bool(self.SUB_NAME.search(data))
                redis_w.write(data)
            redis_w.transport.abort()

        async def down():
            while True:
                data = await redis_r.read(1 << 16)
                if not data:
                    break
                if sub[0] and self.withhold:
                    self.withheld += data
                else:
                    node_w.write(data)
            node_w.transport.abort()
        await asyncio.gather(up(), down(), return_exceptions=True)

    def cut(self):
        """End every link at once (Redis itself stays up)."""
        for w in self.writers:
            w.transport.abort()
        self.writers = []

    async def close(self):
        self.cut()
        self.server.close()
        await self.server.wait_closed()


def test_answered_but_not_published():
    """A message whose script Redis answered but whose PUBLISH the node
    never heard: sent again when Redis came back without it (a restart
    without persistence), not sent again when Redis still holds it (only
    the connection was lost)."""
    room = "window"
    redis = redisfix.RedisServer().start()
    srv = None
    try:
        async def main():
            nonlocal srv
            relay = await RedisRelay(redis.port).start()
            loop = asyncio.get_running_loop()
            srv = await loop.run_in_executor(
                None, lambda: node(redis, port=relay.port))
            clients = [await WsClient(srv.port, room, 0).open()
                       for _ in range(2)]
            wait_subscribed(redis, [room], 1)

            def everyone_has(payload):
                return lambda: all(any(p == payload for _, p in c.session.msgs)
                                   for c in clients)

            async def say(payload):
                clients[0].send(payload)
                await until(everyone_has(payload), "every client got %r"
                            % payload)

            async def unheard(payload, end):
                """`payload` is numbered, but its PUBLISH never reaches
                the node; then the link ends with `end`."""
                relay.withhold = True
                clients[0].send(payload)
                await until(lambda: payload in relay.withheld,
                            "Redis published %r" % payload)
                # The script's answer travels on the other link, which
                # still relays: let the node read it.
                await asyncio.sleep(0.5)
                await loop.run_in_executor(None, end)
                relay.withhold = False
                relay.withheld.clear()

            await say(b"w-1")
            await say(b"w-2")
            # Redis dies before anyone heard w-3, and comes back empty.
            await unheard(b"w-3", redis.kill)
            await loop.run_in_executor(None, redis.start)
            await until(lambda: srv.count_log(r"redis: reconnected to "
                                              r"Redis at") >= 1,
                        "the node reconnected")
            await until(everyone_has(b"w-3"), "w-3 was sent again and "
                        "reached every client", timeout=15)
            await say(b"w-4")
            # Only the link is lost: Redis holds w-5 in the room's stream,
            # and the node's catch-up brings it, once.
            await unheard(b"w-5", relay.cut)
            await until(lambda: srv.count_log(r"redis: reconnected to "
                                              r"Redis at") >= 2,
                        "the node reconnected again")
            await until(everyone_has(b"w-5"), "w-5 reached every client",
                        timeout=15)
            await say(b"w-6")
            await asyncio.sleep(0.3)  # a second w-5 would be here by now
            for c in clients:
                await c.abort()
            await relay.close()
            return clients

        clients = asyncio.run(asyncio.wait_for(main(), 120))
    finally:
        if srv is not None:
            srv.stop()
        redis.cleanup()
    logs = srv.log()
    want = [b"w-%d" % i for i in range(1, 7)]
    for k, c in enumerate(clients):
        got = [p for _, p in c.session.msgs]
        assert got == want, "client %d got %r, not %r\n%s" % (k, got, want,
                                                               logs)
        assert not c.session.notices, (c.session.notices, logs)
        epochs = [split_id(mid)[0] for mid, _ in c.session.msgs]
        # w-3 is numbered again by the restarted Redis: a new epoch.
        assert epochs[0] == epochs[1] != epochs[2] == epochs[5], \
            (epochs, logs)
    assert stats_of(srv)["retried"] == 1, logs


if __name__ == "__main__":
    print("# seed %d (set HUB_TEST_SEED to repeat)" % SEED)
    tests = [("one_order_per_room_across_nodes_and_resumes",
              test_one_order_per_room_across_nodes_and_resumes),
             ("redis_outage_and_restart", test_redis_outage_and_restart),
             ("resume_on_a_node_that_lags_behind",
              test_resume_on_a_node_that_lags_behind),
             ("new_node_and_node_restart", test_new_node_and_node_restart),
             ("answered_but_not_published",
              test_answered_but_not_published)]
    if TCP_ECHO is not None:
        tests.append(("tcp_echo_resume_across_nodes",
                      test_tcp_echo_resume_across_nodes))
    only = os.environ.get("HUB_TEST_ONLY")
    if only:
        tests = [t for t in tests if only in t[0]]
    run(tests)
