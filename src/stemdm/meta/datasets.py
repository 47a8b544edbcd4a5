"""Bundled classic datasets (see data/SOURCES.md for their sources)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

DATASETS = {
    "bcg": "BCG vaccine trials, Colditz et al. 1994 (binary: ai n1i ci n2i)",
    "normand1999": "Length of stay after stroke, Normand 1999 (continuous: m1i sd1i n1i m2i sd2i n2i)",
}


def load_dataset(name: str) -> pd.DataFrame:
    """A bundled dataset by name (one of ``DATASETS``)."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)}")
    with resources.files("stemdm.meta").joinpath(f"data/{name}.csv").open() as handle:
        return pd.read_csv(handle)
