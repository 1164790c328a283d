"""Pull requests: one state per (repository_id, number) merged from all four event types.

Times are integer microseconds since the epoch, UTC (tables.instants).

Scalar fields (author, title, base branch, created/first-commit/merged/closed times, merge
commit) merge field by field, the latest non-null value by envelope timestamp winning;
``commit_shas`` and reviews are sets. Every part is commutative and idempotent, so the same
events in any order and multiplicity give the same state. Reviews are all kept: which of them
count (a reviewer other than the author, exact string) is decided when the state is read,
because the author may arrive after the review.

Ageing (tables.retention) may forget a kept pull request's old commits and the deployments
that shipped them. It first records on the state what its timeline took from them: the
earliest commit time and the earliest ship time (``aged_first_commit_at``,
``aged_deployed_at``), each the minimum of what every ageing recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tables.versioned_fields import Versions, latest_values, merge_values, versions_from_record

__all__ = [
    "PullRequest",
    "PullRequestChange",
    "PullRequestKey",
    "PullRequestState",
    "Review",
    "merge_pull_request",
    "record_aged_commits",
]

PullRequestKey = tuple[str, int]  # (repository_id, number)
_FIELDS = (
    "author",
    "title",
    "base_branch",
    "created_at",
    "first_commit_at",
    "merged_at",
    "merge_commit_sha",
    "closed_at",
)


@dataclass(frozen=True, slots=True)
class Review:
    submitted_at: int | None
    reviewer: str | None
    state: str | None  # "approved" | "changes_requested" | "commented"


def _review_order(review: Review) -> tuple[bool, int, bool, str, bool, str]:
    # Total over distinct reviews (None sorts apart from ""), so the stored order is canonical.
    return (
        review.submitted_at is None,
        review.submitted_at or 0,
        review.reviewer is None,
        review.reviewer or "",
        review.state is None,
        review.state or "",
    )


@dataclass(frozen=True, slots=True)
class PullRequestChange:
    """One ``pull_request_*`` event; None (or empty) where a field is absent."""

    repository_id: str
    number: int
    timestamp: int  # the envelope's: orders the field versions
    author: str | None = None
    title: str | None = None
    base_branch: str | None = None
    created_at: int | None = None
    first_commit_at: int | None = None
    merged_at: int | None = None
    merge_commit_sha: str | None = None
    closed_at: int | None = None
    commit_shas: tuple[str, ...] = ()
    review: Review | None = None  # pull_request_review_submitted only


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A pull request as its merged events describe it."""

    repository_id: str
    number: int
    author: str | None = None
    title: str | None = None
    base_branch: str | None = None
    created_at: int | None = None
    first_commit_at: int | None = None
    merged_at: int | None = None
    merge_commit_sha: str | None = None
    closed_at: int | None = None
    commit_shas: tuple[str, ...] = ()
    reviews: tuple[Review, ...] = ()  # every review, the author's included
    aged_first_commit_at: int | None = None  # of its commits ageing forgot
    aged_deployed_at: int | None = None  # when the first of them shipped

    @property
    def key(self) -> PullRequestKey:
        return self.repository_id, self.number

    def first_review_at(self) -> int | None:
        """When the first review (any state) by someone other than the author came."""
        times = [
            r.submitted_at for r in self.reviews if r.submitted_at is not None and r.reviewer != self.author
        ]
        return min(times) if times else None

    def first_approval_at(self) -> int | None:
        """When the first ``approved`` review by someone other than the author came."""
        times = [
            r.submitted_at
            for r in self.reviews
            if r.submitted_at is not None and r.reviewer != self.author and r.state == "approved"
        ]
        return min(times) if times else None


@dataclass(frozen=True, slots=True)
class PullRequestState:
    """The table value: winning field versions, and the sets of commit shas and reviews."""

    repository_id: str
    number: int
    versions: Versions = field(default=())
    commit_shas: tuple[str, ...] = ()  # sorted, distinct
    reviews: tuple[Review, ...] = ()  # canonical order, distinct
    aged_first_commit_at: int | None = None  # module doc
    aged_deployed_at: int | None = None

    @property
    def key(self) -> PullRequestKey:
        return self.repository_id, self.number

    def view(self) -> PullRequest:
        """The pull request this state describes."""
        values = latest_values(self.versions)
        return PullRequest(
            self.repository_id,
            self.number,
            **{name: values.get(name) for name in _FIELDS},
            commit_shas=self.commit_shas,
            reviews=self.reviews,
            aged_first_commit_at=self.aged_first_commit_at,
            aged_deployed_at=self.aged_deployed_at,
        )

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        # By hand: dataclasses.asdict deep-copies every value, the largest cost of a PR batch.
        record: dict[str, Any] = {
            "repository_id": self.repository_id,
            "number": self.number,
            "versions": [list(version) for version in self.versions],
            "commit_shas": list(self.commit_shas),
            "reviews": [
                {"submitted_at": r.submitted_at, "reviewer": r.reviewer, "state": r.state}
                for r in self.reviews
            ],
        }
        if self.aged_first_commit_at is not None or self.aged_deployed_at is not None:
            record["aged"] = [self.aged_first_commit_at, self.aged_deployed_at]
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PullRequestState:
        """The state stored as ``record`` by to_record."""
        aged = record.get("aged") or (None, None)  # absent from records written before ageing kept it
        return cls(
            record["repository_id"],
            record["number"],
            versions_from_record(record["versions"]),
            tuple(record["commit_shas"]),
            tuple(Review(**review) for review in record["reviews"]),
            aged[0],
            aged[1],
        )


def _union_reviews(current: Iterable[Review], incoming: Iterable[Review]) -> tuple[Review, ...]:
    return tuple(sorted({*current, *incoming}, key=_review_order))


def merge_pull_request(state: PullRequestState | None, event: PullRequestChange) -> PullRequestState:
    """``state`` with ``event`` merged in: fields latest non-null, shas and reviews as sets."""
    if state is None:
        state = PullRequestState(event.repository_id, event.number)
    elif state.key != (event.repository_id, event.number):
        raise ValueError(f"cannot merge pull request {(event.repository_id, event.number)} into {state.key}")
    values = {name: getattr(event, name) for name in _FIELDS}
    return PullRequestState(
        state.repository_id,
        state.number,
        merge_values(state.versions, event.timestamp, values),
        tuple(sorted({*state.commit_shas, *event.commit_shas})),
        _union_reviews(state.reviews, () if event.review is None else (event.review,)),
        state.aged_first_commit_at,
        state.aged_deployed_at,
    )


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def record_aged_commits(
    state: PullRequestState, first_commit_at: int | None, deployed_at: int | None
) -> PullRequestState:
    """``state`` remembering what its commits about to be aged out gave its timeline (module
    doc): the minimum with what it held, so recording twice changes nothing."""
    return replace(
        state,
        aged_first_commit_at=_earliest(state.aged_first_commit_at, first_commit_at),
        aged_deployed_at=_earliest(state.aged_deployed_at, deployed_at),
    )
