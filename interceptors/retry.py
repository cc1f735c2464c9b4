"""Client side: retry what the contract says is safe to repeat, within a budget.

Policy (bounds in services.runtime.config.RetryPolicy):
- Which RPCs: only methods whose descriptor (the default descriptor pool, so
  the generated ``*_pb2`` module must be imported, as any stub does) declares
  ``idempotency_level`` NO_SIDE_EFFECTS or IDEMPOTENT. Others are never
  retried: a CreateX that timed out may have created X.
- Which failures: UNAVAILABLE; DEADLINE_EXCEEDED of an attempt that had less
  time than the whole call; RESOURCE_EXHAUSTED only with a
  ``grpc-retry-pushback-ms`` trailer (the server said when to come back).
  A negative or malformed pushback means "do not retry" (gRFC A6).
- When: after a full-jitter exponential backoff, or exactly the pushback;
  never past the call's deadline (set by interceptors.deadlines, outside).
- How much: a token bucket per target as in gRFC A6 retry throttling, shared
  by every channel to that target in the process, so a sick backend sees a
  trickle of retries, not a storm.

Each attempt after the first is a ``grpc.retry`` event on the client span and
every attempt is counted in ``grpc_client_attempts_total``.

Why not gRPC core's own ``retryPolicy`` service config, which implements A6
in C: its attempts are invisible to Python (no span event, no metric per
attempt), and it retries RESOURCE_EXHAUSTED even without pushback.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor_pb2, descriptor_pool
from opentelemetry import trace
from prometheus_client import Counter

from interceptors._base import split_method
from interceptors.deadlines import with_timeout
from services.runtime.config import RetryPolicy

log = logging.getLogger("streammesh.retry")

PUSHBACK_TRAILER = "grpc-retry-pushback-ms"

ATTEMPTS = Counter(
    "grpc_client_attempts_total",
    "Attempts of retry-safe calls (first tries and retries), by status code.",
    ("grpc_service", "grpc_method", "grpc_code", "retry"),
)
THROTTLED = Counter(
    "grpc_client_retries_throttled_total",
    "Retries skipped because the target's retry budget was spent.",
    ("target",),
)

_SAFE_LEVELS = frozenset(
    {
        descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
        descriptor_pb2.MethodOptions.IDEMPOTENT,
    }
)
_safe_methods: dict[str, bool] = {}


def is_retry_safe(full_method: str) -> bool:
    """Whether ``/pkg.Service/Method`` declares NO_SIDE_EFFECTS or IDEMPOTENT."""
    cached = _safe_methods.get(full_method)
    if cached is not None:
        return cached
    service_name, method_name = split_method(full_method)
    try:
        service = descriptor_pool.Default().FindServiceByName(service_name)
    except KeyError:
        safe = False
    else:
        method = service.methods_by_name.get(method_name)
        safe = method is not None and method.GetOptions().idempotency_level in _SAFE_LEVELS
    _safe_methods[full_method] = safe
    return safe


class RetryBudget:
    """gRFC A6 retry throttling: retries pause while tokens <= max_tokens / 2."""

    def __init__(self, max_tokens: float, token_ratio: float) -> None:
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens
        # Channels of one target may live on different event loops (tests,
        # worker threads); the arithmetic is tiny, so a plain lock.
        self._lock = threading.Lock()

    def record_success(self) -> None:
        with self._lock:
            self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def record_failure(self) -> None:
        with self._lock:
            self.tokens = max(0.0, self.tokens - 1.0)

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2


_budgets: dict[str, RetryBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(target: str, policy: RetryPolicy) -> RetryBudget:
    """The process-wide budget of one target (created on first use)."""
    with _budgets_lock:
        budget = _budgets.get(target)
        if budget is None:
            budget = RetryBudget(policy.budget_max_tokens, policy.budget_token_ratio)
            _budgets[target] = budget
        return budget


def _pushback_seconds(trailers: Any) -> float | None:
    """The server's pushback in seconds; None if absent; -1.0 for "do not retry"."""
    if not trailers:
        return None
    for key, value in trailers:
        if key == PUSHBACK_TRAILER:
            try:
                milliseconds = int(value)
            except (TypeError, ValueError):
                return -1.0
            return -1.0 if milliseconds < 0 else milliseconds / 1000
    return None


class RetryClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Retries retry-safe unary calls to one target (see the module docstring)."""

    def __init__(self, target: str, policy: RetryPolicy, budget: RetryBudget | None = None) -> None:
        self._target = target
        self._policy = policy
        self._budget = budget if budget is not None else budget_for(target, policy)

    @property
    def budget(self) -> RetryBudget:
        return self._budget

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        method = client_call_details.method
        full_method = method.decode() if isinstance(method, bytes) else method
        if not is_retry_safe(full_method):
            return await continuation(client_call_details, request)

        policy = self._policy
        budget = self._budget
        service_name, method_name = split_method(full_method)
        timeout = client_call_details.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        span = trace.get_current_span()
        attempt = 1
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            attempt_timeout = remaining
            per_attempt = policy.per_attempt_timeout_seconds
            if per_attempt is not None and (remaining is None or per_attempt < remaining):
                attempt_timeout = per_attempt
            call = await continuation(with_timeout(client_call_details, attempt_timeout), request)
            code: grpc.StatusCode = await call.code()
            ATTEMPTS.labels(service_name, method_name, code.name, str(attempt > 1).lower()).inc()
            if code == grpc.StatusCode.OK:
                budget.record_success()
                return call

            pushback = _pushback_seconds(await call.trailing_metadata())
            retryable = (
                code == grpc.StatusCode.UNAVAILABLE
                or (
                    code == grpc.StatusCode.DEADLINE_EXCEEDED
                    and attempt_timeout is not None
                    and attempt_timeout != remaining
                )
                or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and pushback is not None)
            )
            if not retryable:
                return call
            budget.record_failure()
            if attempt >= policy.max_attempts:
                return call
            if pushback is not None and (pushback < 0 or pushback > policy.max_pushback_seconds):
                return call
            if not budget.allows_retry():
                THROTTLED.labels(self._target).inc()
                span.add_event("grpc.retry.throttled", {"attempt": attempt, "code": code.name})
                return call
            if pushback is not None:
                delay = pushback
            else:
                ceiling = min(
                    policy.initial_backoff_seconds * policy.backoff_multiplier ** (attempt - 1),
                    policy.max_backoff_seconds,
                )
                # Jitter spreads retries, it is not a secret: random is fine.
                delay = random.uniform(0, ceiling)
            if deadline is not None and time.monotonic() + delay >= deadline:
                return call
            span.add_event(
                "grpc.retry",
                {"attempt": attempt + 1, "previous_code": code.name, "delay_ms": delay * 1000},
            )
            await asyncio.sleep(delay)
            attempt += 1
