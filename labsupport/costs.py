"""What machines cost: a price list where bigger sizes cost more than proportionally.

Picture a cloud provider's price list. A machine of size 2 (twice the CPU and
memory of size 1) costs a little more than two of size 1, and the biggest
sizes carry a premium; above the largest size there is nothing to buy at all:
scaling up has a ceiling. These prices are *illustrative*, not any provider's:
a base price per month for size 1 and a premium exponent, both parameters, so
a reader can put in the prices they pay.
"""

from dataclasses import dataclass

from . import checks


@dataclass(frozen=True)
class PriceList:
    """Monthly price of a machine of `size` = base_price * size ** premium (size <= largest)."""

    base_price: float = 70.0   # per month, for size 1 (speed 1)
    premium: float = 1.15      # 1.0 would be exactly proportional
    largest: int = 64          # the biggest size on sale

    def __post_init__(self):
        checks.positive("base_price", self.base_price, maximum=1e9)
        checks.positive("premium", self.premium, maximum=3.0)
        checks.count("largest", self.largest, maximum=int(checks.MAX_SPEED))

    def machine(self, size):
        """Monthly price of one machine of `size` (its speed relative to size 1)."""
        size = checks.positive("size", size)
        if size > self.largest:
            raise ValueError(f"size must be at most the largest on sale ({self.largest}), "
                             f"got {size}")
        return self.base_price * size ** self.premium

    def design(self, size, servers):
        """Monthly price of `servers` machines of `size`."""
        return checks.count("servers", servers, maximum=10**6) * self.machine(size)
