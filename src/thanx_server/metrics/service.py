"""What a scrape adds to the process instruments: the database's view, shared by every process."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import JobState
from thanx_server.kit.time import utcnow
from thanx_server.metrics import repository


class Snapshot:
    """A prometheus-client collector over values read once, before rendering (collectors are
    called synchronously; the queries are not)."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


async def database_snapshot(session: AsyncSession) -> Snapshot:
    counts = await repository.jobs_by_state(session)
    jobs = GaugeMetricFamily(
        "thanx_issuance_jobs", "Issuance jobs in the database, by state.", labels=["state"]
    )
    for state in JobState:
        jobs.add_metric([state.value], counts.get(state.value, 0))
    oldest = await repository.oldest_waiting_job(session)
    age = GaugeMetricFamily(
        "thanx_issuance_oldest_waiting_job_age_seconds",
        "Age of the oldest pending or processing issuance job (0 when none waits).",
    )
    age.add_metric([], max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
    return Snapshot([jobs, age])
