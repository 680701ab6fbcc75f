"""Filtered journal reads: what a person types read into a filter, the SQL that applies it
(kind, symbol, time, words, pages, a capped count), and the CSV export of a filter to a file."""

from __future__ import annotations

import csv
from datetime import datetime, timezone

import pytest

from cockpit.journal import Journal, JournalError, kinds
from cockpit.journal.export import export_csv_file
from cockpit.journal.filters import FilterError, FilterText, build_filter, describe_filter, parse_time
from cockpit.journal.query import EntryFilter

BTC, ETH, BTC_SPOT = "BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT"
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
HOUR = 3600.0


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture
async def journal(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        rows = [
            (kinds.NOTE, {"text": "start of day"}, None, T0),
            (kinds.MARKS, {"prices": {BTC: 60_000.0}}, None, T0 + 1),
            (kinds.ORDER, {"side": "buy", "quantity": 0.1, "order_type": "market"}, BTC, T0 + HOUR),
            (kinds.FILL, {"side": "buy", "quantity": 0.1, "price": 60_000.0}, BTC, T0 + HOUR),
            (kinds.ORDER, {"side": "sell", "quantity": 1.0, "order_type": "stop_market"}, ETH, T0 + 2 * HOUR),
            (kinds.FILL, {"side": "buy", "quantity": 0.2, "price": 59_000.0}, BTC_SPOT, T0 + 3 * HOUR),
            (kinds.NOTE, {"text": "100% sure_thing"}, None, T0 + 4 * HOUR),
        ]
        for kind, payload, symbol, ts in rows:
            await journal.append(kind, payload, account="paper", symbol=symbol, ts=ts,
                                 client_order_id="ck-1-0" if kind == kinds.ORDER and symbol == BTC else None)
        yield journal


async def seqs(journal: Journal, where: EntryFilter, **options) -> list[int]:
    return [entry.seq for entry in await journal.entries(where=where, **options)]


async def test_kinds_and_the_hidden_marks(journal):
    everything_but_marks = build_filter(FilterText(), T0)
    assert await seqs(journal, everything_but_marks) == [1, 3, 4, 5, 6, 7]
    assert await seqs(journal, build_filter(FilterText(kinds="marks"), T0)) == [2]
    assert await seqs(journal, build_filter(FilterText(kinds="order, FILL"), T0)) == [3, 4, 5, 6]


async def test_a_symbol_matches_its_base_asset_in_any_case_and_the_full_symbol_exactly(journal):
    assert await seqs(journal, EntryFilter(symbol="btc")) == [3, 4, 6]
    assert await seqs(journal, EntryFilter(symbol=BTC)) == [3, 4]
    assert await seqs(journal, EntryFilter(symbol="ET")) == []  # a base asset, not a prefix


async def test_a_time_range_includes_its_start_and_excludes_its_end(journal):
    where = build_filter(FilterText(since="2026-01-01 01:00", until="2026-01-01T03:00:00Z"), T0)
    assert (where.since, where.until) == (T0 + HOUR, T0 + 3 * HOUR)
    assert await seqs(journal, where) == [3, 4, 5]
    whole_day = build_filter(FilterText(since="2026-01-01", until="2026-01-01"), T0)
    assert whole_day.until - whole_day.since == 24 * HOUR
    last_two_hours = build_filter(FilterText(since="2h"), T0 + 4 * HOUR)
    assert await seqs(journal, last_two_hours) == [5, 6, 7]


async def test_words_all_match_any_case_and_wildcards_are_literal(journal):
    assert await seqs(journal, EntryFilter(words=("STOP_MARKET",))) == [5]
    assert await seqs(journal, EntryFilter(words=("buy", "59000"))) == [6]
    assert await seqs(journal, EntryFilter(words=("ck-1-0",))) == [3]  # ids are searched too
    assert await seqs(journal, EntryFilter(words=("100%",))) == [7]
    assert await seqs(journal, EntryFilter(words=("%",))) == [7]  # not "anything"
    assert await seqs(journal, EntryFilter(words=("sure_thing",))) == [7]
    assert await seqs(journal, EntryFilter(words=("su_e",))) == []  # _ is not "any character"


async def test_pages_back_from_the_newest_and_a_capped_count(journal):
    where = build_filter(FilterText(), T0)
    assert await seqs(journal, where, newest_first=True, limit=4) == [7, 6, 5, 4]
    assert await seqs(journal, where, newest_first=True, limit=4, before_seq=4) == [3, 1]
    assert await journal.count(where) == 6
    assert await journal.count(where, cap=3) == 4  # "more than 3"
    assert await journal.count(EntryFilter(kinds=())) == 0


@pytest.mark.parametrize("typed, message", [
    (FilterText(kinds="fils"), "kind: unknown 'fils'"),
    (FilterText(since="yesterday"), "from: cannot read 'yesterday' as a time"),
    (FilterText(until="2026-02-30"), "to: cannot read '2026-02-30' as a time"),
    (FilterText(since="2026-01-02", until="2026-01-01 12:00"), "from '2026-01-02' is not before to '2026-01-01 12:00'"),
])
def test_what_cannot_be_read_is_one_line_naming_the_field(typed, message):
    with pytest.raises(FilterError) as info:
        build_filter(typed, T0)
    assert str(info.value).startswith(message) and info.value.problem.startswith(message)
    assert "\n" not in str(info.value)


def test_times_people_type():
    assert parse_time("2026-01-31 14:00", T0, label="from") == utc("2026-01-31T14:00")
    assert parse_time("2026-01-31T14:00+02:00", T0, label="from") == utc("2026-01-31T12:00")
    assert parse_time("90m", T0, label="from") == T0 - 5400
    assert parse_time("1w", T0, label="from") == T0 - 7 * 24 * HOUR
    assert parse_time("now", T0, label="to") == T0
    assert parse_time("today", T0 + 5 * HOUR, label="from") == T0
    assert parse_time("today", T0 + 5 * HOUR, label="to", end=True) == T0 + 24 * HOUR
    assert parse_time("  ", T0, label="from") is None


def test_the_filter_in_a_few_words():
    assert describe_filter(build_filter(FilterText(), T0)) == "everything but marks"
    where = build_filter(FilterText(kinds="fill", symbol="btc", since="2026-01-01", search="stop x"), T0)
    assert describe_filter(where) == "fill · BTC · from 2026-01-01 00:00 · 'stop' · 'x'"


async def test_export_writes_only_the_filtered_rows_to_a_new_file(journal, tmp_path):
    path, rows = await export_csv_file(journal, tmp_path / "fills.csv", where=EntryFilter(kinds=("fill",)))
    assert (path, rows) == (tmp_path / "fills.csv", 2)
    assert [row["seq"] for row in csv.DictReader(path.open())] == ["4", "6"]


async def test_export_refuses_an_existing_file_a_missing_folder_and_a_folder(journal, tmp_path):
    (tmp_path / "mine.csv").write_text("keep me\n")
    for target, expected in ((tmp_path / "mine.csv", "exists: choose another name"),
                             (tmp_path / "nowhere" / "x.csv", "no folder"),
                             (tmp_path, "is a folder")):
        with pytest.raises(JournalError, match=expected) as info:
            await export_csv_file(journal, target)
        assert "nothing was written" in str(info.value)
    assert (tmp_path / "mine.csv").read_text() == "keep me\n"
    assert not (tmp_path / "nowhere").exists()


async def test_an_export_that_fails_midway_leaves_no_file(journal, tmp_path, monkeypatch):
    import cockpit.journal.export as export

    async def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "export_csv", broken)
    with pytest.raises(JournalError, match="No space left on device"):
        await export_csv_file(journal, tmp_path / "half.csv")
    assert not (tmp_path / "half.csv").exists()
