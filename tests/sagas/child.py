"""The orchestrator process the crash tests SIGKILL: ``serve`` of
services/users/sagas/process.py (what ``streammesh sagas orchestrate`` runs), in a
child forked from a server process that has imported it once."""

from __future__ import annotations

import asyncio
import os

from services.users.config import Config as UsersConfig
from services.users.sagas.config import SagaConfig
from services.users.sagas.process import serve


def orchestrate(users: UsersConfig, config: SagaConfig, env: dict[str, str]) -> None:
    os.environ.update(env)
    asyncio.run(serve(users, config))
