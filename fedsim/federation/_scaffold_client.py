"""SCAFFOLD's device in the ClientApp: the control variates it receives, keeps and uploads.

The device's own c_i lives in Flower's ``context.state`` (an ArrayRecord, zeros at first), so it
survives rounds; the in-process engines checkpoint it with the run. The math is the task
package's (``fedsim.tasks._control_variates``); this module moves the arrays in and out of
messages, at the round's m bits.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from flwr.app import Array, ArrayRecord, Message, RecordDict

from ..rng import numpy_stream
from ..strategies.scaffold import CONTROL, CONTROL_DELTA
from ..tasks import Task
from ..tasks._control_variates import correction
from ..tasks._records import encoded_to_record, record_to_encoded
from ..uplink import decode_update, encode_update

LOCAL_CONTROL = "scaffold-ci"  # the device's c_i in its context.state


def kept_variate(state: RecordDict, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    if LOCAL_CONTROL not in state:
        return [np.zeros(shape, dtype=np.float32) for shape in shapes]
    record = state[LOCAL_CONTROL]
    return [record[str(i)].numpy() for i in range(len(shapes))]


def scaffold_update(task: Task, request, msg: Message, state: RecordDict, train_reply) -> RecordDict:
    """Train with the corrected gradient, keep c_i+, and reply with Δy and Δc_i (``train_reply``:
    the ClientApp's builder of every reply)."""
    bits = request.op.uplink_bits
    c_global = decode_update(record_to_encoded(msg.content[CONTROL], bits), task.update_shapes)
    c_local = kept_variate(state, task.update_shapes)
    client = replace(request.client, correction=tuple(correction(c_global, c_local)))
    result = task.local_update(request.record, request.device, request.server_round, request.op, client)
    c_next = [np.asarray(g, dtype=np.float32) for g in result.mean_gradient]  # c_i+: the mean raw local gradient
    state[LOCAL_CONTROL] = ArrayRecord({str(i): Array(np.ascontiguousarray(c)) for i, c in enumerate(c_next)})
    reply = train_reply(task, request, result)
    stream = numpy_stream(task.config.seed, "uplink-quantizer-control", request.device, request.server_round)
    encoded = encode_update([n - o for n, o in zip(c_next, c_local)], bits, stream)
    reply[CONTROL_DELTA] = encoded_to_record(encoded)
    reply["metrics"]["payload-bits"] = int(reply["metrics"]["payload-bits"]) + encoded.payload_bits
    return reply
