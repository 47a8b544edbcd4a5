"""Double extraction: two reviewers enter the same number independently, a reconciler settles any
disagreement, and only the reconciled value enters the evidence base.

- An extraction is one measurement record as a reviewer read it from a full text. Its *slot* is the
  measurement's natural key (trial, outcome, time, arm, value type, unit, derived): two reviewers' entries of
  the same slot are compared field by field.
- Blinding: a reviewer sees only their own extraction of a slot until two reviewers have entered it.
- Validation is the evidence import's own (record model + ``check_bundle`` against the store): one validator
  for the CLI, the API and the forms.
- Saving twice from stale pages is refused (optimistic concurrency on ``version``): nothing is overwritten
  unseen. A reconciled slot is imported into the evidence store (its audit trail names the reconciler and the
  extractions); every change made here is in ``web_audit`` with who, when, before and after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from stemdm.evidence.derive import in_unit, to_mean_sd
from stemdm.evidence.errors import ConversionError, EvidenceError, Problem, validation_problems
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Measurement
from stemdm.evidence.store import Store, write_transaction
from stemdm.evidence.validate import check_bundle
from stemdm.web.accounts import User
from stemdm.web.tables import extractions, reconciliations, users, web_audit

#: fields compared between two extractions (everything but provenance of the entry itself)
COMPARED = tuple(name for name in Measurement.model_fields if name not in ("trial_id",))


class ExtractionError(ValueError):
    """Invalid input: the problems, each naming its field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class StaleError(ValueError):
    """A save based on a version someone else has changed since."""


class BlindedError(PermissionError):
    """Another reviewer's extraction of a slot not yet entered twice."""


@dataclass(frozen=True)
class Extraction:
    id: int
    trial_id: str
    slot: str
    reviewer: str
    reviewer_id: int
    record: dict[str, Any]
    conversions: list[dict[str, Any]]
    version: int
    updated_at: datetime


def validate(store: Store, data: dict[str, Any]) -> Measurement:
    """A measurement record from form or API fields, checked exactly as an import would check it."""
    cleaned = {k: v for k, v in data.items() if v not in (None, "") and k in Measurement.model_fields}
    key = "/".join(str(cleaned.get(k, "?")) for k in ("trial_id", "outcome_id", "timepoint_weeks", "arm_id"))
    unknown = sorted(set(data) - set(Measurement.model_fields) - {"version", "csrf_token", "convert_to"})
    if unknown:
        raise ExtractionError(
            [Problem("measurements", None, key, name, None, "not a measurement field") for name in unknown]
        )
    try:
        record = Measurement.model_validate(cleaned)
    except ValidationError as error:
        raise ExtractionError(validation_problems("measurements", None, key, error)) from None
    bundle = EvidenceBundle()
    bundle.add(record)
    problems = [p for p in check_bundle(bundle, store.snapshot()) if p.severity == "error"]
    if problems:
        raise ExtractionError(problems)
    return record


def conversions(record: Measurement, convert_to: str | None, n_fallback: int | None) -> list[dict[str, Any]]:
    """The conversions offered on the form, each with its steps (Cochrane Handbook 6.5.2 SD from SE / CI;
    Luo 2018 / Shi 2020 mean and SD from median and quartiles; unit factors from ``evidence.units``)."""
    out = []
    try:
        mean_sd = to_mean_sd(
            record, pm_as="sd" if record.statistic == "mean_pm" else None, n_fallback=n_fallback
        )
    except ConversionError as error:
        return [{"what": "mean and SD", "error": str(error)}]
    if mean_sd is not record:
        out.append({"what": "mean and SD", "record": mean_sd.model_dump(mode="json")})
    if convert_to and convert_to != record.unit:
        try:
            converted = in_unit(mean_sd, convert_to)
            out.append({"what": f"in {convert_to}", "record": converted.model_dump(mode="json")})
        except (ConversionError, ValueError) as error:
            out.append({"what": f"in {convert_to}", "error": str(error)})
    return out


def save(
    engine: Engine, store: Store, user: User, data: dict[str, Any], expected_version: int | None = None,
    convert_to: str | None = None,
) -> Extraction:  # fmt: skip
    """Create the reviewer's extraction of a slot, or update it when ``expected_version`` is the stored
    version (else :class:`StaleError`). Returns the saved extraction."""
    record = validate(store, data)
    slot = record.natural_key()
    n_fallback = _randomized_n(store, record)
    converted = conversions(record, convert_to, n_fallback)
    now = datetime.now(UTC)
    payload = json.dumps(record.model_dump(mode="json"), sort_keys=True)
    with write_transaction(engine) as connection:
        if _reconciled(connection, slot):
            raise StaleError(f"{slot}: already reconciled; the accepted value is in the evidence base")
        row = connection.execute(
            select(extractions).where(extractions.c.slot == slot, extractions.c.reviewer_id == user.id)
        ).mappings().first()  # fmt: skip
        if row is None:
            if expected_version not in (None, 0):
                raise StaleError(f"{slot}: your extraction no longer exists; reload the page")
            try:
                new_id = connection.execute(
                    insert(extractions).values(
                        trial_id=record.trial_id, slot=slot, reviewer_id=user.id, record=payload,
                        conversions=json.dumps(converted), version=1, created_at=now, updated_at=now,
                    )
                ).inserted_primary_key[0]  # fmt: skip
            except IntegrityError:  # the same reviewer saved the same slot at the same moment elsewhere
                raise StaleError(f"{slot}: saved meanwhile from another page; reload and check") from None
            _audit(connection, now, user.name, "extract", "extraction", str(new_id), None, None, payload)
            return _get(connection, new_id)
        if expected_version != row["version"]:
            raise StaleError(
                f"{slot}: your extraction changed since this page was loaded (version {row['version']}, "
                f"page had {expected_version}); reload it, nothing was overwritten"
            )
        changed = connection.execute(
            update(extractions)
            .where(extractions.c.id == row["id"], extractions.c.version == row["version"])
            .values(
                record=payload, conversions=json.dumps(converted), version=row["version"] + 1, updated_at=now
            )
        ).rowcount
        if changed != 1:
            raise StaleError(f"{slot}: saved meanwhile from another page; reload and check")
        before = json.loads(row["record"])
        # an edit after the other reviewer's entry unblinded the slot is marked as such (it may be a copy)
        action = "edit_after_unblinding" if _count(connection, slot) >= 2 else "edit"
        for name, value in record.model_dump(mode="json").items():
            if before.get(name) != value:
                _audit(connection, now, user.name, action, "extraction", str(row["id"]), name,
                       json.dumps(before.get(name)), json.dumps(value))  # fmt: skip
        return _get(connection, row["id"])


def get(engine: Engine, extraction_id: int, viewer: User) -> Extraction:
    """One extraction, if ``viewer`` may see it (its author; anyone once the slot has two extractions)."""
    with engine.connect() as connection:
        found = _get(connection, extraction_id)
        if found.reviewer != viewer.name and _count(connection, found.slot) < 2:
            raise BlindedError("blinded until a second reviewer has entered this number")
        return found


def for_trial(engine: Engine, trial_id: str, viewer: User) -> list[Extraction]:
    """The extractions of a trial that ``viewer`` may see."""
    with engine.connect() as connection:
        ids = connection.execute(
            select(extractions.c.id).where(extractions.c.trial_id == trial_id).order_by(extractions.c.id)
        ).scalars()
        found = [_get(connection, i) for i in ids]
        counts = {e.slot: _count(connection, e.slot) for e in found}
    return [e for e in found if e.reviewer == viewer.name or counts[e.slot] >= 2]


def disagreements(engine: Engine) -> list[dict[str, Any]]:
    """Every slot entered by two or more reviewers and not yet reconciled, with the fields they differ on
    (an empty list of differences: they agree, and the slot only awaits acceptance)."""
    with engine.connect() as connection:
        slots = connection.execute(
            select(extractions.c.slot, extractions.c.trial_id)
            .group_by(extractions.c.slot, extractions.c.trial_id)
            .having(func.count() >= 2)
            .order_by(extractions.c.trial_id, extractions.c.slot)
        ).all()
        out = []
        for slot, trial_id in slots:
            if _reconciled(connection, slot):
                continue
            entries = _slot_entries(connection, slot)
            out.append(
                {"slot": slot, "trial_id": trial_id, "extractions": entries, "fields": _differences(entries)}
            )
    return out


def slot_entries(engine: Engine, slot: str) -> list[Extraction]:
    with engine.connect() as connection:
        return _slot_entries(connection, slot)


def reconcile(
    engine: Engine, store: Store, user: User, slot: str, chosen_id: int | None = None,
    third: dict[str, Any] | None = None, versions: dict[int, int] | None = None,
) -> int | None:  # fmt: skip
    """Accept one extraction of ``slot`` (``chosen_id``) or a third value (``third``, validated as any
    extraction) and import it into the evidence store; returns the import id (None when the store already
    held exactly this record).

    - ``versions``: the version of each extraction as the reconciler's page showed it; if any changed since
      (an extractor edited), :class:`StaleError` and nothing is done: no value enters unseen.
    - A reviewer who extracted the slot cannot settle it (Cochrane Handbook v6.4 section 5.6: disagreements
      are resolved by consensus or by a third person): :class:`SelfReconcileError`.
    - The claim on the slot and the import are one transaction under the write lock: a crash anywhere leaves
      both or neither, never a claimed slot whose value is missing from the evidence base."""
    if (chosen_id is None) == (third is None):
        raise ExtractionError(
            [
                Problem(
                    "measurements", None, slot, "choice", None, "accept one extraction or enter a third value"
                )
            ]
        )
    record = validate(store, third) if third is not None else None
    now = datetime.now(UTC)
    try:
        with write_transaction(engine) as connection:
            entries = _slot_entries(connection, slot)
            record = _accepted(entries, slot, user, chosen_id, record, versions)
            payload = json.dumps(record.model_dump(mode="json"), sort_keys=True)
            if _reconciled(connection, slot):
                raise StaleError(f"{slot}: already reconciled by someone else; reload the page")
            reconciliation_id = connection.execute(
                insert(reconciliations).values(
                    trial_id=record.trial_id, slot=slot, reconciler_id=user.id,
                    chosen_extraction_id=chosen_id, record=payload, import_id=None, version=1, at=now,
                )
            ).inserted_primary_key[0]  # fmt: skip
            _audit(connection, now, user.name, "reconcile", "slot", slot, None, None, payload)
            bundle = EvidenceBundle()
            bundle.add(record)
            source = f"web: reconciled by {user.name} (extractions {', '.join(str(e.id) for e in entries)})"
            report = store.import_within(connection, bundle, source)
            connection.execute(
                update(reconciliations)
                .where(reconciliations.c.id == reconciliation_id)
                .values(import_id=report.import_id)
            )
    except IntegrityError:  # a second reconciler committed the claim first
        raise StaleError(f"{slot}: already reconciled by someone else; reload the page") from None
    except EvidenceError:
        with write_transaction(engine) as connection:  # nothing was written; say that it was tried
            _audit(
                connection, datetime.now(UTC), user.name, "reconcile_failed", "slot", slot, None, None, None
            )
        raise
    return report.import_id


class SelfReconcileError(PermissionError):
    """The reconciler extracted the slot: a third person (or consensus) settles it."""


def _accepted(
    entries: list[Extraction], slot: str, user: User, chosen_id: int | None, third: Measurement | None,
    versions: dict[int, int] | None,
) -> Measurement:  # fmt: skip
    """The record a reconciliation accepts, after every check that needs the slot's current extractions."""
    if len(entries) < 2:
        raise ExtractionError(
            [Problem("measurements", None, slot, "slot", slot, "needs two extractions first")]
        )
    if any(e.reviewer_id == user.id for e in entries):
        raise SelfReconcileError(
            f"{slot}: you extracted this number; a reviewer who did not settles the disagreement "
            "(Cochrane Handbook 5.6: consensus or a third person)"
        )
    if versions is not None:
        changed = [e for e in entries if versions.get(e.id) != e.version]
        if changed:
            who = ", ".join(f"{e.reviewer} (#{e.id}: version {e.version}, page had {versions.get(e.id)})"
                            for e in changed)  # fmt: skip
            raise StaleError(
                f"{slot}: changed since your page was loaded by {who}; reload it, nothing was done"
            )
    if third is not None:
        if third.natural_key() != slot:
            raise ExtractionError(
                [Problem("measurements", None, slot, "slot", third.natural_key(),
                         "a third value must keep the slot's trial, outcome, time, arm, value type and unit")]
            )  # fmt: skip
        return third
    chosen = next((e for e in entries if e.id == chosen_id), None)
    if chosen is None:
        raise ExtractionError(
            [Problem("measurements", None, slot, "choice", chosen_id, "not an extraction of this slot")]
        )
    return Measurement.model_validate(chosen.record)


def repair_stranded_claims(engine: Engine, store: Store) -> list[str]:
    """Reconciliations claimed by an earlier stemdm (claim and import were two transactions) whose value never
    reached the evidence base: the claim is removed, so the slot is back on the disagreements page, and the
    repair is audited. Returns the slots freed. Run when the workbench starts."""
    freed = []
    with write_transaction(engine) as connection:
        pending = connection.execute(
            select(reconciliations).where(reconciliations.c.import_id.is_(None))
        ).mappings().all()  # fmt: skip
        if not pending:
            return freed
        held = {m.natural_key(): m.model_dump(mode="json") for m in store.load(strict=False)["measurements"]}
        for claim in pending:
            if held.get(claim["slot"]) == json.loads(claim["record"]):
                continue  # the store already held this value: a claim with nothing to import is complete
            connection.execute(reconciliations.delete().where(reconciliations.c.id == claim["id"]))
            _audit(connection, datetime.now(UTC), "stemdm", "reconcile_repaired", "slot", claim["slot"], None,
                   claim["record"], None)  # fmt: skip
            freed.append(claim["slot"])
    return freed


def audit_rows(engine: Engine, viewer: User, limit: int = 200) -> list[dict[str, Any]]:
    """The newest ``limit`` rows of the workbench's audit trail as ``viewer`` may see them: an extraction
    of a slot not yet entered by two reviewers shows who and when only (``blinded``), unless the viewer wrote
    it; the same holds for its edits."""
    with engine.connect() as connection:
        rows = [
            dict(r)
            for r in connection.execute(
                select(web_audit).order_by(web_audit.c.id.desc()).limit(limit)
            ).mappings()
        ]
        ids = {
            int(r["object_id"]) for r in rows if r["object_type"] == "extraction" and r["object_id"].isdigit()
        }
        blinded = _blinded_for(connection, viewer, ids)
    for row in rows:
        row["blinded"] = row["object_type"] == "extraction" and row["object_id"] in blinded
        if row["blinded"]:
            row["field"] = row["before"] = row["after"] = None
    return rows


def _blinded_for(connection: Connection, viewer: User, extraction_ids: set[int]) -> set[str]:
    """The ids (as text) of the extractions ``viewer`` did not write whose slot is still blinded."""
    if not extraction_ids:
        return set()
    found = connection.execute(
        select(extractions.c.id, extractions.c.slot, extractions.c.reviewer_id).where(
            extractions.c.id.in_(extraction_ids)
        )
    ).all()
    counts = {slot: _count(connection, slot) for slot in {row.slot for row in found}}
    return {str(row.id) for row in found if row.reviewer_id != viewer.id and counts[row.slot] < 2}


# -- helpers ------------------------------------------------------------------------


def _randomized_n(store: Store, record: Measurement) -> int | None:
    arm = next((a for a in store.snapshot()["arms"]
                if (a.trial_id, a.arm_id) == (record.trial_id, record.arm_id)), None)  # fmt: skip
    return None if arm is None else arm.n_randomized


def _get(connection: Connection, extraction_id: int) -> Extraction:
    row = connection.execute(
        select(extractions, users.c.name.label("reviewer"))
        .join(users, users.c.id == extractions.c.reviewer_id)
        .where(extractions.c.id == extraction_id)
    ).mappings().first()  # fmt: skip
    if row is None:
        raise LookupError(f"no extraction {extraction_id}")
    return Extraction(
        row["id"], row["trial_id"], row["slot"], row["reviewer"], row["reviewer_id"],
        json.loads(row["record"]),
        json.loads(row["conversions"] or "[]"), row["version"], row["updated_at"],
    )  # fmt: skip


def _slot_entries(connection: Connection, slot: str) -> list[Extraction]:
    ids = connection.execute(
        select(extractions.c.id).where(extractions.c.slot == slot).order_by(extractions.c.id)
    ).scalars()
    return [_get(connection, i) for i in ids]


def _count(connection: Connection, slot: str) -> int:
    return connection.execute(select(func.count()).where(extractions.c.slot == slot)).scalar_one()


def _reconciled(connection: Connection, slot: str) -> bool:
    return connection.execute(select(func.count()).where(reconciliations.c.slot == slot)).scalar_one() > 0


def _differences(entries: list[Extraction]) -> list[dict[str, Any]]:
    out = []
    for name in COMPARED:
        values = [e.record.get(name) for e in entries]
        if any(v != values[0] for v in values[1:]):
            out.append({"field": name, "values": {e.reviewer: e.record.get(name) for e in entries}})
    return out


def _audit(connection: Connection, at, user: str, action: str, kind: str, object_id: str, field: str | None,
           before: str | None, after: str | None) -> None:  # fmt: skip
    connection.execute(
        insert(web_audit).values(
            at=at,
            user_name=user,
            action=action,
            object_type=kind,
            object_id=object_id,
            field=field,
            before=before,
            after=after,
        )
    )
