"""Files round-trip any valid record (hypothesis): floats, quotes, commas, newlines, non-ASCII.

CSV and JSON are exact; Excel files hold 16 significant digits (openpyxl writes '%.16g'), so a 17-digit float
comes back within one part in 1e15 (every number in the bundled data has far fewer digits and round-trips
exactly)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.evidence.helpers import MEASUREMENT

from stemdm.evidence.formats import EvidenceBundle, read_any, write_any
from stemdm.evidence.records import Measurement

text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and s != ""
)
# HbA1c (%) within its plausible range (stemdm.evidence.plausibility): any float there, at full precision
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=3.0, max_value=20.0)


# deadline off: writing and reading a workbook takes a variable few hundred ms on a shared machine
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mean=finite,
    sd=st.floats(min_value=0, max_value=17.0),
    notes=text,
    label=text,
    weeks=st.floats(min_value=0, max_value=520),
)
def test_round_trip_any_measurement(tmp_path_factory, mean, sd, notes, label, weeks):
    record = Measurement(
        **(
            MEASUREMENT
            | {
                "mean": mean,
                "sd": sd,
                "notes": notes,
                "timepoint_label": label,
                "timepoint_weeks": weeks,
                "flags": ["pm_unlabelled", "derived"][:1],
            }
        )
    )
    bundle = EvidenceBundle()
    bundle.add(record)
    for fmt in ("csv", "json", "xlsx"):
        base = tmp_path_factory.mktemp(fmt)
        path = base / ("out" if fmt == "csv" else f"out.{fmt}")
        write_any(bundle, path, fmt)
        back, problems = read_any(path)
        assert problems == []
        (got,) = [r.model_dump() for r in back["measurements"]]
        expected = record.model_dump()
        if fmt == "xlsx":
            for name, value in expected.items():
                if isinstance(value, float):
                    assert math.isclose(got[name], value, rel_tol=1e-15, abs_tol=1e-300), name
                    got[name] = value
        assert got == expected
