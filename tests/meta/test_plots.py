"""Plots are written in each format, for every model shape, and refuse unknown extensions."""

from __future__ import annotations

import pytest

from stemdm import meta
from stemdm.meta.datasets import load_dataset

HEADERS = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}


@pytest.fixture(scope="module")
def bcg():
    return load_dataset("bcg")


@pytest.mark.parametrize("suffix", list(HEADERS))
def test_forest_funnel_baujat_in_every_format(bcg, tmp_path, suffix):
    result = meta.fit(bcg, measure="RR", test="knha")
    for plot in (meta.forest_plot, meta.funnel_plot, meta.baujat_plot):
        path = plot(result, tmp_path / f"{plot.__name__}{suffix}")
        assert path.read_bytes().startswith(HEADERS[suffix])


def test_forest_with_subgroups_shows_their_rows(bcg, tmp_path):
    result = meta.fit(bcg, measure="RR", by="alloc", test="knha")
    svg = meta.forest_plot(result, tmp_path / "forest.svg").read_text()
    for text in ("Subtotal (random)", "Test for subgroup differences", "Prediction interval", "Favours"):
        assert text in svg


def test_forest_continuous_mantel_haenszel_and_single_study(tmp_path):
    normand = load_dataset("normand1999")
    meta.forest_plot(meta.fit(normand, measure="MD"), tmp_path / "md.png")
    bcg = load_dataset("bcg")
    meta.forest_plot(meta.fit(bcg, measure="OR", method="MH"), tmp_path / "mh.png")
    meta.forest_plot(meta.fit(bcg.iloc[:1], measure="RR"), tmp_path / "one.png")


def test_funnel_with_trim_and_fill(bcg, tmp_path):
    result = meta.fit(bcg, measure="RR")
    filled = meta.trim_and_fill(result)
    assert meta.funnel_plot(result, tmp_path / "funnel.png", filled=filled).exists()


def test_unknown_extension(bcg, tmp_path):
    with pytest.raises(meta.MetaInputError):
        meta.forest_plot(meta.fit(bcg, measure="RR"), tmp_path / "forest.jpg")


def test_meta_regression_is_not_drawn_as_a_pooled_effect(bcg, tmp_path):
    result = meta.fit(bcg, measure="RR", mods=["ablat"])
    for plot in (meta.forest_plot, meta.funnel_plot):
        with pytest.raises(meta.MetaInputError, match="intercept"):
            plot(result, tmp_path / "x.png")


@pytest.mark.parametrize("measure", ["RR", "OR", "RD"])
def test_labbe_and_radial_plots(bcg, tmp_path, measure):
    result = meta.fit(bcg, measure=measure)
    assert meta.labbe_plot(result, tmp_path / "labbe.svg").read_text().startswith("<?xml")
    assert meta.radial_plot(result, tmp_path / "radial.png").read_bytes().startswith(HEADERS[".png"])


def test_labbe_needs_counts(tmp_path):
    normand = load_dataset("normand1999")
    with pytest.raises(meta.MetaInputError, match="2x2"):
        meta.labbe_plot(meta.fit(normand, measure="MD"), tmp_path / "labbe.png")


def test_effect_header_as_revman_writes_it(bcg):
    from stemdm.meta.plots import effect_header

    assert effect_header(meta.fit(bcg, measure="RR")) == "Risk Ratio\nIV, Random, 95% CI"
    assert effect_header(meta.fit(bcg, measure="OR", method="MH")) == "Odds Ratio\nM-H, Fixed, 95% CI"
    assert (
        effect_header(meta.fit(bcg, measure="OR", method="PETO", level=90))
        == "Odds Ratio\nPeto, Fixed, 90% CI"
    )
