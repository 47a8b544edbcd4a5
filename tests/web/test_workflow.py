"""Double extraction end to end below the pages (issue 11): two writers at once lose nothing, and what is
reconciled is what ``stemdm review run`` analyses."""

from __future__ import annotations

import threading

import pytest

from stemdm.review.protocol import load_protocol
from stemdm.review.run import run_review
from stemdm.web import accounts
from stemdm.web import extraction as ex

RECORD = {
    "trial_id": "Zang2022", "outcome_id": "hba1c", "timepoint_weeks": 24, "timepoint_label": "24 weeks",
    "n": 40, "value_type": "final", "statistic": "mean_sd", "sd": 1.0, "unit": "%",
    "source_url": "https://example.org/fulltext", "locator": "Table 2",
}  # fmt: skip


def _at_once(*calls):
    """Run the calls in threads released together; each result or exception, in order."""
    barrier = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            out[i] = call()
        except Exception as error:  # the outcome under test
            out[i] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_writers_at_once_lose_nothing(app):
    engine, store = app.state.engine, app.state.store
    alice, bob = (accounts.find_user(engine, n) for n in ("alice", "bob"))
    first = _at_once(
        lambda: ex.save(engine, store, alice, RECORD | {"arm_id": "msc", "mean": 7.9}),
        lambda: ex.save(engine, store, bob, RECORD | {"arm_id": "msc", "mean": 7.6}),
    )
    assert all(isinstance(r, ex.Extraction) for r in first), first  # both reviewers' entries kept
    assert {e.record["mean"] for e in ex.slot_entries(engine, first[0].slot)} == {7.9, 7.6}
    # the same reviewer saving twice from the same page version: one save wins, the other is told
    edits = _at_once(
        lambda: ex.save(engine, store, alice, RECORD | {"arm_id": "msc", "mean": 7.8}, expected_version=1),
        lambda: ex.save(engine, store, alice, RECORD | {"arm_id": "msc", "mean": 7.7}, expected_version=1),
    )
    assert sum(isinstance(r, ex.Extraction) for r in edits) == 1
    assert sum(isinstance(r, ex.StaleError) for r in edits) == 1
    winner = next(r for r in edits if isinstance(r, ex.Extraction))
    assert winner.version == 2 and ex.get(engine, winner.id, alice).record["mean"] == winner.record["mean"]
    # an extractor cannot settle her own disagreement (consensus or a third person)
    with pytest.raises(ex.SelfReconcileError):
        ex.reconcile(engine, store, alice, first[0].slot, chosen_id=first[0].id)
    # two reconcilers at once: one is accepted, the other refused with a message
    ada = accounts.find_user(engine, "ada")
    carol = accounts.add_user(engine, "carol", "reviewer", "saffron glacier tortoise 19")
    settled = _at_once(
        lambda: ex.reconcile(engine, store, ada, first[0].slot, chosen_id=first[0].id),
        lambda: ex.reconcile(engine, store, carol, first[0].slot, chosen_id=first[1].id),
    )
    assert sum(isinstance(r, ex.StaleError) for r in settled) == 1, settled
    assert sum(not isinstance(r, Exception) for r in settled) == 1


def test_reconciled_values_are_what_the_review_analyses(app):
    engine, store = app.state.engine, app.state.store
    alice, bob, ada = (accounts.find_user(engine, n) for n in ("alice", "bob", "ada"))
    slots = []
    for arm, mean in (("msc", 7.7), ("control", 8.3)):
        a = ex.save(engine, store, alice, RECORD | {"arm_id": arm, "mean": mean})
        b = ex.save(engine, store, bob, RECORD | {"arm_id": arm, "mean": mean + 0.1})
        ex.reconcile(engine, store, ada, a.slot, chosen_id=a.id)
        slots.append((a.slot, b.id))
    review = run_review(store.load(), load_protocol())
    for slot, _ in slots:
        assert slot in review.sources, slot
    used = {key: record for key, record in review.sources.items() if key in dict(slots)}
    assert sorted(r.mean for r in used.values()) == [7.7, 8.3]  # the accepted values, not bob's
    with pytest.raises(ex.StaleError):  # a reconciled slot takes no new extraction
        ex.save(engine, store, bob, RECORD | {"arm_id": "msc", "mean": 9.9}, expected_version=1)
