"""The in-process engine: a Flower ``Grid`` that calls the ClientApp directly.

No SuperLink, no Ray, no serialization round trip through a network stack: each pushed message
is handed to ``client_app(message, context)`` at once and its reply is kept until pulled. Nodes
get node ids drawn from the run's seed and the ``partition-id`` / ``num-partitions`` node config
that Flower's simulation engine would give them, so the same ServerApp and ClientApp run
unchanged under ``flwr run``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from ..rng import numpy_stream

CLIENT_APP_RAISED = 1  # the error code of a reply whose ClientApp raised (Flower's ErrorCode)


class InProcessGrid(Grid):
    def __init__(
        self,
        client_app: ClientApp,
        num_nodes: int,
        run_config: Mapping[str, bool | float | int | str],
        *,
        seed: int = 0,
        run_id: int = 1,
    ) -> None:
        self._client_app = client_app
        self._run = Run.create_empty(run_id)
        self._run.override_config = dict(run_config)
        self._contexts: dict[int, Context] = {}
        for partition, node_id in enumerate(_node_ids(seed, num_nodes)):
            self._contexts[node_id] = Context(
                run_id=run_id,
                node_id=node_id,
                node_config={"partition-id": partition, "num-partitions": num_nodes},
                state=RecordDict(),
                run_config=dict(run_config),
            )
        self._replies: dict[str, Message] = {}
        self._ids = itertools.count(1)
        self._claim_identity()

    def _claim_identity(self) -> None:
        # Flower stamps new messages with the sender's identity from this process-wide record;
        # its own runtimes set it at start-up, so the in-process engine does the same.
        TaskIdentity.run_id = self._run.run_id
        TaskIdentity.node_id = SUPERLINK_NODE_ID
        TaskIdentity.task_id = 1

    # -- Grid interface --------------------------------------------------------------------
    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:  # noqa: D102
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        messages = list(messages)
        ids = []
        for message in messages:
            message_id = f"m{next(self._ids)}"
            message.metadata.__dict__["_message_id"] = message_id
            ids.append(message_id)
        for message_id, reply in zip(ids, self._replies_to(messages), strict=True):
            reply.metadata.__dict__["_message_id"] = f"r{message_id}"
            self._replies[message_id] = reply
        return ids

    def _replies_to(self, messages: list[Message]) -> list[Message]:
        """One reply per pushed message, in order (an engine may compute them together)."""
        return [self._deliver(message) for message in messages]

    def _deliver(self, message: Message) -> Message:
        """The ClientApp's reply to one message; an exception becomes an error reply."""
        try:
            return self._client_app(message, self._contexts[message.metadata.dst_node_id])
        except Exception as error:  # noqa: BLE001 - as Flower's runtimes do: the reply carries it
            return error_reply(message, error)

    # -- the nodes' own state (Flower's context.state), for checkpoints ---------------------
    def client_states(self) -> dict[int, dict[str, dict[str, np.ndarray]]]:
        """Every node's ArrayRecords in its ``context.state`` (e.g. SCAFFOLD's c_i), by partition."""
        out = {}
        for context in self._contexts.values():
            records = {name: {k: a.numpy() for k, a in record.items()} for name, record in context.state.array_records.items()}
            if records:
                out[int(context.node_config["partition-id"])] = records
        return out

    def load_client_states(self, states: Mapping[int, Mapping[str, Mapping[str, np.ndarray]]]) -> None:
        by_partition = {int(c.node_config["partition-id"]): c for c in self._contexts.values()}
        for partition, records in states.items():
            state = by_partition[int(partition)].state
            for name, arrays in records.items():
                state[name] = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in arrays.items()})

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


def error_reply(message: Message, error: Exception) -> Message:
    """The reply of a ClientApp that raised, as Flower's runtimes build it."""
    return Message(error=Error(code=CLIENT_APP_RAISED, reason=f"{type(error).__name__}: {error}"), reply_to=message)


def _node_ids(seed: int, count: int) -> list[int]:
    """Distinct positive 63-bit node ids, reproducible per seed (Flower's are random per run)."""
    rng = numpy_stream(seed, "node-ids")
    ids: list[int] = []
    seen: set[int] = set()
    while len(ids) < count:
        candidate = int(rng.integers(2, 2**63 - 1))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return ids
