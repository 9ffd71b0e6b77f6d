"""A tiny real web backend that keeps its users' sessions: in its own memory, or in Redis.

Picture a cloakroom. A guest with no ticket gets a new one (a session id in a cookie,
`Set-Cookie: sid=...`); a guest with a ticket gets their coat back, if the cloakroom still
has it. With `--store memory` the coats hang in this process (a dict) and burn with it: a
ticket from a backend that died, shown to another, finds nothing. With `--store redis` they
hang in one shared Redis, which every backend asks (GET) and fills (SET, with an expiry).

Each answer says what happened in headers the reality check reads:
    X-Session   new (no ticket: a new session), found, or lost (a ticket this store
                does not know: a new session is made, and the user is logged out)
    X-Lookup    seconds spent looking the ticket up in the store (only when there was one)
    X-Backend   this backend's name
Otherwise each request takes a fixed `--service` seconds (a sleep, the same every time), one
request at a time, so the lookup's own cost stands out. A session id is a random 128-bit
number from `secrets`, as a real one must be (unguessable); no measured number depends on it.

Run by the reality-check lab as a script, standard library only: Redis is spoken to in its
own protocol (RESP, a few lines below) rather than through the `redis` package, so the
script starts in a blink and needs nothing installed beside Python.
    python session_backend.py --port 8001 --name b1 --store redis --redis-port 6379
"""

import argparse
import secrets
import socket
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

EXPIRY = 3600  # seconds a session lives in Redis (SET ... EX): an hour


class Backend(HTTPServer):
    request_queue_size = 1024  # the listen queue: the waiting line in front of the clerk


class Redis:
    """The two commands a session store needs, in Redis's protocol (RESP) over one socket."""

    def __init__(self, port):
        self.socket = socket.create_connection(("127.0.0.1", port))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.replies = self.socket.makefile("rb")

    def command(self, *words):
        """Send one command (an array of bulk strings); return its reply: bytes or None."""
        parts = [str(word).encode() for word in words]
        self.socket.sendall(b"*%d\r\n" % len(parts) + b"".join(
            b"$%d\r\n%s\r\n" % (len(part), part) for part in parts))
        line = self.replies.readline()
        if line[:1] == b"-":
            raise RuntimeError(f"Redis: {line.decode().strip()}")
        if line[:1] == b"$":  # a bulk string, or $-1: nothing there
            size = int(line[1:])
            return None if size < 0 else self.replies.read(size + 2)[:-2]
        return line[1:].strip()  # +OK, or an integer

    def find(self, sid):
        return self.command("GET", f"session:{sid}") is not None

    def save(self, sid, name):
        self.command("SET", f"session:{sid}", name, "EX", EXPIRY)


class Memory(dict):
    """Sessions in this process: they die with it."""

    def find(self, sid):
        return sid in self

    def save(self, sid, name):
        self[sid] = name


def cookies(header):
    """A Cookie header's name=value pairs as a dict."""
    return dict(part.strip().split("=", 1) for part in (header or "").split(";") if "=" in part)


def main():
    parser = argparse.ArgumentParser(description="HTTP backend with sessions, on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--store", choices=("memory", "redis"), required=True)
    parser.add_argument("--redis-port", type=int)
    parser.add_argument("--service", type=float, default=0.001, help="seconds per request")
    args = parser.parse_args()
    store = Redis(args.redis_port) if args.store == "redis" else Memory()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            sid, lookup = cookies(self.headers.get("Cookie")).get("sid"), None
            if sid is None:
                session = "new"
            else:
                began = time.perf_counter()
                session = "found" if store.find(sid) else "lost"
                lookup = time.perf_counter() - began
            time.sleep(args.service)
            self.send_response(200)
            if session != "found":
                sid = secrets.token_hex(16)
                store.save(sid, args.name)
                self.send_header("Set-Cookie", f"sid={sid}; Path=/; HttpOnly")
            self.send_header("X-Backend", args.name)
            self.send_header("X-Session", session)
            if lookup is not None:
                self.send_header("X-Lookup", f"{lookup:.9f}")
            body = f"{args.name} {session}".encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass  # no access log: it would cost time on every request

    Backend(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
