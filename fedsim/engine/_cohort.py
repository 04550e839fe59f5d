"""The cohort engine (``engine=cohort``): the in-process engine, with a round's TRAIN messages
trained together.

``push_messages`` reads every TRAIN message as fedsim's ClientApp would (``train_request``: the
device, the operating point, the injected faults), groups the devices that got the same global
state and operating point, and has the task train each group at once (``Task.local_updates``:
the classifier steps its clients' stacked parameters together, see
``fedsim.tasks._cohort_training``). The group's replies are then built by the ClientApp's own
``train_replies`` (its updates encoded together, the bytes ``train_reply`` would give), so the
strategy, the World and the ledger see one ordinary reply per node.

Other messages (queries, evaluation) go to the ClientApp one by one. A task or model that cannot
train as a cohort is named in one line on stderr, once, and its clients train sequentially.
This engine runs fedsim's ClientApp only (it calls its training code directly).
"""

from __future__ import annotations

import sys
from typing import TextIO

from flwr.app import Message, MessageType

from ..federation._job import config_from_run_config, task_from_run_config
from ..federation.client_app import TrainRequest, device_of, train_replies, train_request
from ._inprocess import InProcessGrid, error_reply


class CohortGrid(InProcessGrid):
    def __init__(self, *args, stderr: TextIO | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stderr = stderr
        self._said_why_not = False

    def _replies_to(self, messages: list[Message]) -> list[Message]:
        replies: dict[int, Message] = {}
        groups: dict[tuple, list[tuple[int, TrainRequest]]] = {}
        reasons: dict[int, str | None] = {}  # per task, asked once per call
        for index, message in enumerate(messages):
            if message.metadata.message_type != MessageType.TRAIN:
                replies[index] = self._deliver(message)
                continue
            context = self._contexts[message.metadata.dst_node_id]
            task = task_from_run_config(context.run_config)
            if id(task) not in reasons:
                reasons[id(task)] = task.cohort_unsupported()
            reason = reasons[id(task)]
            if reason is not None:
                self._say_why_not(context.run_config, reason)
                replies[index] = self._deliver(message)
                continue
            try:
                request = train_request(task, device_of(context), message)
            except Exception as error:  # noqa: BLE001 - an injected crash: an error reply, as sequentially
                replies[index] = error_reply(message, error)
                continue
            if request.client.scaffold:  # per-device control variates kept in the node's state
                self._say_why_not(context.run_config, "SCAFFOLD's control variates are per-device state")
                replies[index] = self._deliver(message)
                continue
            # Devices stack when they start from the same global state at the same precision and
            # step count (a policy may give each its own operating point).
            key = (id(task), id(message.content["arrays"]), request.server_round, request.op.train_bits, request.op.local_iters, request.client)
            groups.setdefault(key, []).append((index, request))
        for members in groups.values():
            first = messages[members[0][0]]
            task = task_from_run_config(self._contexts[first.metadata.dst_node_id].run_config)
            request = members[0][1]
            try:
                results = task.local_updates(request.record, [r.device for _, r in members], request.server_round, request.op, request.client)
            except Exception as error:  # noqa: BLE001 - the cohort failed: each of its messages says why
                for index, _ in members:
                    replies[index] = error_reply(messages[index], error)
                continue
            contents = train_replies(task, [member for _, member in members], results)
            for (index, _), content in zip(members, contents, strict=True):
                replies[index] = Message(content, reply_to=messages[index])
        return [replies[index] for index in range(len(messages))]

    def _say_why_not(self, run_config, reason: str) -> None:
        if not self._said_why_not:
            self._said_why_not = True
            model = config_from_run_config(run_config).model.name
            print(f"fedsim: engine=cohort: model {model} cannot be vmapped ({reason}); its clients train sequentially", file=self._stderr or sys.stderr, flush=True)
