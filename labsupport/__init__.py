"""labsupport: the simulation behind the labs of *Zero to Millions*.

A lab describes a system as data (a `Server`, a `Balancer`, a `Cache`, a
`Database`, `Clients`, a `Cdn`...), a `Workload` of users, and calls `simulate(system,
workload)`. The result holds one row per request and a summary. The package has
one folder per layer (the design note in the simulation appendix says why):

    core/         workloads, the run loop, the request log, metrics, sweeps, checks
    components/   server, balancer, cache, database, clients, cdn, autoscaler
    theory/       closed forms drawn beside the simulation; uptime; prices
    page/         charts, control panels, offline rendering
    reality/      real nginx, Redis and PostgreSQL beside the model

The names a lab uses most are here; the rest are imported from their layer.
"""

from .components.balancer import Balancer
from .components.cache import Cache
from .components.cdn import Cdn, Region
from .components.clients import Clients
from .components.database import Database
from .components.server import Server
from .core.log import OUTCOMES
from .core.simulate import Result, simulate
from .core.workload import Trace, Workload

__all__ = ["Balancer", "Cache", "Cdn", "Clients", "Database", "OUTCOMES", "Region", "Result",
           "Server", "Trace", "Workload", "simulate"]
