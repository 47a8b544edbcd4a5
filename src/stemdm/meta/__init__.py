"""stemdm.meta: a meta-analysis engine whose numbers agree with R's metafor.

Public API::

    from stemdm import meta
    res = meta.fit(df, measure="RR", method="REML", test="knha")
    res.to_dict(); res.summary()
    meta.egger_test(res); meta.begg_test(res); meta.trim_and_fill(res)
    meta.leave_one_out(res); meta.cumulative(res); meta.influence(res); meta.baujat(res)
    meta.fit_batch(yi, vi, method="REML", test="knha")
    meta.fit(df, mods=["ablat"], weights="n")          # user weights (metafor's weights=)
    res.to_dict()["se_tau2"]; meta.tau2_profile_ci(res); meta.blup(res)
    meta.predict(res, {"ablat": [10, 30]})
    post = meta.bayes(df, measure="OR", tau_prior="halfnormal(0.5)", mu_prior="normal(0,4)")
    post.to_dict(); post.summary(); post.prob_beyond(0.0, "below")
    meta.forest_plot(res, "forest.png"); meta.funnel_plot(res, "funnel.svg"); meta.baujat_plot(...)
"""

from stemdm.meta.api import fit
from stemdm.meta.batch import fit_batch
from stemdm.meta.bayes import BayesResult, bayes
from stemdm.meta.bias import begg_test, egger_test, fail_safe_n, pet_peese, trim_and_fill
from stemdm.meta.effects import MEASURES, compute_effects
from stemdm.meta.errors import ConvergenceError, MetaInputError
from stemdm.meta.model import MetaResult
from stemdm.meta.permutation import permutation_test
from stemdm.meta.plots import baujat_plot, forest_plot, funnel_plot, labbe_plot, radial_plot
from stemdm.meta.postfit import blup, predict, tau2_profile_ci
from stemdm.meta.sensitivity import baujat, cumulative, influence, leave_one_out

__all__ = [
    "MEASURES",
    "BayesResult",
    "bayes",
    "ConvergenceError",
    "MetaInputError",
    "MetaResult",
    "baujat",
    "blup",
    "predict",
    "tau2_profile_ci",
    "baujat_plot",
    "begg_test",
    "compute_effects",
    "cumulative",
    "egger_test",
    "fail_safe_n",
    "fit",
    "fit_batch",
    "forest_plot",
    "funnel_plot",
    "influence",
    "labbe_plot",
    "leave_one_out",
    "permutation_test",
    "radial_plot",
    "pet_peese",
    "trim_and_fill",
]
