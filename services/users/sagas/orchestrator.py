"""The saga orchestrator: claims due sagas from the log and drives them step by step.

One pass over a saga (:meth:`Orchestrator.drive`), under its lease:

* RUNNING: run the step at ``step_index`` (with ``step_timeout_seconds``);
  on success commit "step done" (index + 1) and go on; the pivot
  (``users.confirm``) and the end of the steps commit COMPLETED.
* A failed attempt commits the failure and the time of the next attempt
  (exponential backoff with jitter, capped) and gives the lease up, so any
  orchestrator may take the retry. A compensatable step that is refused for
  good (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, PERMISSION_DENIED,
  UNAUTHENTICATED, UNIMPLEMENTED) or fails ``max_attempts`` times (timeouts
  included) turns the saga to COMPENSATING. Retriable steps never give up.
* COMPENSATING: undo the step at ``step_index``, counting down; retried
  until it succeeds. Step 0 of the profile update is undone in the
  transaction that commits COMPENSATED (the profile's previous values).

Every transition is committed before the next command is sent, so after a
crash (SIGKILL anywhere) the next orchestrator re-sends at most the command
that was in flight, with the same ``(saga_id, step)`` key, and the
participant applies it once.

Fault injection (tests only): ``STREAMMESH_SAGAS_CRASH_AT=<saga>:<step>:<before|after>``
SIGKILLs this process right before sending that step's command, or right
after it took effect but before its transition is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import time
import uuid
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

import grpc
import grpc.aio

from services.runtime.errors import DomainError
from services.users.sagas.config import SagaConfig
from services.users.sagas.definitions import (
    ACCOUNT_DELETION,
    PROFILE_UPDATE,
    SAGA_TYPES,
    SagaState,
    SagaType,
    StepKind,
)
from services.users.sagas.log import LeaseLost, Saga, SagaLog
from services.users.sagas.participants import Command

log = logging.getLogger(__name__)

# Refusals that retrying will not change: a compensatable step refused so
# compensates at once.
PERMANENT_CODES: Final = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)
# A driven saga's lease is renewed every this share of it.
LEASE_RENEW_SHARE: Final = 1 / 3


class StepFailed(Exception):
    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.code in PERMANENT_CODES


class Orchestrator:
    def __init__(
        self,
        sagas: SagaLog,
        commands: dict[str, Command],
        config: SagaConfig,
        *,
        invalidate: Callable[[Saga], Awaitable[None]],
        forget_credentials: Callable[[], None] = lambda: None,
        owner: str | None = None,
    ) -> None:
        self._log = sagas
        self._commands = commands
        self._config = config
        self._invalidate = invalidate
        self._forget_credentials = forget_credentials
        self.owner = owner or f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._slots = asyncio.Semaphore(config.concurrency)
        self._driving: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        # Metrics snapshot, refreshed from the log (see metrics.py).
        self.steps_run = 0

    # -- the loop ---------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Claims and drives sagas until ``stop`` is set."""
        while not stop.is_set():
            claimed = await self.poll_once()
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._config.poll_interval_seconds)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def poll_once(self) -> int:
        """Claims what this orchestrator has room for and starts driving it."""
        room = self._config.concurrency - len(self._driving)
        if room <= 0:
            return 0
        try:
            claimed = await self._log.claim(
                self.owner, lease_seconds=self._config.lease_seconds, limit=room
            )
        except DomainError as err:
            log.warning("claiming sagas failed", extra={"error": str(err)})
            return 0
        started = 0
        for saga in claimed:
            if saga.saga_id in self._driving:
                continue
            self._driving.add(saga.saga_id)
            task = asyncio.create_task(self._drive_guarded(saga))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def run_until_idle(self, *, within_seconds: float = 30.0) -> None:
        """Drives every due saga until none is live (tests), for at most ``within_seconds``."""
        deadline = time.monotonic() + within_seconds
        while time.monotonic() < deadline:
            claimed = await self.poll_once()
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            elif not claimed:
                live = await self._log.live()
                if not live:
                    return
                await asyncio.sleep(self._config.poll_interval_seconds)

    async def _drive_guarded(self, saga: Saga) -> None:
        keeper = asyncio.create_task(self._keep_lease(saga.saga_id))
        try:
            async with self._slots:
                await self.drive(saga)
        except LeaseLost:
            log.info("saga taken over by another orchestrator", extra={"saga_id": saga.saga_id})
        except DomainError as err:
            # The log itself is unreachable: the lease lapses and the saga is
            # claimed again once the database answers.
            log.warning("saga log write failed", extra={"saga_id": saga.saga_id, "error": str(err)})
        except Exception:
            # A bug must not hold the saga silently: logged with its stack, and
            # the lease lapses so the next pass (or a fixed build) tries again.
            log.exception("driving a saga failed", extra={"saga_id": saga.saga_id})
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            self._driving.discard(saga.saga_id)

    async def _keep_lease(self, saga_id: str) -> None:
        """Renews the lease every third of it while the saga is driven, a step in
        flight included (a step may take longer than the lease); ends when the
        lease is given up or lost."""
        period = self._config.lease_seconds * LEASE_RENEW_SHARE
        while True:
            await asyncio.sleep(period)
            try:
                await self._log.renew(saga_id, self.owner, lease_seconds=self._config.lease_seconds)
            except (LeaseLost, DomainError):
                return

    # -- one saga ---------------------------------------------------------

    async def drive(self, saga: Saga) -> None:
        kind = SAGA_TYPES[saga.saga_type]
        while True:
            if saga.state == SagaState.RUNNING.value:
                if not await self._forward(kind, saga):
                    return
            elif saga.state == SagaState.COMPENSATING.value:
                if not await self._backward(kind, saga):
                    return
            else:
                await self._log.release(saga.saga_id, self.owner)
                return
            reloaded = await self._log.get(saga.saga_id)
            if reloaded is None or reloaded.lease_owner != self.owner:
                raise LeaseLost(saga.saga_id)
            saga = reloaded

    async def _forward(self, kind: SagaType, saga: Saga) -> bool:
        """Runs the next step; True when the saga should be driven on now."""
        index = saga.step_index
        if index >= len(kind.steps):
            await self._finish(saga, SagaState.COMPLETED, steps_done=len(kind.steps))
            return False
        step = kind.step(index)
        if step.kind is StepKind.PIVOT and kind is PROFILE_UPDATE:
            # users.confirm: the point of no return, committed as COMPLETED.
            self._crash_point(kind, step.name, "before")
            self._crash_point(kind, step.name, "after")
            await self._finish(saga, SagaState.COMPLETED, steps_done=len(kind.steps))
            return False
        try:
            detail = await self._send(kind, saga, step.name)
        except StepFailed as err:
            gives_up = step.kind is StepKind.COMPENSATABLE and (
                err.permanent or saga.attempts + 1 >= self._config.max_attempts
            )
            if gives_up:
                await self._log.compensate(
                    saga, self.owner, step.name, error=str(err), code=err.code.value[0]
                )
                await self._invalidate(saga)
                return True
            await self._retry_later(saga, step.name, err)
            return False
        await self._log.step_done(
            saga,
            self.owner,
            step.name,
            next_index=index + 1,
            steps_done=saga.steps_done + 1,
            detail=detail,
        )
        if kind is ACCOUNT_DELETION:
            await self._invalidate(saga)
        return True

    async def _backward(self, kind: SagaType, saga: Saga) -> bool:
        """Undoes the step at step_index (counting down); True to go on now."""
        index = saga.step_index
        if index <= 0:
            # Step 0 (the users row) is undone in the closing transaction.
            self._crash_point(kind, kind.steps[0].name, "before")
            await self._finish(
                saga,
                SagaState.COMPENSATED,
                steps_done=0,
                restore_profile=dict(saga.payload["previous"]),
            )
            return False
        name = kind.compensation_name(index)
        try:
            detail = await self._send(kind, saga, name)
        except StepFailed as err:
            # Compensations never give up.
            await self._retry_later(saga, name, err)
            return False
        await self._log.step_done(
            saga,
            self.owner,
            name,
            next_index=index - 1,
            steps_done=max(saga.steps_done - 1, 0),
            detail=detail,
        )
        return True

    async def _finish(
        self,
        saga: Saga,
        state: SagaState,
        *,
        steps_done: int,
        restore_profile: dict[str, object] | None = None,
    ) -> None:
        await self._log.finish(
            saga, self.owner, state, steps_done=steps_done, restore_profile=restore_profile
        )
        await self._invalidate(saga)
        log.info(
            "saga finished",
            extra={"saga_id": saga.saga_id, "saga": saga.saga_type, "state": state.value},
        )

    async def _send(self, kind: SagaType, saga: Saga, step: str) -> str:
        command = self._commands[step]
        self._crash_point(kind, step, "before")
        try:
            detail = await asyncio.wait_for(
                command(saga, step), timeout=self._config.step_timeout_seconds
            )
        except TimeoutError as err:
            raise StepFailed(
                f"{step}: no answer within {self._config.step_timeout_seconds} s",
                grpc.StatusCode.DEADLINE_EXCEEDED,
            ) from err
        except grpc.aio.AioRpcError as err:
            if err.code() is grpc.StatusCode.UNAUTHENTICATED:
                # The service token's session is gone (not the step's fault): a
                # new one for the retry.
                self._forget_credentials()
            raise StepFailed(f"{step}: {err.code().name}: {err.details()}", err.code()) from err
        except DomainError as err:
            raise StepFailed(f"{step}: {err}", err.code) from err
        except (OSError, ConnectionError) as err:
            raise StepFailed(f"{step}: {err}", grpc.StatusCode.UNAVAILABLE) from err
        self.steps_run += 1
        self._crash_point(kind, step, "after")
        return detail

    async def _retry_later(self, saga: Saga, step: str, err: StepFailed) -> None:
        await self._log.step_failed(
            saga,
            self.owner,
            step,
            error=str(err),
            code=err.code.value[0],
            retry_in=self._backoff(saga.attempts),
        )

    def _backoff(self, attempts: int) -> float:
        ceiling = min(
            self._config.backoff_max_seconds,
            self._config.backoff_initial_seconds * (2 ** min(attempts, 30)),
        )
        # Full jitter above half the ceiling: retries of many sagas spread out.
        return random.uniform(ceiling / 2, ceiling)

    def _crash_point(self, kind: SagaType, step: str, where: str) -> None:
        if self._config.crash_at and self._config.crash_at == f"{kind.name}:{step}:{where}":
            log.warning("fault injection: SIGKILL at %s", self._config.crash_at)
            os.kill(os.getpid(), signal.SIGKILL)


def stuck_and_compensating(
    live: list[Saga], *, stuck_after_seconds: float, now: datetime | None = None
) -> tuple[Tally[str], Tally[str]]:
    """Per saga type: live sagas whose current step has been failing longer than
    ``stuck_after_seconds``, and sagas compensating."""
    moment = now or datetime.now(UTC)
    stuck: Tally[str] = Tally()
    compensating: Tally[str] = Tally()
    for saga in live:
        if saga.state == SagaState.COMPENSATING.value:
            compensating[saga.saga_type] += 1
        if (
            saga.failing_since is not None
            and (moment - saga.failing_since).total_seconds() > stuck_after_seconds
        ):
            stuck[saga.saga_type] += 1
    return stuck, compensating
