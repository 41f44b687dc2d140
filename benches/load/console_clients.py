#!/usr/bin/env python3
"""Web-console clients for the load benchmark: K operators' browsers, as threads.

    console_clients.py --base http://127.0.0.1:18080 --user konzol --password PW \
        --clients 50 --out DIR/console.json [--window 10] [--change-every 5] [--ready FILE]

benches/load.sh starts it once a step's daemon is up and stops it after the step. Each
client does what a browser tab of the console does, with the standard library only:

  1. logs in with its own session: GET /belepes (the double-submit cookie `ugyelet_belepes`
     and the hidden `csrf` field), POST /belepes (csrf, name, password; 303 to /ugyelet with
     the cookie `ugyelet_munkamenet`). Every client uses the same account, each its own
     session, as colleagues sharing a login would;
  2. loads the duty page GET /ugyelet and times it to the last byte of the body;
  3. keeps GET /esemenyek (Server-Sent Events) open for the rest of the step and counts the
     `frissites` events (their JSON must carry `regions`), the bytes and the keep-alive
     comments; a stream that ends or fails before the step does is counted as a disconnect
     and reopened after a second, as the browser's EventSource does.

When every stream is open it writes --ready (load.sh waits for it before it reads the
daemon's idle memory). On SIGUSR1 (load.sh: the capture window at full load begins) every
client, at its own moment within the first third of --window seconds, reloads the duty page
(timed again: the page under full load) and then runs the knowledge-base searches
(GET /tudasbazis?q=lakcim, adó, parkolási) a sixth of the window apart, each timed to its
last byte. A 404 on /tudasbazis means the daemon has no knowledge base yet: the searches are
then reported as not measured, not as failures.

An IVR step changes nothing the console shows (no operator queue in its plan), so a stream
would carry just its first event. So that the streams carry updates, one client pauses and
unpauses the account about every --change-every seconds (POST /ugyelet/allapot, as the
page's buttons do; 0 turns it off). The delay of a live update is the time from sending that
request to each stream's next event: the board change, the wait for the console's 250 ms
sampling tick (0-250 ms; each interval is lengthened by a random 0-250 ms so the changes
fall at every phase of the tick rather than at one) and the rendering of every stream's
regions. The spread of one change is its last stream's event minus its first: what
rendering and sending 50 streams one after another costs.

On SIGTERM or SIGINT it closes the streams and writes the JSON summary to --out: clients
connected, login failures, page load and search times (min / median / p95 / max ms, p95 by
nearest rank), events and bytes per client (min / median / max), stream disconnects, the
live-update delays. Times include the TCP connect on loopback: every timed request opens its
own connection, as no keep-alive is assumed.
"""

import argparse
import http.client
import json
import random
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse

SESSION_COOKIE = "ugyelet_munkamenet"
LOGIN_COOKIE = "ugyelet_belepes"
QUERIES = ["lakcim", "adó", "parkolási"]


def stats(values):
    """min / median / p95 / max in ms, two decimals; None when nothing was measured."""
    if not values:
        return None
    v = sorted(values)
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    p95 = v[max(0, -(-95 * n // 100) - 1)]  # nearest rank: the ceil(0.95 n)-th value
    return {"n": n, "min": round(v[0], 2), "median": round(median, 2),
            "p95": round(p95, 2), "max": round(v[-1], 2)}


def spread(values):
    """min / median / max of counts."""
    if not values:
        return None
    v = sorted(values)
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"min": v[0], "median": median, "max": v[-1]}


def cookie_from(resp, name):
    for value in resp.headers.get_all("Set-Cookie") or []:
        first = value.split(";", 1)[0]
        if "=" in first:
            k, v = first.split("=", 1)
            if k.strip() == name:
                return v.strip()
    return None


class Bench:
    """What all clients share: the target, the clock and the stop flag."""

    def __init__(self, args):
        u = urllib.parse.urlsplit(args.base)
        self.host, self.port = u.hostname, u.port or 80
        self.args = args
        self.stop = threading.Event()
        self.window = threading.Event()
        self.window_at = None
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()
        self.changes = []  # (sent, done, status) perf_counter times of the state changes
        self.errors = []

    def error(self, text):
        with self.lock:
            if len(self.errors) < 200:
                self.errors.append(f"{time.perf_counter() - self.t0:.3f}s {text}")
        print(f"console_clients: {text}", file=sys.stderr)

    def request(self, method, path, headers=None, body=None, timeout=30):
        """One request on its own connection: (status, response headers, body, ms)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        t = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            ms = (time.perf_counter() - t) * 1000
            return resp.status, resp, data, ms
        finally:
            conn.close()


class Client:
    def __init__(self, bench, index):
        self.b = bench
        self.i = index
        self.session = None
        self.csrf = None
        self.login_ms = None
        self.login_failed = None  # why, when it failed
        self.page_ms = []  # (phase, ms, bytes, status)
        self.searches = []  # (query, ms, bytes, status)
        self.events = []  # perf_counter arrival times of `frissites` events
        self.events_bad = 0  # events without `regions`
        self.bytes = 0
        self.keepalives = 0
        self.disconnects = 0
        self.stream_refused = 0  # non-200 answers to /esemenyek
        self.opened = threading.Event()  # the first stream is open (or never will be)
        self.conn = None

    def cookies(self):
        return {"Cookie": f"{SESSION_COOKIE}={self.session}"}

    def login(self):
        b = self.b
        t = time.perf_counter()
        try:
            status, resp, body, _ = b.request("GET", "/belepes")
            token = cookie_from(resp, LOGIN_COOKIE)
            m = re.search(rb'name="csrf" value="([^"]+)"', body)
            if status != 200 or not token or not m:
                self.login_failed = f"GET /belepes: {status}, cookie {'set' if token else 'missing'}, csrf field {'found' if m else 'missing'}"
                return False
            form = urllib.parse.urlencode({"csrf": m.group(1).decode(), "name": b.args.user,
                                           "password": b.args.password})
            status, resp, _, _ = b.request("POST", "/belepes", body=form, headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"{LOGIN_COOKIE}={token}"})
            self.session = cookie_from(resp, SESSION_COOKIE)
            if status != 303 or not self.session:
                self.login_failed = f"POST /belepes: {status}, session cookie {'set' if self.session else 'missing'}"
                return False
        except (OSError, http.client.HTTPException) as e:
            self.login_failed = f"login: {e!r}"
            return False
        self.login_ms = (time.perf_counter() - t) * 1000
        return True

    def duty_page(self, phase):
        try:
            status, _, body, ms = self.b.request("GET", "/ugyelet", headers=self.cookies())
        except (OSError, http.client.HTTPException) as e:
            self.b.error(f"client {self.i}: GET /ugyelet ({phase}): {e!r}")
            return
        self.page_ms.append((phase, ms, len(body), status))
        if status != 200:
            self.b.error(f"client {self.i}: GET /ugyelet ({phase}) answered {status}")
            return
        m = re.search(rb'<meta name="csrf" content="([^"]+)"', body)
        if m:
            self.csrf = m.group(1).decode()

    def search(self, q):
        path = "/tudasbazis?q=" + urllib.parse.quote(q)
        try:
            status, _, body, ms = self.b.request("GET", path, headers=self.cookies())
        except (OSError, http.client.HTTPException) as e:
            self.b.error(f"client {self.i}: GET {path}: {e!r}")
            self.searches.append((q, None, 0, "error"))
            return
        self.searches.append((q, ms, len(body), status))

    def stream(self):
        """Holds /esemenyek open until the bench stops, reopening it after a disconnect."""
        b = self.b
        while not b.stop.is_set():
            conn = http.client.HTTPConnection(b.host, b.port, timeout=60)
            self.conn = conn
            try:
                conn.request("GET", "/esemenyek", headers={**self.cookies(),
                                                          "Accept": "text/event-stream"})
                resp = conn.getresponse()
                if resp.status != 200:
                    self.stream_refused += 1
                    b.error(f"client {self.i}: /esemenyek answered {resp.status}")
                    self.opened.set()
                    conn.close()
                    if b.stop.wait(1.0):
                        return
                    continue
                self.opened.set()
                name, data = None, []
                while True:
                    line = resp.readline()
                    if not line:
                        break
                    self.bytes += len(line)
                    text = line.decode("utf-8", "replace").rstrip("\r\n")
                    if text == "":
                        if name == "frissites":
                            self.events.append(time.perf_counter())
                            try:
                                if "regions" not in json.loads("\n".join(data)):
                                    self.events_bad += 1
                            except ValueError:
                                self.events_bad += 1
                        name, data = None, []
                    elif text.startswith(":"):
                        self.keepalives += 1
                    elif text.startswith("event:"):
                        name = text[6:].strip()
                    elif text.startswith("data:"):
                        data.append(text[5:].removeprefix(" "))
            except (OSError, http.client.HTTPException) as e:
                if not b.stop.is_set():
                    b.error(f"client {self.i}: stream failed: {e!r}")
            finally:
                conn.close()
            if b.stop.is_set():
                return
            self.disconnects += 1
            b.error(f"client {self.i}: stream ended before the step did; reopening")
            if b.stop.wait(1.0):
                return

    def close_stream(self):
        conn = self.conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run(self):
        """Login, first page load, then the stream in its own thread; on the capture signal,
        the reload and the searches."""
        if not self.login():
            self.b.error(f"client {self.i}: {self.login_failed}")
            self.opened.set()
            return
        self.duty_page("login")
        streamer = threading.Thread(target=self.stream, name=f"stream-{self.i}", daemon=True)
        streamer.start()
        b = self.b
        while not b.window.wait(0.5):
            if b.stop.is_set():
                return
        # Spread the clients over the window: the first third for the reloads, then the
        # searches a sixth of the window apart.
        rng = random.Random(self.i)
        w = b.args.window
        if b.stop.wait(rng.uniform(0, w / 3)):
            return
        self.duty_page("window")
        for q in b.args.queries:
            if b.stop.wait(w / 6):
                return
            self.search(q)


def changer(bench, client):
    """Pauses and unpauses the account every --change-every s, so the streams carry updates."""
    every = bench.args.change_every
    rng = random.Random(-1)
    pause = True
    while not bench.stop.wait(every + rng.uniform(0, 0.25)):
        if client.csrf is None:
            continue
        form = {"csrf": client.csrf, "action": "pause" if pause else "unpause"}
        if pause:
            form["reason"] = "terheléses mérés"
        t = time.perf_counter()
        try:
            status, _, _, _ = bench.request("POST", "/ugyelet/allapot",
                                            body=urllib.parse.urlencode(form), headers={
                                                **client.cookies(),
                                                "Content-Type": "application/x-www-form-urlencoded"})
        except (OSError, http.client.HTTPException) as e:
            bench.error(f"state change failed: {e!r}")
            continue
        with bench.lock:
            bench.changes.append((t, time.perf_counter(), status))
        if status != 303:
            bench.error(f"state change answered {status}")
        pause = not pause


def update_delays(changes, clients):
    """For each accepted change and each streaming client, the first event after the change
    was sent and before the next one: the delays, the spread of each change (last stream's
    event minus first's) and how many (change, client) pairs got none."""
    sent = [c[0] for c in changes if c[2] == 303]
    delays, spreads, missed = [], [], 0
    for k, t in enumerate(sent):
        until = sent[k + 1] if k + 1 < len(sent) else float("inf")
        arrivals = []
        for c in clients:
            if c.session is None or not c.events:
                continue
            nxt = next((e for e in c.events if t < e < until), None)
            if nxt is None:
                missed += 1
            else:
                arrivals.append(nxt)
                delays.append((nxt - t) * 1000)
        if len(arrivals) > 1:
            spreads.append((max(arrivals) - min(arrivals)) * 1000)
    return delays, spreads, missed


def summary(bench, clients, stopped_at):
    ok = [c for c in clients if c.session is not None]
    pages = [p for c in clients for p in c.page_ms]
    first = [ms for phase, ms, _, st in pages if phase == "login" and st == 200]
    window = [ms for phase, ms, _, st in pages if phase == "window" and st == 200]
    searches = [s for c in clients for s in c.searches]
    statuses = {}
    for _, _, _, st in searches:
        statuses[str(st)] = statuses.get(str(st), 0) + 1
    if not searches:
        search = {"measured": False, "reason": "no search was made (the capture window never began)"}
    elif all(st == 404 for _, _, _, st in searches):
        search = {"measured": False,
                  "reason": "GET /tudasbazis answered 404: the daemon has no knowledge base yet",
                  "statuses": statuses}
    else:
        good = [s for s in searches if s[3] == 200]
        search = {"measured": True, "ms": stats([s[1] for s in good]),
                  "by_query": {q: stats([s[1] for s in good if s[0] == q]) for q in bench.args.queries},
                  "bytes": spread([s[2] for s in good]), "statuses": statuses,
                  "failed": len(searches) - len(good)}
    delays, spreads, missed = update_delays(bench.changes, clients)
    return {
        "clients": len(clients),
        "connected": len(ok),
        "login_failures": len(clients) - len(ok),
        "login_failure_reasons": sorted({c.login_failed for c in clients if c.login_failed}),
        "login_ms": stats([c.login_ms for c in ok]),
        "page_load_ms": stats(first),
        "page_load_window_ms": stats(window),
        "page_bytes": spread([b for _, _, b, st in pages if st == 200]),
        "page_failures": sum(1 for p in pages if p[3] != 200),
        "search": search,
        "stream": {
            "clients_with_events": sum(1 for c in ok if c.events),
            "events_per_client": spread([len(c.events) for c in ok]),
            "bytes_per_client": spread([c.bytes for c in ok]),
            "keepalives_per_client": spread([c.keepalives for c in ok]),
            "events_without_regions": sum(c.events_bad for c in ok),
            "disconnects": sum(c.disconnects for c in ok),
            "refused": sum(c.stream_refused for c in ok),
        },
        "updates": {
            "change_every_s": bench.args.change_every,
            "changes": len(bench.changes),
            "changes_refused": sum(1 for c in bench.changes if c[2] != 303),
            "change_request_ms": stats([(d - s) * 1000 for s, d, _ in bench.changes]),
            "delay_ms": stats(delays),
            "spread_ms": stats(spreads),
            "missed": missed,
        },
        "window_began_s": None if bench.window_at is None else round(bench.window_at - bench.t0, 3),
        "duration_s": round(stopped_at - bench.t0, 3),
        "errors": bench.errors,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="http://127.0.0.1:18080")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready", help="file written once every client's stream is open")
    ap.add_argument("--window", type=float, default=10.0, help="capture window length, s")
    ap.add_argument("--change-every", type=float, default=5.0,
                    help="seconds between the state changes that give the streams updates; 0: none")
    ap.add_argument("--queries", default=",".join(QUERIES),
                    help="knowledge-base searches, comma separated")
    args = ap.parse_args()
    args.queries = [q for q in args.queries.split(",") if q]

    bench = Bench(args)

    def on_window(_sig, _frame):
        if bench.window_at is None:
            bench.window_at = time.perf_counter()
        bench.window.set()

    def on_stop(_sig, _frame):
        bench.stop.set()

    signal.signal(signal.SIGUSR1, on_window)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    clients = [Client(bench, i) for i in range(args.clients)]
    threads = [threading.Thread(target=c.run, name=f"client-{c.i}", daemon=True) for c in clients]
    for t in threads:
        t.start()
    # Ready when every client has its stream open or has failed; 30 s at most.
    deadline = time.perf_counter() + 30
    for c in clients:
        while not c.opened.wait(0.2):
            if bench.stop.is_set() or time.perf_counter() > deadline:
                break
    if args.ready:
        with open(args.ready, "w") as f:
            f.write(f"{sum(1 for c in clients if c.session)} of {len(clients)} clients connected\n")
    if args.change_every > 0:
        first = next((c for c in clients if c.session), None)
        if first is not None:
            threading.Thread(target=changer, args=(bench, first), daemon=True).start()

    while not bench.stop.wait(0.2):
        pass
    stopped_at = time.perf_counter()
    for c in clients:
        c.close_stream()
    for t in threads:
        t.join(timeout=5)
    with open(args.out, "w") as f:
        json.dump(summary(bench, clients, stopped_at), f, indent=1, ensure_ascii=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
