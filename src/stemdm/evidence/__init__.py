"""stemdm.evidence: trial records with units and provenance, extraction conversions, the bundled curated
dataset of stem-cell RCTs in diabetes, and a store (SQLite by default, PostgreSQL when shared).

Typical use::

    from stemdm.evidence import Store
    store = Store.open()            # STEMDM_DB or the per-user SQLite file; bundled data on first use
    evidence = store.load()         # EvidenceBundle: trials, arms, measurements, adverse_events, ...
"""

from stemdm.evidence.bundled import bundled_caveats, load_bundled
from stemdm.evidence.coverage import CoverageCell, coverage
from stemdm.evidence.errors import ConversionError, EvidenceError, Problem
from stemdm.evidence.formats import EvidenceBundle, read_any, write_any
from stemdm.evidence.records import AdverseEvent, Arm, Measurement, PublishedEstimate, Trial
from stemdm.evidence.store import ImportReport, Store
from stemdm.evidence.validate import check_bundle, overlap_groups
from stemdm.evidence.windows import DEFAULT_WINDOWS, TimeWindow, map_timepoint

__all__ = [
    "AdverseEvent",
    "Arm",
    "ConversionError",
    "CoverageCell",
    "DEFAULT_WINDOWS",
    "EvidenceBundle",
    "EvidenceError",
    "ImportReport",
    "Measurement",
    "Problem",
    "PublishedEstimate",
    "Store",
    "TimeWindow",
    "Trial",
    "bundled_caveats",
    "check_bundle",
    "coverage",
    "load_bundled",
    "map_timepoint",
    "overlap_groups",
    "read_any",
    "write_any",
]
