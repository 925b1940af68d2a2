"""A client that stops reading is cut off; it never stalls the room or grows the hub."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from server.runner import HubServer
from tests.conftest import ClientFactory, declare, record, wait_for


async def test_a_client_that_never_reads_is_cut_off_and_others_keep_flowing(
    bulk_hub: HubServer, make_client: ClientFactory, raw_client
) -> None:
    hub = bulk_hub
    writer = await make_client(hub.url, "writer")
    room = await declare(writer)
    reader = await make_client(hub.url, "reader")
    view = await reader.join(room)

    stuck = await raw_client(hub.url, max_queue=1)  # its library stops reading after one frame
    await stuck.hello("stuck")
    await stuck.send({"t": "join", "rid": 1, "room": room, "after": 0})
    await wait_for(lambda: len(hub.sync.sessions) == 3, what="three sessions")

    text = "x" * 3500
    sent = 0
    while hub.hub.stats["slow_consumers"] == 0 and sent < 20_000:
        futures = [writer.submit("entry.added", {"text": f"{sent + n} {text}"}, room) for n in range(200)]
        for future in futures:
            await future  # the writer's acks keep coming while the stuck client is full
        sent += len(futures)
    assert hub.hub.stats["slow_consumers"] == 1, f"no cut-off after {sent} entries"

    head = (await record(hub, room)).head
    await wait_for(lambda: view.state.seq == head, what="the healthy reader to catch up")
    assert len(view.state.entries) == head

    with pytest.raises(ConnectionClosed) as closed:  # draining it now shows how it was closed
        while True:
            await stuck.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008

    await writer.send("entry.added", {"text": "after the cut"}, room)
    await wait_for(lambda: view.state.seq == head + 1, what="the room to keep working")
