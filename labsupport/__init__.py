"""labsupport: the simulation behind the labs of *Zero to Millions*.

A lab describes a system as data (a `Server`, later a load balancer, a
database, a cache...), a `Workload` of users, and calls `simulate(system,
workload)`. The result holds one row per request and a summary. `theory` holds
the closed forms drawn beside the simulation, `charts` the figures and
`widgets` the control panels.
"""

from .balancer import Balancer
from .cache import Cache
from .clients import Clients
from .database import Database
from .log import OUTCOMES
from .server import Server
from .simulate import Result, simulate
from .workload import Trace, Workload

__all__ = ["Balancer", "Cache", "Clients", "Database", "OUTCOMES", "Result", "Server", "Trace",
           "Workload", "simulate"]
