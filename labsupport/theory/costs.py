"""What machines cost: a price list, linear in size unless you say otherwise.

Picture a cloud provider's price list. Within one family of machines the list price grows
almost exactly in proportion to the size (twice the vCPUs and memory, about twice the price),
and above the largest size there is nothing to buy at all: scaling up has a ceiling. Some
machines do carry a premium per unit of capacity (large multi-socket servers, specialty
hardware), so the premium is a parameter: price = monthly_price * size ** premium, with 1.0,
proportional, as the default. The prices are *illustrative*, not any provider's: put in the
prices you pay.
"""

from dataclasses import dataclass

from ..core import checks


@dataclass(frozen=True)
class PriceList:
    """Monthly price of a machine of `size` = monthly_price * size ** premium (size <=
    largest_size)."""

    monthly_price: float = 70.0  # per month, for size 1 (speed 1)
    premium: float = 1.0         # 1.0: proportional to size; above 1, big machines cost more
    largest_size: int = 64       # the biggest size on sale

    def __post_init__(self):
        checks.positive("monthly_price", self.monthly_price, maximum=1e9)
        checks.positive("premium", self.premium, maximum=3.0)
        checks.count("largest_size", self.largest_size, maximum=int(checks.MAX_SPEED))

    def machine(self, size):
        """Monthly price of one machine of `size` (its speed relative to size 1)."""
        size = checks.positive("size", size)
        if size > self.largest_size:
            raise ValueError(f"size must be at most largest_size, the largest on sale "
                             f"({self.largest_size}), got {size}")
        return self.monthly_price * size ** self.premium

    def design(self, size, servers):
        """Monthly price of `servers` machines of `size`."""
        return checks.count("servers", servers, maximum=10**6) * self.machine(size)
