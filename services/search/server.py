"""Runs the search service: ``python -m services.search.server``."""

from __future__ import annotations

from services.events import streams
from services.events.config import stream_prefix_for
from services.events.consumer import ConsumerConfig, ConsumerRunner
from services.kit import Kit, Served, Service
from services.runtime.redis import REDIS_SOCKET_TIMEOUT_SECONDS
from services.search.config import SERVICE, Config
from services.search.domain import Limits, SearchDomain
from services.search.indexing import CATALOG, GROUP, Indexer
from services.search.servicer import SearchServicer
from services.search.stores import open_index
from streammesh.search.v1 import search_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc


async def build(config: Config, kit: Kit) -> Served:
    """The search's parts: the index, the indexer on the catalog's stream, and a
    stub of users (profiles' maturity limits)."""
    index = await open_index(config)
    kit.closing(index, index.close)
    if config.indexer_consumer:
        redis = kit.redis(config.redis_url)
        stream = streams.stream_name(CATALOG, stream_prefix_for(config.redis_prefix))
        kit.consume(
            ConsumerRunner(
                redis,
                stream,
                GROUP,
                Indexer(
                    index,
                    max_batch=config.indexer_concurrency,
                    linger_seconds=config.indexer_linger_ms / 1000,
                ).handle,
                config=ConsumerConfig(
                    max_concurrency=config.indexer_concurrency,
                    max_in_flight=max(config.indexer_concurrency * 4, 1_000),
                    # A blocking read must end before the kit's Redis client
                    # gives up on the socket, or every idle read is an error.
                    block_ms=int(REDIS_SOCKET_TIMEOUT_SECONDS * 1000 / 2),
                ),
            )
        )
    domain = SearchDomain(
        index, users_pb2_grpc.UserServiceStub(kit.channel("users")), Limits.of(config)
    )
    # No verifier: Search and Suggest are public (the auth layer would not look
    # at their tokens anyway), and the internal IndexTitle/DeleteTitleDocument
    # are called by peers without a user token, as the catalog's internal RPCs
    # are. A profile_id's token is checked by the users service, to which the
    # domain forwards it with GetProfile (ownership and validity in one place).
    return Served(SearchServicer(domain))


SERVICE_DEFINITION = Service(
    SERVICE, Config.from_env, build, search_pb2_grpc.add_SearchServiceServicer_to_server
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
