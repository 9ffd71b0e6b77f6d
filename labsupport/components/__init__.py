"""The components: one file per building block a reader draws on a whiteboard.

server.py, balancer.py, cache.py, database.py, clients.py, cdn.py, autoscaler.py. Each is
a frozen dataclass (the spec a lab writes) and the running part it builds for one run; each
takes a request with `accept(rid, reply)` and answers with `reply(rid, outcome)` exactly once, so
any tier can sit behind any other.
"""
