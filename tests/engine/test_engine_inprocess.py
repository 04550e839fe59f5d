from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp

from fedsim.engine import InProcessGrid


def _echo_app() -> ClientApp:
    app = ClientApp()

    @app.query()
    def who(msg: Message, context: Context) -> Message:
        record = ConfigRecord({"partition": context.node_config["partition-id"], "x": msg.content["config"]["x"]})
        return Message(RecordDict({"answer": record}), reply_to=msg)

    return app


def test_nodes_get_partition_ids_and_seeded_node_ids():
    grid = InProcessGrid(_echo_app(), 4, {"k": "v"}, seed=1)
    again = InProcessGrid(_echo_app(), 4, {"k": "v"}, seed=1)
    other = InProcessGrid(_echo_app(), 4, {"k": "v"}, seed=2)
    ids = list(grid.get_node_ids())
    assert ids == list(again.get_node_ids()) and ids != list(other.get_node_ids())
    assert len(set(ids)) == 4

    messages = [
        Message(RecordDict({"config": ConfigRecord({"x": i})}), dst_node_id=node, message_type=MessageType.QUERY)
        for i, node in enumerate(ids)
    ]
    replies = list(grid.send_and_receive(messages))
    assert [r.content["answer"]["partition"] for r in replies] == [0, 1, 2, 3]
    assert [r.content["answer"]["x"] for r in replies] == [0, 1, 2, 3]
    assert [r.metadata.src_node_id for r in replies] == ids
    assert all(r.metadata.reply_to_message_id == m.metadata.message_id for r, m in zip(replies, messages))


def test_replies_are_pulled_once():
    grid = InProcessGrid(_echo_app(), 2, {}, seed=0)
    node = list(grid.get_node_ids())[0]
    msg = Message(RecordDict({"config": ConfigRecord({"x": 5})}), dst_node_id=node, message_type=MessageType.QUERY)
    ids = list(grid.push_messages([msg]))
    assert len(list(grid.pull_messages(ids))) == 1
    assert list(grid.pull_messages(ids)) == []
