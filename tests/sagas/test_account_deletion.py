"""The account-deletion saga: from the first step the account cannot sign in; the
operation reports progress; afterwards no service holds any of the account's
data, as each service's own store port shows; analytics keeps the counts."""

from __future__ import annotations

import datetime as dt

import grpc

from services import ratings
from services.history.stores import open_store as open_history
from services.recommendations.stores import open_store as open_recommendations
from services.runtime.object_store import open_object_store
from services.search.stores import open_index
from services.users.stores.sql import SqlUserStore
from streammesh.analytics.v1 import analytics_pb2
from streammesh.users.v1 import users_pb2
from tests.mesh import PASSWORD, history_config, recommendations_config, search_config, wait_until
from tests.sagas.conftest import CALL_SECONDS, TITLES, SagaMesh, finished, running_analytics
from tests.users.helpers import rpc_error

WATCHED = [t for t in sorted(TITLES) if ratings.allows("PG", TITLES[t].maturity_rating)][:2]


async def test_deleting_an_account_leaves_no_data_in_any_service(mesh: SagaMesh) -> None:
    account = await mesh.signup()
    second = await mesh.add_profile(account)
    profiles = [account.primary_profile_id, second]
    me = await mesh.users.GetAccount(
        users_pb2.GetAccountRequest(account_id=account.account_id), metadata=account.caller
    )
    other_device = await mesh.users.Login(
        users_pb2.LoginRequest(email=me.email, password=PASSWORD), timeout=CALL_SECONDS
    )
    other_caller = (("authorization", f"Bearer {other_device.access_token}"),)
    config = mesh.saga_config()
    objects = await open_object_store(config.objects, config.object_store)
    await objects.ensure_bucket(config.uploads_bucket)
    await objects.put(
        config.uploads_bucket, f"uploads/{account.account_id}/avatar.png", b"png", "image/png"
    )
    today = dt.datetime.now(dt.UTC).date().isoformat()
    async with running_analytics(mesh) as (analytics, analytics_address):

        async def stats() -> int:
            try:
                answer = await analytics.GetTitleStats(
                    analytics_pb2.GetTitleStatsRequest(
                        title_id=WATCHED[0], start_date=today, end_date=today
                    ),
                    timeout=CALL_SECONDS,
                )
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    return 0
                raise
            return int(answer.view_count)

        counted = await stats()
        for profile_id in profiles:
            for title_id in WATCHED:
                await mesh.watch(account, profile_id, title_id)
            await mesh.recommended_ratings(account, profile_id)  # stores its list
        # A settings change leaves a copy in recommendations and search.
        await mesh.update_settings(account, second, maturity_rating="PG")
        async with mesh.orchestrator(analytics=analytics_address) as (orchestrator, _):
            await orchestrator.run_until_idle(within_seconds=60)

        async def loaded() -> bool:
            return await stats() >= counted + len(profiles)

        await wait_until(loaded, "analytics to load the account's views")
        views_before = await stats()

        operation = await mesh.users.DeleteAccount(
            users_pb2.DeleteAccountRequest(account_id=account.account_id),
            metadata=account.caller,
            timeout=CALL_SECONDS,
        )
        assert operation.name.startswith("operations/")
        assert not operation.done
        progress = users_pb2.DeleteAccountMetadata()
        operation.metadata.Unpack(progress)
        assert (progress.steps_done, progress.steps_total) == (1, 8)
        assert progress.current_step == "users.revoke_sessions"
        # Asking again answers the same operation.
        again = await mesh.users.DeleteAccount(
            users_pb2.DeleteAccountRequest(account_id=account.account_id),
            metadata=account.caller,
            timeout=CALL_SECONDS,
        )
        assert again.name == operation.name
        # From the first step on, nobody signs in.
        refused = await rpc_error(
            mesh.users.Login(users_pb2.LoginRequest(email=me.email, password=PASSWORD))
        )
        assert (refused.code, refused.reason) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "ACCOUNT_DELETED",
        )
        refused = await rpc_error(
            mesh.users.RefreshSession(
                users_pb2.RefreshSessionRequest(refresh_token=other_device.refresh_token)
            )
        )
        assert refused.code == grpc.StatusCode.UNAUTHENTICATED

        async with mesh.orchestrator(analytics=analytics_address) as (orchestrator, sagas):
            await orchestrator.run_until_idle(within_seconds=60)
            saga = await finished(sagas, operation.name.removeprefix("operations/"))
        assert saga.state == "COMPLETED", saga.last_error
        # The device that asked polls the operation to its end.
        done = await mesh.users.GetOperation(
            users_pb2.GetOperationRequest(operation_id=saga.saga_id),
            metadata=account.caller,
            timeout=CALL_SECONDS,
        )
        assert done.done
        result = users_pb2.DeleteAccountResponse()
        done.response.Unpack(result)
        assert result.account_id == account.account_id
        done.metadata.Unpack(progress)
        assert (progress.steps_done, progress.current_step) == (8, "")
        # Every other device was signed out.
        signed_out = await rpc_error(
            mesh.users.GetAccount(
                users_pb2.GetAccountRequest(account_id=account.account_id),
                metadata=other_caller,
            )
        )
        assert signed_out.code == grpc.StatusCode.UNAUTHENTICATED
        assert await stats() == views_before  # counts kept
        warehouse_config = mesh.analytics_config()
    # Each service's own port, the analytics one once its server has let go of the file.
    from services.analytics.stores import open_store as open_warehouse

    warehouse = await open_warehouse(warehouse_config)
    users = SqlUserStore.from_url(mesh.users_config.database_url)
    history = await open_history(history_config(mesh.storage), migrate=False)
    recs = await open_recommendations(recommendations_config(mesh.storage), migrate=False)
    index = await open_index(search_config(mesh.storage))
    try:
        assert await warehouse.account_fact_count(account.account_id) == 0
        assert await users.get_account(int(account.account_id)) is None
        for profile_id in profiles:
            assert await users.get_profile(int(profile_id)) is None
            assert not (await history.list_views(profile_id, 100, None)).views
            assert await history.list_bookmarks(profile_id) == []
            assert await recs.interactions(profile_id) == []
            assert await recs.get_list(profile_id) is None
            assert await recs.profile_settings(profile_id) is None
            assert await index.profile_settings(profile_id) is None
        uploads = f"uploads/{account.account_id}/"
        assert await objects.list(config.uploads_bucket, uploads) == []
    finally:
        for store in (warehouse, users, history, recs, index, objects):
            await store.close()
