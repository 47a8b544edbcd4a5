"""Protocol errors name the field: unknown outcome, overlapping windows, subgroup not in the data, SMD
mixing."""

from __future__ import annotations

import pytest

from stemdm.review.protocol import ProtocolError, default_protocol_path, load_protocol


def write(tmp_path, old, new):
    text = default_protocol_path().read_text()
    assert old in text
    path = tmp_path / "p.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_default_protocol():
    protocol = load_protocol()
    assert [o.id for o in protocol.outcomes] == [
        "hba1c",
        "fbg",
        "ppbg",
        "cpep_fasting",
        "cpep_stimulated",
        "insulin_dose",
        "homa_b",
        "homa_ir",
        "responder_hba1c7_insulin50",
    ]
    assert [w.months for w in protocol.timepoints] == [3, 6, 12]
    assert protocol.model.method == "REML" and protocol.model.test == "knha"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('id = "hba1c"', 'id = "hba1cc"', "outcomes.0.id: unknown outcome 'hba1cc'"),
        (
            "hi_weeks = 18",
            "hi_weeks = 22",
            "timepoints: windows 3 months [10, 22] and 6 months [20, 34] overlap",
        ),
        ('"dose_band"]', '"dose_band", "shoe_size"]', "subgroups.variables: ['shoe_size'] not in the data"),
        ('unit = "%"', 'unit = "mg/dL"', "unit 'mg/dL' is not a unit of hba1c"),
        ('measure = "MD"', 'measure = "SMD"', "an SMD may not mix final values and change scores"),
        ("mid = 0.5 ", "mid = -1 ", "outcomes.0.mid"),
    ],
)
def test_protocol_errors(tmp_path, old, new, message):
    with pytest.raises(ProtocolError, match=None) as caught:
        load_protocol(write(tmp_path, old, new))
    assert message in str(caught.value)


def test_unreadable_protocol(tmp_path):
    with pytest.raises(ProtocolError, match="no such protocol file"):
        load_protocol(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("title = [")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol(bad)
