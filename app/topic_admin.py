"""Reading and creating topics on the broker (thin I/O for app.topic_plan).

Partition counts come from a metadata request for *all* topics: a request naming topics
would let a broker with auto-creation on create them with its default count, the very
thing declaration is there to prevent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from app.topic_plan import TopicSpec

__all__ = ["TopicAdmin"]


class TopicAdmin:
    """An admin connection to the brokers; use as ``async with TopicAdmin(servers) as admin``."""

    def __init__(self, servers: Sequence[str], *, timeout_ms: int = 10_000) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=list(servers), request_timeout_ms=timeout_ms)

    async def __aenter__(self) -> TopicAdmin:
        await self._admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._admin.close()

    async def partitions(self) -> dict[str, int]:
        """Every topic on the broker with its partition count."""
        cluster = await self._admin._client.fetch_all_metadata()
        return {topic: len(cluster.partitions_for_topic(topic) or ()) for topic in cluster.topics()}

    async def create(self, specs: Iterable[TopicSpec], *, replication: int) -> list[str]:
        """Create each topic with its partition count and configuration; the names created.

        A topic created meanwhile by someone else (another worker) is not an error: the
        caller reads the counts again and checks them.
        """
        created = []
        for spec in specs:
            topic = NewTopic(spec.name, spec.partitions, replication, topic_configs=dict(spec.config))
            try:
                await self._admin.create_topics([topic])
            except TopicAlreadyExistsError:
                continue
            created.append(spec.name)
        return created
