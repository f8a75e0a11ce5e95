"""The states of issuance jobs, rewards, feedback records and campaigns, and their one table each.

Every state is a ``StrEnum`` member whose value is the string clients see and the database stores.
Each entity has ONE transition table (a ``Transitions``); services ask it whether a move is allowed
(``can_move``) and guarded UPDATEs take their source states from it (``allowed_from``), so the
states a move may start from are never spelled a second time.

Why here, in ``domain/``: the tables are needed by the models themselves (column defaults, the
feedback CHECK constraint), by repositories (guarded UPDATEs, derived-state SQL) and by services and
schemas. ``domain`` sits below the models in the layering, so the features and the models can
both import this module; a ``states.py`` per feature package could not be imported by the models.
It imports nothing of the application, so the CLI pays only for ``enum`` and SQLAlchemy Core.

**Derived states** are never stored: they are what a stored state reads as once time has passed
(feedback ``expired``, reward ``retired``, every campaign state). They are values of their enum,
listed in the table's ``derived`` set, and reached by time rather than by a request. Their
derivation is written here once, in Python and, where SQL filters on it, as a SQL expression over
the caller's columns right beside it (``tests/test_states.py`` checks the two agree on both
engines). A derived state is a view over stored ones: a guarded UPDATE that moves out of the stored
states must exclude a derived state the table refuses with the derivation's own condition (the
feedback window, the reward's ``retire_at``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, literal

S = TypeVar("S", bound=StrEnum)


class Transitions(Generic[S]):
    """One entity's state machine: its initial state, its allowed moves, its derived states.

    The constructor refuses a table with a state nothing can reach from ``initial``, and a move out
    of a derived state that the stored states it is derived from do not also make (the stored row
    is what a guarded UPDATE sees, so the two must agree).
    """

    def __init__(
        self,
        states: type[S],
        *,
        initial: S,
        moves: Mapping[S, Collection[S]],
        derived: Collection[S] = (),
    ) -> None:
        self.states: tuple[S, ...] = tuple(states)
        self._by_value: dict[str, S] = {s.value: s for s in self.states}
        self.initial = initial
        self.moves: dict[S, frozenset[S]] = {s: frozenset(moves.get(s, ())) for s in self.states}
        self.derived: frozenset[S] = frozenset(derived)
        self.stored: tuple[S, ...] = tuple(s for s in self.states if s not in self.derived)
        unreachable = set(self.states) - self.reachable()
        if unreachable:
            raise ValueError(f"{states.__name__}: nothing reaches {sorted(unreachable)}")
        for source in self.derived:
            origins = [s for s in self.stored if source in self.moves[s]]
            for target in self.moves[source]:
                if any(target not in self.moves[o] for o in origins):
                    raise ValueError(
                        f"{states.__name__}: {source} -> {target} disagrees with {origins}"
                    )

    def can_move(self, source: S | str, target: S) -> bool:
        """May an entity in ``source`` become ``target``? (Staying put is not a move.)"""
        return target in self.moves[self._parse(source)]

    def allowed_from(self, target: S) -> tuple[S, ...]:
        """The stored states that may become ``target``: the ``state IN (...)`` of a guarded
        UPDATE. Declaration order, so the SQL is the same every time."""
        return tuple(s for s in self.stored if target in self.moves[s])

    def reachable(self) -> frozenset[S]:
        """Every state reachable from ``initial`` through the moves (``initial`` included)."""
        seen = {self.initial}
        todo = [self.initial]
        while todo:
            for nxt in self.moves[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return frozenset(seen)

    def _parse(self, value: S | str) -> S:
        try:
            return self._by_value[value]
        except KeyError:
            raise ValueError(f"unknown state {value!r}") from None


def state_in(column: SQLColumnExpression[str], states: Collection[StrEnum]) -> ColumnElement[bool]:
    """``column IN (...)`` with one plain bound value per state, never an expanding parameter:
    the derived-state clauses below also go into statements compiled once (the hot reads)."""
    return column.in_([literal(state.value) for state in states])


# --- issuance jobs (CONTRACT rows 10, 11) --------------------------------------------------------


class JobState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    REVOKED = "revoked"


JOB_STATES = Transitions(
    JobState,
    initial=JobState.PENDING,
    moves={
        # A worker claims it. Claiming a `processing` job whose lease expired is not a move: only
        # the lease changes hands, the state stays `processing`.
        JobState.PENDING: {JobState.PROCESSING},
        # Its last chunk completes it; a job-level fault (or too many attempts) fails it.
        JobState.PROCESSING: {JobState.COMPLETED, JobState.FAILED},
        # Revocation is one set-based UPDATE inside the request (docs/DECISIONS.md): there is no
        # `revoking` state in between.
        JobState.COMPLETED: {JobState.REVOKED},
        JobState.FAILED: {JobState.REVOKED},
    },
)

# The job's workers are done: its summary is final (and shown).
FINISHED_JOB_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.REVOKED})


# --- rewards (CONTRACT rows 11, 14) --------------------------------------------------------------


class RewardState(StrEnum):
    AVAILABLE = "available"
    ACTIVE = "active"
    USED = "used"
    REVOKED = "revoked"
    RETIRED = "retired"  # derived: past `retire_at` and not used


REWARD_STATES = Transitions(
    RewardState,
    initial=RewardState.AVAILABLE,
    moves={
        RewardState.AVAILABLE: {RewardState.ACTIVE, RewardState.REVOKED, RewardState.RETIRED},
        # Activating an `active` reward again answers it unchanged (a safe retry), not a move.
        RewardState.ACTIVE: {RewardState.USED, RewardState.REVOKED, RewardState.RETIRED},
        # A retired reward is still stored `available`/`active`: revoking its job takes it too.
        RewardState.RETIRED: {RewardState.REVOKED},
    },
    derived={RewardState.RETIRED},
)

# What the Consumer API lists and shows; a revoked or retired reward is never visible.
LISTED_REWARD_STATES = (RewardState.AVAILABLE, RewardState.ACTIVE, RewardState.USED)


def reward_retired(state: str, retire_at: datetime | None, now: datetime) -> bool:
    """A reward past ``retire_at`` that was not used is retired (``reward_retired_clause``)."""
    return (
        REWARD_STATES.can_move(state, RewardState.RETIRED)
        and retire_at is not None
        and retire_at <= now
    )


def reward_retired_clause(
    state: SQLColumnExpression[str],
    retire_at: SQLColumnExpression[datetime | None],
    now: datetime | SQLColumnExpression[datetime],
) -> ColumnElement[bool]:
    """``reward_retired`` in SQL, over the caller's columns."""
    return and_(
        state_in(state, REWARD_STATES.allowed_from(RewardState.RETIRED)),
        retire_at.is_not(None),
        retire_at <= now,
    )


def reward_state(state: str, retire_at: datetime | None, now: datetime) -> RewardState:
    """The state a stored reward is in at ``now`` (``retired`` once past ``retire_at``)."""
    if reward_retired(state, retire_at, now):
        return RewardState.RETIRED
    return RewardState(state)


# --- feedback records (CONTRACT row 16) ----------------------------------------------------------


class FeedbackState(StrEnum):
    UNVIEWED = "unviewed"
    VIEWED = "viewed"
    EXPIRED = "expired"  # derived: still unviewed/viewed when its window closed
    RATED = "rated"
    REVIEWED = "reviewed"
    RESPONDED = "responded"


FEEDBACK_STATES = Transitions(
    FeedbackState,
    initial=FeedbackState.UNVIEWED,
    moves={
        # The customer's steps (played by the sandbox endpoints), each before `expires_at`.
        FeedbackState.UNVIEWED: {
            FeedbackState.VIEWED,
            FeedbackState.RATED,
            FeedbackState.EXPIRED,
        },
        FeedbackState.VIEWED: {FeedbackState.RATED, FeedbackState.EXPIRED},
        # The merchant answers what was rated or reviewed, once (even after `expires_at`).
        FeedbackState.RATED: {FeedbackState.REVIEWED, FeedbackState.RESPONDED},
        FeedbackState.REVIEWED: {FeedbackState.RESPONDED},
    },
    derived={FeedbackState.EXPIRED},
)


def feedback_expired_clause(
    state: SQLColumnExpression[str], expires_at: SQLColumnExpression[datetime], now: datetime
) -> ColumnElement[bool]:
    """A record still unviewed/viewed when its window closed reads as ``expired``."""
    return and_(
        state_in(state, FEEDBACK_STATES.allowed_from(FeedbackState.EXPIRED)), expires_at <= now
    )


# --- campaigns (CONTRACT row 12) -----------------------------------------------------------------


class CampaignState(StrEnum):
    """Every campaign state is derived from now; nothing stores one."""

    SCHEDULED = "scheduled"
    ACTIVE = "active"
    ENDED = "ended"


CAMPAIGN_STATES = Transitions(
    CampaignState,
    initial=CampaignState.SCHEDULED,
    moves={
        CampaignState.SCHEDULED: {CampaignState.ACTIVE, CampaignState.ENDED},
        CampaignState.ACTIVE: {CampaignState.ENDED},
    },
    derived=set(CampaignState),
)


def campaign_state(start_at: datetime, end_at: datetime, now: datetime) -> CampaignState:
    """``scheduled`` before ``start_at``, ``ended`` after ``end_at``, ``active`` in between (both
    ends included). ``campaign_state_clause`` is the same rule in SQL."""
    if now < start_at:
        return CampaignState.SCHEDULED
    if now > end_at:
        return CampaignState.ENDED
    return CampaignState.ACTIVE


def campaign_state_clause(
    state: CampaignState | str,
    start_at: SQLColumnExpression[datetime],
    end_at: SQLColumnExpression[datetime],
    now: datetime,
) -> ColumnElement[bool]:
    """The campaigns in ``state`` at ``now`` (``campaign_state`` in SQL)."""
    if state == CampaignState.SCHEDULED:
        return start_at > now
    if state == CampaignState.ENDED:
        return end_at < now
    return and_(start_at <= now, end_at >= now)


__all__ = [
    "CAMPAIGN_STATES",
    "FEEDBACK_STATES",
    "FINISHED_JOB_STATES",
    "JOB_STATES",
    "LISTED_REWARD_STATES",
    "REWARD_STATES",
    "CampaignState",
    "FeedbackState",
    "JobState",
    "RewardState",
    "Transitions",
    "campaign_state",
    "campaign_state_clause",
    "feedback_expired_clause",
    "reward_retired",
    "reward_retired_clause",
    "reward_state",
    "state_in",
]


# --- webhook deliveries (issue 14) ---------------------------------------------------------------


class DeliveryState(StrEnum):
    """One event on its way to one endpoint. A retry keeps the delivery ``pending`` (only its
    ``next_attempt_at`` moves); a redelivery or a recovery is a new delivery of the same event."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


DELIVERY_STATES = Transitions(
    DeliveryState,
    initial=DeliveryState.PENDING,
    moves={
        # A 2xx answer delivers it; anything else fails it (no retry mode, or retries spent,
        # a 410, a disabled endpoint, a sandbox "drop" fault).
        DeliveryState.PENDING: {DeliveryState.DELIVERED, DeliveryState.FAILED},
    },
)
