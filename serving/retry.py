"""Bounded retries with exponential backoff, shared by the REST and gRPC clients.

Only transient failures are retried: the server not reachable (connection refused/reset), the
server saying it is unavailable (HTTP 502/503/504, gRPC ``UNAVAILABLE``) and timeouts (gRPC
``DEADLINE_EXCEEDED``, a REST read timeout). A malformed request (HTTP 400, gRPC
``INVALID_ARGUMENT``) or an unknown model (404/``NOT_FOUND``) fails at once: repeating it cannot help.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

T = TypeVar("T")

RETRYABLE_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})


class ServingError(Exception):
    """A failed serving call: gRPC-style ``code``, HTTP status when REST, attempts made."""

    def __init__(self, message: str, code: str = "UNKNOWN", http_status: Optional[int] = None, attempts: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES

    def __str__(self) -> str:
        where = f"HTTP {self.http_status} " if self.http_status else ""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{where}{self.code}: {self.message}{tries}"


@dataclass
class RetryPolicy:
    """``max_attempts`` tries in all; waits ``initial_backoff * multiplier**k`` (capped, +-jitter) between them."""

    max_attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def backoff(self, attempt: int) -> float:
        """Wait after failed attempt ``attempt`` (1-based)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return max(0.0, base * (1.0 + self.jitter * random.uniform(-1.0, 1.0)))

    def call(self, fn: Callable[[], T]) -> T:
        """Runs ``fn`` (which raises ``ServingError``) until it succeeds, fails for good, or attempts run out."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except ServingError as e:
                e.attempts = attempt
                if not e.retryable or attempt == self.max_attempts:
                    raise
            self.sleep(self.backoff(attempt))
        raise AssertionError("unreachable")


NO_RETRY = RetryPolicy(max_attempts=1)
