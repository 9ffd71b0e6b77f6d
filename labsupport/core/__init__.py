"""The model's core: what every component runs on.

workload.py (who asks for what, when), simulate.py (the run loop and the protocol a tier
follows), log.py (the request log, one row per request), metrics.py (its summary),
sweep.py (many runs, one row each) and checks.py (every parameter checked by name).
Nothing here knows any particular component.
"""
