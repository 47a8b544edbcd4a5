"""Bayesian calibration of the simulator (``stemdm calibrate --bayes``): priors with their sources, an
emulator of the simulated targets, MCMC on the emulator, and posterior draws shipped in
``data/posterior.json``.

Why an emulator: one simulated Zang-like trial costs about a second, MCMC needs tens of thousands of
likelihood evaluations. The simulator is run on a Latin-hypercube design over the priors (each parameter
through its prior CDF, so the design covers what the prior allows); a quadratic polynomial per target is
fitted to those runs (a second-order polynomial-chaos-like surrogate); its leave-one-out error (from the hat
matrix) is added to each target's variance, so an imperfect emulator widens the posterior instead of narrowing
it. emcee's affine-invariant ensemble sampler (Foreman-Mackey et al. 2013) then samples the posterior on the
unit cube of prior CDFs (the prior is uniform there).

Trials and targets: ``stemdm.sim.evidence_trials`` (in the likelihood: Zang 2022, the liraglutide +
UC-MSC trial, Bhansali 2017; held out: Cai 2016, a T1DM trial the model cannot reach, and Zang 2023, Bhansali
2014 and the pooled reviews, which overlap the trials and would count them twice). Held-out numbers get
posterior predictive intervals (parameters, emulator error and the source's own sampling error) as
out-of-sample checks. Every target SE that was assumed stays assumed (``calibrate.py`` says which).

What the data identify is reported per parameter: prior and posterior 95 % intervals, their width ratio, and
whether posterior mass piles up at an edge of the prior's support (a parameter the data push against a bound).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from scipy.stats import qmc

from stemdm.sim.evidence_trials import CalibrationTrial, TrialTarget, calibration_trials
from stemdm.sim.parameters import Parameters, chosen_posterior_file, default_parameters


@dataclass(frozen=True)
class Prior:
    """A prior on one parameter: a scipy distribution truncated to [lower, upper], with its source."""

    block: str
    name: str
    kind: str  # uniform | loguniform | lognormal | normal
    a: float
    b: float
    lower: float
    upper: float
    source: str

    def _dist(self):
        if self.kind == "uniform":
            return stats.uniform(self.a, self.b - self.a)
        if self.kind == "loguniform":
            return stats.loguniform(self.a, self.b)
        if self.kind == "lognormal":  # a = median, b = SD of log
            return stats.lognorm(s=self.b, scale=self.a)
        return stats.norm(self.a, self.b)

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Prior-CDF coordinates of parameter values (inverse of ``from_unit``)."""
        dist = self._dist()
        lo, hi = dist.cdf(self.lower), dist.cdf(self.upper)
        return (dist.cdf(x) - lo) / (hi - lo)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Parameter values from prior-CDF coordinates u in [0, 1] (truncated inverse CDF)."""
        dist = self._dist()
        lo, hi = dist.cdf(self.lower), dist.cdf(self.upper)
        return dist.ppf(lo + np.clip(u, 0, 1) * (hi - lo))

    def describe(self) -> str:
        shape = {
            "uniform": "uniform({a:g}, {b:g})",
            "loguniform": "log-uniform({a:g}, {b:g})",
            "lognormal": "log-normal(median {a:g}, SD of log {b:g})",
            "normal": "normal({a:g}, {b:g})",
        }
        support = f" on [{self.lower:g}, {self.upper:g}]"
        return shape[self.kind].format(a=self.a, b=self.b) + support


PRIORS: tuple[Prior, ...] = (
    Prior(
        "placebo", "e_sens", "uniform", 0.0, 0.3, 0.0, 0.3,
        "ASSUMPTION: trial participation raises insulin sensitivity by 0-30 %; Zang 2022's placebo clamp GIR "
        "rose 10 % (3.26 -> 3.60 mg/kg/min), a target, so the data decide within it",
    ),
    Prior(
        "placebo", "e_diet", "uniform", 0.0, 0.5, 0.0, 0.5,
        "ASSUMPTION: dietary counselling and closer care lower meal carbohydrate by 0-50 % (the placebo "
        "mechanism besides insulin use that a trial plausibly moves; intensive counselling can halve it)",
    ),
    Prior(
        "placebo", "dose_reduction", "uniform", 0.0, 0.4, 0.0, 0.4,
        "ASSUMPTION: closer care lowers the insulin actually taken by 0-40 % (Zang 2022 placebo: -15.6 %)",
    ),
    Prior(
        "therapy", "e_sens", "uniform", 0.0, 0.7, 0.0, 0.7,
        "MSC raise insulin sensitivity by 0-70 % at full signal: Zang 2022's MSC clamp GIR rose 53 % "
        "(x1.53, placebo x1.10), and the strongest insulin sensitizers raise clamp glucose disposal by tens "
        "of percent (thiazolidinediones); v2's 0-200 % let the treated arm reach x2.2 on average (issue 21)",
    ),
    Prior(
        "therapy", "signal_gain", "loguniform", 0.05, 5.0, 0.05, 5.0,
        "ASSUMPTION: effect signal per unit of cell exposure, scale-free over two decades",
    ),
    Prior(
        "therapy", "signal_half_life", "lognormal", 60.0, 0.8, 7.0, 730.0,
        "ASSUMPTION informed by biology: infused MSC are cleared within days (Eggenhofer 2012), paracrine "
        "and immune effects persist weeks to months; median 60 d, 95 % prior range about 13-290 d",
    ),
    Prior(
        "therapy", "e_regen", "uniform", 0.0, 2.0, 0.0, 2.0,
        "ASSUMPTION: MSC raise beta-cell replication by 0-200 % at full signal; no human measurement exists, "
        "so the range is wide and the data (Zang 2022's flat HOMA-B, the HbA1c and insulin changes) decide",
    ),
    Prior(
        "therapy", "response_sd_log", "uniform", 0.0, 1.5, 0.0, 1.5,
        "ASSUMPTION: between-patient SD of the log response to cells, 0 (all alike) to 1.5 (a patient 1 SD "
        "above responds 4.5x one at the mean); informed by how Zang 2022's arm SDs moved",
    ),
    Prior(
        "physiology", "deescalate_below", "normal", 110.0, 15.0, 90.0, 170.0,
        "ASSUMPTION: insulin lowered below a fasting glucose of about 110 mg/dL (trial practice)",
    ),
)  # fmt: skip


def unit_to_params(base: Parameters, u: np.ndarray) -> Parameters:
    """The parameter set at prior-CDF coordinates ``u`` (one value per prior)."""
    values = np.array([prior.from_unit(np.array([ui]))[0] for prior, ui in zip(PRIORS, u, strict=True)])
    return _with_prior_values(base, values)


def _with_prior_values(base: Parameters, values: np.ndarray) -> Parameters:
    out = base
    for prior, value in zip(PRIORS, values, strict=True):
        block = getattr(out, prior.block)
        out = dataclasses.replace(
            out, **{prior.block: dataclasses.replace(block, **{prior.name: float(value)})}
        )
    return out


def _features(z: np.ndarray) -> np.ndarray:
    """Quadratic polynomial features of standardized coordinates z in [-1, 1]^d: 1, z_i, z_i z_j (i <= j)."""
    n, d = z.shape
    columns = [np.ones(n)] + [z[:, i] for i in range(d)]
    columns += [z[:, i] * z[:, j] for i in range(d) for j in range(i, d)]
    return np.column_stack(columns)


@dataclass
class Emulator:
    """Per-target quadratic surrogate of the simulator on the unit cube, with leave-one-out errors."""

    coef: np.ndarray  # (features, targets)
    loo_sd: np.ndarray  # (targets,) root mean square leave-one-out error
    r2: np.ndarray  # (targets,) leave-one-out R^2

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return _features(2 * np.atleast_2d(u) - 1) @ self.coef

    @classmethod
    def fit(cls, u: np.ndarray, y: np.ndarray) -> Emulator:
        X = _features(2 * u - 1)
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        hat = np.einsum("ij,ji->i", X, np.linalg.pinv(X))
        loo = (y - X @ coef) / np.maximum(1 - hat, 1e-6)[:, None]
        loo_sd = np.sqrt(np.mean(loo**2, axis=0))
        r2 = 1 - np.mean(loo**2, axis=0) / np.maximum(np.var(y, axis=0), 1e-300)
        return cls(coef, loo_sd, r2)


def design_runs(
    trials: tuple[CalibrationTrial, ...], n_design: int, patients: int, seed: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Latin-hypercube points on the unit cube and, at each, every trial's simulated targets (in the order of
    ``all_targets(trials)``, held-out ones included)."""
    u = qmc.LatinHypercube(d=len(PRIORS), seed=seed).random(n_design)
    base = default_parameters()
    designs = [trial.design(patients, seed) for trial in trials]
    y = []
    for point in u:
        params = unit_to_params(base, point)
        y.append(np.concatenate([t.simulate(params, d) for t, d in zip(trials, designs, strict=True)]))
        if progress is not None:
            progress(1)
    return u, np.array(y)


def all_targets(trials: tuple[CalibrationTrial, ...]) -> list[TrialTarget]:
    return [target for trial in trials for target in trial.targets]


def sample_posterior(
    emulator: Emulator, observed: np.ndarray, se: np.ndarray, used: np.ndarray, seed: int,
    walkers: int = 32, steps: int = 3000, burn: int = 1000,
) -> np.ndarray:  # fmt: skip
    """emcee on the unit cube (uniform prior there): Gaussian likelihood of the used targets with variance
    SE^2 + emulator LOO error^2. Returns the flattened post-burn-in chain."""
    import emcee

    variance = se[used] ** 2 + emulator.loo_sd[used] ** 2

    def log_posterior(u: np.ndarray) -> float:
        if np.any(u <= 0) or np.any(u >= 1):
            return -np.inf
        residual = emulator(u)[0, used] - observed[used]
        return float(-0.5 * np.sum(residual**2 / variance))

    rng = np.random.default_rng(seed)
    start = rng.uniform(0.05, 0.95, size=(walkers, len(PRIORS)))
    sampler = emcee.EnsembleSampler(walkers, len(PRIORS), log_posterior)
    sampler.random_state = np.random.RandomState(seed).get_state()  # reproducible chains
    sampler.run_mcmc(start, steps, progress=False)
    return sampler.get_chain(discard=burn, flat=True)


def parameter_summary(chain_u: np.ndarray) -> list[dict[str, Any]]:
    """Prior and posterior per parameter: 95 % intervals, width ratio, and pile-up at a support edge."""
    out = []
    for j, prior in enumerate(PRIORS):
        post = prior.from_unit(chain_u[:, j])
        prior_q = prior.from_unit(np.array([0.025, 0.5, 0.975]))
        post_q = np.quantile(post, [0.025, 0.5, 0.975])
        ratio = (post_q[2] - post_q[0]) / (prior_q[2] - prior_q[0])
        at_edge = float(max(np.mean(chain_u[:, j] < 0.02), np.mean(chain_u[:, j] > 0.98)))
        verdict = "identified" if ratio < 0.5 else ("weakly informed" if ratio < 0.8 else "not identified")
        if at_edge > 0.1:
            verdict += f"; {at_edge:.0%} of the posterior at an edge of the prior's support"
        out.append({
            "block": prior.block, "name": prior.name, "prior": prior.describe(), "source": prior.source,
            "prior_2.5": prior_q[0], "prior_50": prior_q[1], "prior_97.5": prior_q[2],
            "post_2.5": post_q[0], "post_50": post_q[1], "post_97.5": post_q[2],
            "width_ratio": ratio, "edge_share": at_edge, "verdict": verdict,
        })  # fmt: skip
    return out


def profile_likelihood(
    emulator: Emulator, observed: np.ndarray, se: np.ndarray, used: np.ndarray, points: int = 21,
    starts: int = 3, seed: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Profile likelihood of each parameter on the emulator: at each of ``points`` values across its prior
    support, the log-likelihood maximized over the other parameters (L-BFGS-B from ``starts`` random starts);
    reported as -2 x (log-likelihood - its maximum) with the 95 % profile interval where it is <= 3.84
    (chi-square, 1 df). A profile flat across the support says the data do not inform that parameter; one
    that keeps falling toward an edge says the data push it against a bound."""
    from scipy.optimize import minimize

    variance = se[used] ** 2 + emulator.loo_sd[used] ** 2
    rng = np.random.default_rng(seed)
    d = len(PRIORS)
    grid = np.linspace(0.005, 0.995, points)

    def best(j: int, uj: float) -> float:
        free = [k for k in range(d) if k != j]

        def negative(v: np.ndarray) -> float:
            u = np.empty(d)
            u[free], u[j] = v, uj
            residual = emulator(u)[0, used] - observed[used]
            return float(0.5 * np.sum(residual**2 / variance))

        bounds = [(0.001, 0.999)] * (d - 1)
        tries = [minimize(negative, rng.uniform(0.05, 0.95, d - 1), method="L-BFGS-B", bounds=bounds)
                 for _ in range(starts)]  # fmt: skip
        return -min(t.fun for t in tries)

    out = []
    for j, prior in enumerate(PRIORS):
        loglik = np.array([best(j, uj) for uj in grid])
        deviance = -2 * (loglik - loglik.max())
        inside = grid[deviance <= 3.84]
        values = prior.from_unit(grid)
        low, high = prior.from_unit(np.array([inside.min(), inside.max()]))
        out.append({
            "block": prior.block, "name": prior.name, "values": values.tolist(),
            "deviance": deviance.tolist(),
            "interval_95": [float(low), float(high)],
            "reaches_lower_edge": bool(inside.min() <= grid[0]),
            "reaches_upper_edge": bool(inside.max() >= grid[-1]),
        })  # fmt: skip
    return out


def _predictive_checks(
    emulator: Emulator,
    chain: np.ndarray,
    goal: list[TrialTarget],
    used: np.ndarray,
    rng,
    observation_noise: bool,
) -> list[dict[str, Any]]:
    """Posterior predictive of every target: emulator + its LOO error (+ the trial's own sampling error, SE of
    the target, when ``observation_noise``: what that trial would report)."""
    pick = chain[rng.choice(len(chain), size=min(2000, len(chain)), replace=False)]
    predicted = emulator(pick)
    out = []
    for k, target in enumerate(goal):
        noise = rng.normal(0, emulator.loo_sd[k], len(pick))
        if observation_noise:
            noise += rng.normal(0, target.se, len(pick))
        lo, mid, hi = np.quantile(predicted[:, k] + noise, [0.025, 0.5, 0.975])
        out.append({
            "trial": target.trial, "name": target.name, "target": target.value, "se": target.se,
            "source": target.source, "in_likelihood": bool(used[k]), "posterior_predictive": [lo, mid, hi],
            "emulator_loo_sd": emulator.loo_sd[k], "emulator_loo_r2": emulator.r2[k],
            "covered": bool(lo <= target.value <= hi), "error": mid - target.value,
            "held_out": target.held_out,
        })  # fmt: skip
    return out


def leave_one_trial_out(
    emulator: Emulator, trials: tuple[CalibrationTrial, ...], seed: int, steps: int
) -> list[dict[str, Any]]:
    """Recalibrate without each trial in turn (its targets out of the likelihood) and predict what that trial
    reported: 95 % predictive intervals (parameters, emulator error, the trial's sampling error)."""
    goal = all_targets(trials)
    observed = np.array([t.value for t in goal])
    se = np.array([t.se for t in goal])
    rows = []
    for trial in trials:
        if all(t.held_out for t in trial.targets):
            continue  # never in the likelihood: nothing to leave out
        used = np.array([not t.held_out and t.trial != trial.trial for t in goal])
        chain = sample_posterior(emulator, observed, se, used, seed, steps=steps, burn=steps // 3)
        checks = _predictive_checks(emulator, chain, goal, used, np.random.default_rng(seed), True)
        left_out = [c for c in checks if c["trial"] == trial.trial and not c["held_out"]]
        rows += [c | {"left_out": trial.trial} for c in left_out]
    return rows


def calibrate_bayes(
    n_design: int = 150, patients: int = 200, seed: int = 20221, draws: int = 400,
    progress: Callable[[int], None] | None = None, steps: int = 3000,
) -> dict[str, Any]:  # fmt: skip
    """The whole Bayesian calibration on every calibration trial, with leave-one-trial-out validation;
    returns the record with the posterior draws (parameter values)."""
    trials = calibration_trials()
    goal = all_targets(trials)
    observed = np.array([t.value for t in goal])
    se = np.array([t.se for t in goal])
    used = np.array([not t.held_out for t in goal])
    u, y = design_runs(trials, n_design, patients, seed, progress)
    emulator = Emulator.fit(u, y)
    chain = sample_posterior(emulator, observed, se, used, seed, steps=steps, burn=steps // 3)
    rng = np.random.default_rng(seed)
    pick = chain[rng.choice(len(chain), size=min(draws, len(chain)), replace=False)]
    values = np.column_stack([prior.from_unit(pick[:, j]) for j, prior in enumerate(PRIORS)])
    loto = leave_one_trial_out(emulator, trials, seed, steps)
    profiles = profile_likelihood(emulator, observed, se, used, seed=seed)
    covered = sum(row["covered"] for row in loto)
    held_out = [
        c for c in _predictive_checks(emulator, chain, goal, used, np.random.default_rng(seed), True)
        if c["held_out"]
    ]  # fmt: skip
    return {
        "date": datetime.now(UTC).isoformat()[:19],
        "method": "Latin-hypercube design over the priors, quadratic emulator per target (LOO error added to "
        "the likelihood variance), emcee on the unit cube of prior CDFs",
        "trials": [{"trial": t.trial, "assumptions": t.assumptions} for t in trials],
        "design_runs": n_design, "patients_per_arm": patients, "seed": seed,
        "mcmc": {"walkers": 32, "steps": steps, "burn_in": steps // 3, "kept_draws": len(pick)},
        "parameters": parameter_summary(chain),
        "profile_likelihood": profiles,
        "emulator": {"coef": emulator.coef.tolist(), "loo_sd": emulator.loo_sd.tolist(),
                     "loo_r2": emulator.r2.tolist()},  # fmt: skip
        "targets": _predictive_checks(emulator, chain, goal, used, rng, False),
        "leave_one_trial_out": {
            "rows": loto, "covered": covered, "total": len(loto),
            "coverage": covered / len(loto) if loto else None,
        },
        "held_out": {
            "rows": held_out, "covered": sum(c["covered"] for c in held_out), "total": len(held_out),
            "why": "overlapping or non-MSC sources: posterior predictive checks, never likelihood terms",
        },
        "draws": {"names": [f"{p.block}.{p.name}" for p in PRIORS], "values": values.tolist()},
    }  # fmt: skip


def central_draw(values: np.ndarray) -> int:
    """The posterior draw nearest the coordinate-wise posterior median on the unit cube of prior CDFs: one
    coherent parameter set (medians of unidentified parameters taken one by one need not fit together)."""
    u = np.column_stack([prior.to_unit(values[:, j]) for j, prior in enumerate(PRIORS)])
    return int(np.argmin(np.sum((u - np.median(u, axis=0)) ** 2, axis=1)))


def install_central_draw(record: dict[str, Any], base_path: Path, target: Path, posterior: Path) -> str:
    """Write to ``target`` a parameter file whose calibrated values are the central posterior draw's, the
    rest as in ``base_path`` (its least-squares record kept), naming ``posterior`` as its draws, so that a
    plain ``stemdm simulate --params target`` never runs on parameters pinned to their bounds. Returns the
    new version."""
    names = record["draws"]["names"]
    values = np.array(record["draws"]["values"], dtype=float)
    index = central_draw(values)
    saved = json.loads(base_path.read_text())
    for name, value in zip(names, values[index], strict=True):
        block, field = name.split(".")
        saved[block][field] = float(value)
    saved["version"] = f"2-posterior-central-{record['date'][:10]}"
    saved["default_from_posterior"] = {
        "draw": index, "values": dict(zip(names, values[index].tolist(), strict=True)),
        "why": "the draw nearest the posterior median on the prior-CDF scale; predictions with all their "
        "uncertainty run over every draw (stemdm simulate --trial-size)",
    }  # fmt: skip
    saved["posterior_file"] = posterior.name if posterior.parent == target.parent else str(posterior)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(saved, indent=1) + "\n")
    return saved["version"]


#: (words in a check's name, the outcome it reports on), first match wins
OUTCOME_OF_CHECK = (
    ("SD shrinkage", "hba1c_sd"), ("HbA1c", "hba1c"), ("hba1c", "hba1c"), ("fasting glucose", "fbg"),
    ("fbg", "fbg"), ("ppbg", "ppbg"), ("insulin dose", "insulin_dose"), ("insulin_dose", "insulin_dose"),
    ("responders", "responders"), ("HOMA-B", "homa_b"), ("sensitivity", "insulin_sensitivity"),
    ("cpep", "cpep_fasting"),
)  # fmt: skip


def coverage_by_outcome(record: dict[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """Leave-one-trial-out and held-out coverage per outcome: {check: {outcome: {covered, total}}}."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for check in ("leave_one_trial_out", "held_out"):
        table: dict[str, dict[str, int]] = {}
        for row in record.get(check, {}).get("rows", []):
            outcome = next((o for words, o in OUTCOME_OF_CHECK if words in row["name"]), "other")
            cell = table.setdefault(outcome, {"covered": 0, "total": 0})
            cell["covered"] += bool(row["covered"])
            cell["total"] += 1
        out[check] = dict(sorted(table.items()))
    return out


def posterior_file() -> Path:
    return Path(str(resources.files("stemdm.sim") / "data" / "posterior.json"))


def save_posterior(record: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=float) + "\n")
    return path


def load_draws(path: Path | None = None) -> tuple[list[str], np.ndarray, str]:
    """Posterior draws: parameter names, values (draws x parameters), the record's date. ``path`` None: the
    posterior of the chosen parameter file (``STEMDM_SIM_PARAMS``), else the shipped one."""
    path = path or chosen_posterior_file() or posterior_file()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no posterior draws; run `stemdm calibrate --bayes`")
    record = json.loads(path.read_text())
    return record["draws"]["names"], np.array(record["draws"]["values"], dtype=float), record["date"]


def params_for_draw(base: Parameters, names: list[str], values: np.ndarray) -> Parameters:
    """``base`` with one posterior draw's values."""
    out = base
    for name, value in zip(names, values, strict=True):
        block_name, field_name = name.split(".")
        block = getattr(out, block_name)
        out = dataclasses.replace(
            out, **{block_name: dataclasses.replace(block, **{field_name: float(value)})}
        )
    return out
