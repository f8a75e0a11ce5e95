"""Delivery workers as real processes: ``kill -9`` mid-batch loses no event (issue 14)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.test_issuance_workers import wait_for, workers
from tests.webhook_receiver import Receiver, Reply, subscribe
from thanx_server.kit import clock
from thanx_server.kit.db import Database
from thanx_server.kit.ids import new_ids
from thanx_server.merchant import service as merchant_service
from thanx_server.models import WebhookDelivery
from thanx_server.webhook import outbox
from thanx_server.webhook.events import EventType

EVENTS = 120


@pytest.mark.live
async def test_a_delivery_worker_killed_mid_batch_loses_no_event(
    committed: Database, fresh_db_url: str, tmp_path: Path
) -> None:
    receiver = await Receiver(respond=lambda _r: Reply(delay=0.2)).start()
    try:
        async with committed.write_sessions() as session, session.begin():
            merchant = await merchant_service.create_merchant(
                session, name="Kill", handle="kill", time_zone="UTC"
            )
            await subscribe(session, merchant.id, receiver.url)
            ids = new_ids(EVENTS)
            await outbox.emit(
                session,
                merchant_id=merchant.id,
                type=EventType.SMS_SUBSCRIPTION,
                rows=[(i, None, f'{{"n":"{i}"}}') for i in ids],
                now=clock.business_now(),
            )
        settings = {
            "THANX_WEBHOOK_TIMEOUT": "1",  # lease: 2 x 1 s + 5 s
            "THANX_WEBHOOK_SLOTS": "16",
            "THANX_WEBHOOK_POLL_INTERVAL": "0.05",
        }
        with workers(fresh_db_url, tmp_path, **settings) as pool:
            first = pool.start()

            async def some_received() -> bool:
                return len(receiver.received) >= 20

            await wait_for(some_received, within=60)
            first.kill()  # SIGKILL mid-batch: sends in flight, outcomes unrecorded
            first.wait(timeout=10)
            killed_at = len(receiver.received)
            pool.start()

            async def all_delivered() -> bool:
                async with committed.read_sessions() as session:
                    done = await session.scalar(
                        select(func.count()).where(WebhookDelivery.state == "delivered")
                    )
                return done == EVENTS

            await wait_for(all_delivered, within=90, interval=0.1)
            assert pool.stop_all()[-1] == 0
        assert killed_at < EVENTS
        bodies: dict[str, set[bytes]] = defaultdict(set)
        for request in receiver.received:
            bodies[request.headers["x-thanx-event-id"]].add(request.body)
        assert set(bodies) == set(ids)  # every event arrived
        assert all(len(b) == 1 for b in bodies.values())  # a resend is the same bytes
        assert len(receiver.received) >= EVENTS
    finally:
        await receiver.close()
