"""The breaker latches a restart takes back: BREAKER rows folded in seq order on a real journal."""

from __future__ import annotations

import math

import pytest

from cockpit.domain import breakers as b
from cockpit.domain.breakers import BreakerStatus
from cockpit.journal import Journal, JournalError, kinds
from cockpit.journal.rebuild import engaged_breakers

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


class Clock:
    """Journal time the test moves, so each row's ts is known."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def trip(journal: Journal, breaker: str, subject: str, value, threshold, account: str = "paper") -> None:
    # The payload the engine's _on_trip writes.
    await journal.append(
        kinds.BREAKER,
        {"breaker": breaker, "subject": subject, "status": "tripped", "value": value,
         "threshold": threshold, "action": "proposal"},
        account=account,
    )


async def reset(journal: Journal, breaker: str, subject: str, account: str = "paper") -> None:
    # The payload the engine's resume writes, one row per engaged latch.
    await journal.append(
        kinds.BREAKER,
        {"breaker": breaker, "subject": subject, "status": "reset", "value": None,
         "threshold": 0.15, "action": "re-armed", "key": "R"},
        account=account,
    )


def keys(latches) -> list[tuple[str, str]]:
    return [latch.key for latch in latches]


async def test_a_journal_without_breaker_rows_has_nothing_engaged(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await journal.append(kinds.DEPOSIT, {"amount": 10_000.0}, account="paper")
        assert await engaged_breakers(journal, "paper") == []


async def test_trips_and_resets_fold_per_breaker_and_subject(tmp_path):
    clock = Clock()
    async with await Journal.open(tmp_path / "j.sqlite", clock=clock) as journal:
        await trip(journal, b.POSITION_DAY_LOSS, BTC, 0.18, 0.15)  # ts 1000
        clock.now = 1_010.0
        await trip(journal, b.POSITION_DAY_LOSS, ETH, 0.21, 0.15)  # same breaker, another subject
        clock.now = 1_020.0
        await trip(journal, b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO, 0.09, 0.08)
        assert keys(await engaged_breakers(journal, "paper")) == [
            (b.POSITION_DAY_LOSS, BTC), (b.POSITION_DAY_LOSS, ETH), (b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO),
        ]

        clock.now = 1_030.0
        await reset(journal, b.POSITION_DAY_LOSS, BTC)  # clears BTC only, not ETH nor the portfolio
        assert keys(await engaged_breakers(journal, "paper")) == [
            (b.POSITION_DAY_LOSS, ETH), (b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO),
        ]

        clock.now = 1_040.0
        await trip(journal, b.POSITION_DAY_LOSS, BTC, 0.16, 0.15)  # trips again after its reset
        latches = await engaged_breakers(journal, "paper")

    assert keys(latches) == [
        (b.POSITION_DAY_LOSS, ETH), (b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO), (b.POSITION_DAY_LOSS, BTC),
    ]
    btc = latches[-1]
    # The new trip's figures, not the reset one's: value 0.16 at ts 1040.
    assert (btc.tripped_value, btc.tripped_at, btc.threshold) == (0.16, 1_040.0, 0.15)
    eth = latches[0]
    assert (eth.tripped_value, eth.tripped_at, eth.threshold) == (0.21, 1_010.0, 0.15)
    # The reading now is not journaled: every restored latch waits, none claims to be tripped now.
    assert all(latch.status is BreakerStatus.LATCHED and latch.value is None for latch in latches)
    assert all(latch.engaged and latch.rearm_above is None for latch in latches)


async def test_a_reset_of_everything_that_was_engaged_leaves_nothing(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await trip(journal, b.FUNDING_EXTREME, BTC, 0.003, 0.002)
        await trip(journal, b.STALE_DATA, b.PORTFOLIO, 75.0, 30.0)
        await reset(journal, b.STALE_DATA, b.PORTFOLIO)
        await reset(journal, b.FUNDING_EXTREME, BTC)
        assert await engaged_breakers(journal, "paper") == []


async def test_a_reset_before_the_trip_does_not_cancel_it(tmp_path):
    # Order matters: a reset only clears trips that came before it.
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await reset(journal, b.POSITION_DAY_LOSS, BTC)
        await trip(journal, b.POSITION_DAY_LOSS, BTC, 0.2, 0.15)
        assert keys(await engaged_breakers(journal, "paper")) == [(b.POSITION_DAY_LOSS, BTC)]


async def test_an_old_trip_no_later_reset_named_stays_engaged(tmp_path):
    # Older engines forgot latches on restart and journaled resets only for the latches of their
    # own run: a reset of ETH says nothing about the BTC trip of the run before.
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await trip(journal, b.POSITION_DAY_LOSS, BTC, 0.2, 0.15)
        await journal.append(kinds.STOP, {"reason": "quit"}, account="paper")
        await journal.append(kinds.START, {"version": "0.1.0", "source": "PAPER"}, account="paper")
        await trip(journal, b.POSITION_DAY_LOSS, ETH, 0.2, 0.15)
        await reset(journal, b.POSITION_DAY_LOSS, ETH)
        assert keys(await engaged_breakers(journal, "paper")) == [(b.POSITION_DAY_LOSS, BTC)]


async def test_only_the_asked_account_counts(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await trip(journal, b.POSITION_DAY_LOSS, BTC, 0.2, 0.15, account="other")
        await trip(journal, b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO, 0.1, 0.08)
        await reset(journal, b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO, account="other")  # not ours to reset
        assert keys(await engaged_breakers(journal, "paper")) == [(b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO)]
        assert keys(await engaged_breakers(journal, "other")) == [(b.POSITION_DAY_LOSS, BTC)]


async def test_unreadable_figures_are_unknown_not_fatal(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await trip(journal, b.CORRELATION_SPIKE, b.PORTFOLIO, None, "nan")  # NaN band stored as "nan"
        await trip(journal, b.STALE_DATA, b.PORTFOLIO, "inf", "soon")
        await journal.append(
            kinds.BREAKER, {"breaker": b.FUNDING_EXTREME, "subject": BTC, "status": "tripped"}, account="paper"
        )
        await journal.append(  # a status this code does not know: neither engages nor clears
            kinds.BREAKER, {"breaker": b.FUNDING_EXTREME, "subject": BTC, "status": "muted"}, account="paper"
        )
        correlation, stale, funding = await engaged_breakers(journal, "paper")
    assert correlation.tripped_value is None and math.isnan(correlation.threshold)
    assert stale.tripped_value == math.inf and math.isnan(stale.threshold)
    assert funding.key == (b.FUNDING_EXTREME, BTC) and funding.tripped_value is None


@pytest.mark.parametrize(
    "payload",
    [
        {"subject": BTC, "status": "tripped", "value": 0.2, "threshold": 0.15},
        {"breaker": b.POSITION_DAY_LOSS, "status": "reset"},
        {"breaker": "", "subject": BTC, "status": "tripped"},
        {"breaker": b.POSITION_DAY_LOSS, "subject": None, "status": "tripped"},
    ],
)
async def test_a_row_that_names_no_breaker_or_subject_is_an_error(tmp_path, payload):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        seq = await journal.append(kinds.BREAKER, payload, account="paper")
        with pytest.raises(JournalError, match=f"journal row {seq}: breaker payload is unusable"):
            await engaged_breakers(journal, "paper")
