"""`cockpit journal verify` and `cockpit journal backup` as a trader runs them: exit 0 intact,
1 broken (the first broken row named), 2 bad input in one line that changes nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest

from cockpit import cli
from tests.journal.test_chain import all_rows, journal_of, make_v1_journal, tamper
from tests.test_cli import cockpit, refused


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    try:
        code = cli.main(list(argv))
    except SystemExit as stop:  # argparse's refusals leave this way, as they do in a shell
        code = stop.code
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


@pytest.fixture
def journal(tmp_path):
    return asyncio.run(journal_of(tmp_path / "j.sqlite"))


def test_an_intact_journal_is_one_line_and_exit_0(capsys, journal):
    code, out, err = run(capsys, "journal", "verify", "--journal", str(journal))
    assert (code, err) == (0, [])
    (line,) = out
    assert line.startswith("intact: 10 rows checked, SQLite integrity ok; last row #10 1970-01-01 00:16:49 UTC")
    assert f"anchor 10:{all_rows(journal)[-1][9][:16]}" in line


def test_the_journal_option_works_before_the_subcommand_too(capsys, journal):
    assert run(capsys, "--journal", str(journal), "journal", "verify")[0] == 0
    assert run(capsys, "journal", "--journal", str(journal), "verify")[0] == 0


def test_an_edited_row_is_named_with_exit_1(capsys, journal):
    tamper(journal, "UPDATE entries SET payload = '{\"i\":6}' WHERE seq = 7")
    code, out, err = run(capsys, "journal", "verify", "--journal", str(journal))
    assert (code, err) == (1, [])
    assert out == [
        "BROKEN at row #7 (1970-01-01 00:16:46 UTC, note): content edited: its stored hash does not match "
        "what the row holds",
        "6 rows intact before the break (#1-#6)",
    ]


def test_a_deleted_row_is_named_with_exit_1(capsys, journal):
    tamper(journal, "DELETE FROM entries WHERE seq = 4")
    code, out, _ = run(capsys, "journal", "verify", "--journal", str(journal))
    assert code == 1
    assert out[0].startswith("BROKEN at row #5 (1970-01-01 00:16:44 UTC, note): sequence gap: row #4 is missing")


def test_a_noted_anchor_is_checked(capsys, journal):
    code, out, _ = run(capsys, "journal", "verify", "--journal", str(journal))
    anchor = out[0].rsplit("anchor ", 1)[1]
    assert run(capsys, "journal", "verify", "--journal", str(journal), "--anchor", anchor)[0] == 0
    wrong = anchor[:-1] + ("0" if anchor[-1] != "0" else "1")
    code, out, _ = run(capsys, "journal", "verify", "--journal", str(journal), "--anchor", wrong)
    assert code == 1 and "anchor mismatch: row #10" in out[0]


def test_an_old_journal_is_not_migrated_by_verify(capsys, tmp_path):
    path = tmp_path / "old.sqlite"
    make_v1_journal(path, ['{"amount":500.0}'])
    before = path.read_bytes()
    code, out, _ = run(capsys, "journal", "verify", "--journal", str(path))
    assert code == 1 and "predates the hash chain" in out[0]
    assert path.read_bytes() == before
    # `cockpit journal` (printing) upgrades it, and then it verifies.
    assert run(capsys, "journal", "--journal", str(path))[0] == 0
    assert run(capsys, "journal", "verify", "--journal", str(path))[0] == 0


def test_cockpit_journal_without_an_action_still_prints(capsys, journal):
    code, out, _ = run(capsys, "journal", "--journal", str(journal), "--limit", "3")
    assert code == 0 and len(out) == 3 and out[-1].startswith("#10 ")


# ---- bad input -------------------------------------------------------------------------------


def bad(capsys, *argv: str, expected: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == []
    (line,) = err
    assert expected in line and "Traceback" not in line


def test_bad_input_is_one_line_exit_2_and_changes_nothing(capsys, tmp_path):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x00\x01 not a database at all " * 300)
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    foreign = tmp_path / "foreign.sqlite"
    with closing(sqlite3.connect(foreign)) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    newer = asyncio.run(journal_of(tmp_path / "newer.sqlite"))
    with closing(sqlite3.connect(newer)) as conn:
        conn.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
        conn.commit()
    cases = {
        garbage: "is not a SQLite database",
        empty: "is not a cockpit journal",
        foreign: "not a cockpit journal: it holds other tables (customers)",
        newer: "schema version 9, but this cockpit only knows up to 2",
    }
    for path, expected in cases.items():
        before = path.read_bytes()
        bad(capsys, "journal", "verify", "--journal", str(path), expected=expected)
        assert path.read_bytes() == before
    bad(capsys, "journal", "verify", "--journal", str(tmp_path), expected="is a directory")
    bad(capsys, "journal", "verify", "--journal", str(tmp_path / "absent.sqlite"), expected="no journal at")
    assert not (tmp_path / "absent.sqlite").exists()
    bad(capsys, "journal", "verify", "--journal", str(newer), "--anchor", "ten:abc", expected="expected ROW:HASH")
    bad(capsys, "journal", "verify", "--journal", str(newer), "--limit", "3", expected="unrecognized arguments")


def test_a_garbage_file_from_a_real_shell(tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_text("my notes")
    refused(cockpit("journal", "verify", "--journal", str(path)), "not a SQLite database")
    assert path.read_text() == "my notes"


# ---- backup ----------------------------------------------------------------------------------


def test_backup_writes_a_verified_copy(capsys, journal, tmp_path):
    dest = tmp_path / "backup.sqlite"
    code, out, err = run(capsys, "journal", "--journal", str(journal), "backup", str(dest))
    assert (code, err) == (0, [])
    assert out[0] == f"backup written: {dest} (from {journal})"
    assert out[1].startswith("intact: 10 rows checked")
    assert all_rows(dest) == all_rows(journal)
    assert run(capsys, "journal", "verify", "--journal", str(dest))[0] == 0


def test_backup_refuses_an_existing_destination_and_bad_sources(capsys, journal, tmp_path):
    dest = tmp_path / "backup.sqlite"
    dest.write_text("keep me")
    bad(capsys, "journal", "--journal", str(journal), "backup", str(dest), expected="already exists")
    assert dest.read_text() == "keep me"
    fresh = tmp_path / "fresh.sqlite"
    bad(capsys, "journal", "--journal", str(tmp_path / "absent.sqlite"), "backup", str(fresh), expected="no journal at")
    bad(capsys, "journal", "--journal", str(dest), "backup", str(fresh), expected="not a SQLite database")
    assert not fresh.exists()
    bad(capsys, "journal", "--journal", str(journal), "backup", expected="DEST")


def test_a_backup_of_a_broken_journal_exits_1(capsys, journal, tmp_path):
    tamper(journal, "DELETE FROM entries WHERE seq = 2")
    code, out, _ = run(capsys, "journal", "--journal", str(journal), "backup", str(tmp_path / "b.sqlite"))
    assert code == 1 and out[1].startswith("BROKEN at row #3")
