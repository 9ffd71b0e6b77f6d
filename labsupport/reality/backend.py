"""A tiny real web backend: one request at a time, each taking a random service time.

Picture one clerk behind a counter on 127.0.0.1: a request comes in, the clerk works on it
for a time drawn from an exponential distribution (mean `--mean` seconds, seeded), answers
with its own name, and takes the next. Connections that arrive meanwhile wait in the
operating system's listen queue, first come first served: a `Server(workers=1)` made real.

Each answer carries the clerk's own notes, so a measurement need not trust the client's
clock: `X-Started`, when the clerk took the request (the machine's monotonic clock, which
every process on it shares), and `X-Drawn`, the service time drawn for it. The clerk cannot
take the next request before the drawn time has passed, so the gap between two starts is
at least the drawn time: that is what makes a measured capacity checkable.

Run by the reality-check lab as a script (standard library only, so it starts in a blink):
    python backend.py --port 8001 --name b1 --mean 0.010 --seed 1
"""

import argparse
import random
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Backend(HTTPServer):
    request_queue_size = 1024  # the listen queue: the waiting line in front of the clerk


def main():
    parser = argparse.ArgumentParser(description="one-at-a-time HTTP backend on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--mean", type=float, required=True, help="mean service time (s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    draw = random.Random(args.seed).expovariate
    body = args.name.encode()

    class Handler(BaseHTTPRequestHandler):
        def setup(self):
            self.started = time.monotonic()  # the clerk takes this request
            super().setup()

        def do_GET(self):
            drawn = draw(1 / args.mean)
            time.sleep(drawn)
            self.send_response(200)
            self.send_header("X-Backend", args.name)
            self.send_header("X-Started", f"{self.started:.6f}")
            self.send_header("X-Drawn", f"{drawn:.6f}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass  # no access log: it would cost time on every request

    Backend(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
