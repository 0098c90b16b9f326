"""Exponential backoff with jitter. Pure: the random source is injected (tests pass a constant)."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Delay before retry number ``attempt`` (1 = after the first failure).

    The ceiling grows ``base * factor ** (attempt - 1)`` up to ``cap``; the delay is "equal jitter":
    half the ceiling fixed, half random, so a retry never comes much too early and retries of many
    rows that failed together spread out instead of coming back as one wave.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 600.0
    rng: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def ceiling(self, attempt: int) -> float:
        exponent = max(0, attempt - 1)
        if exponent > 64:            # far past any cap; avoids float overflow
            return self.cap
        return min(self.cap, self.base * self.factor ** exponent)

    def delay(self, attempt: int) -> float:
        c = self.ceiling(attempt)
        r = min(1.0, max(0.0, self.rng()))
        return c / 2 + r * c / 2

    def with_rng(self, rng: Callable[[], float]) -> Backoff:
        return Backoff(self.base, self.factor, self.cap, rng)
