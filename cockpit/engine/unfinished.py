"""Decisions a previous run left unfinished, settled in the journal at start.

A run that stops (or is killed) can leave two things behind that no restart carries on:

- a proposal nobody decided on: it was only ever in that run's memory, so it lapses. A decision
  row says so (expire, key null), so the journal never shows a proposal as still waiting.
- an approval whose orders were never journaled: the process died between the approve row and
  the intents. Its pre-trade checks belonged to that moment, so it is not carried out now;
  a note on the proposal says nothing was sent and the trader decides again on a fresh proposal.

Approvals whose intents were journaled are the reconciliation's business (reconcile.py): they are
resolved by querying, or sent once while fresh.
"""

from __future__ import annotations

from cockpit.journal.store import Journal

SETTLED = {"approve", "veto", "expire"}  # an "edit" leaves the proposal pending
CARRIED_OUT = {"order", "denied", "reserve", "note"}  # what follows an approval that was acted on


async def settle_unfinished(journal: Journal, account: str) -> list[str]:
    """Journals an expire decision for every proposal of `account` that has none, and a note for
    every approval that was neither carried out, refused nor reported; returns the notes, one
    line each, for the screen."""
    rows = await journal.entries(kinds=["proposal", "decision", *sorted(CARRIED_OUT)], account=account)
    decided = {r.proposal_id for r in rows if r.kind == "decision" and r.payload.get("decision") in SETTLED}
    for row in rows:
        if row.kind == "proposal" and row.proposal_id not in decided:
            await journal.append(
                "decision", {"decision": "expire", "key": None,
                             "note": "lapsed: the cockpit stopped before anyone decided (found at restart)"},
                account=account, proposal_id=row.proposal_id,
            )
    acted_after: dict[str, int] = {}  # proposal id -> seq of the last row acting on it
    for row in rows:
        if row.kind in CARRIED_OUT and row.proposal_id:
            acted_after[row.proposal_id] = row.seq
    notes = []
    for row in rows:
        if row.kind != "decision" or row.payload.get("decision") != "approve":
            continue
        if acted_after.get(str(row.proposal_id), 0) > row.seq:
            continue
        text = (f"{row.proposal_id} was approved (key {row.payload.get('key')!r}) but the cockpit stopped before "
                "journaling its orders: nothing was sent, and it is not carried out after the restart; "
                "approve a fresh proposal if you still want it")
        await journal.append("note", {"text": text}, account=account, proposal_id=row.proposal_id)
        notes.append(text)
    return notes
