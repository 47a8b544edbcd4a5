# Reference fixtures for stemdm.meta.bayes from R's bayesmeta 3.4 (Röver 2020, J Stat Softw 93(6)).
#   bash tools/install_bayesmeta.sh SOURCE_DIR           # once: bayesmeta without forestplot, into .bench/Rlib
#   R_LIBS=.bench/Rlib Rscript tools/make_bayesmeta_fixtures.R   # writes tests/fixtures/bayesmeta_cases.json
#   (or, on two cores: ... make_bayesmeta_fixtures.R OUT.json DATASET ... per process, then merge the "cases")
# Datasets: bayesmeta's Crins et al. 2014 example (log OR of acute rejection), BCG (dat.bcg, log RR) and its
# first 2, 3 and 5 trials, Normand 1999 (dat.normand1999, MD in days). Priors: each tau prior form stemdm
# accepts, each with a uniform and with a normal(0, 4) prior on mu. bayesmeta's grid is tightened
# (delta = 1e-4, epsilon = 1e-8; 66 grid points at its default, about 700 here) so that its numbers are
# accurate to about 1e-5 relative (tests/meta/test_bayes.py says how that was judged). Central intervals (interval.type = "central"), as stemdm reports.
suppressPackageStartupMessages({library(bayesmeta); library(metafor); library(jsonlite)})

data("CrinsEtAl2014", package = "bayesmeta")
crins <- escalc(measure = "OR", ai = exp.AR.events, n1i = exp.total, ci = cont.AR.events, n2i = cont.total,
                data = CrinsEtAl2014)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
normand <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                  data = dat.normand1999)
datasets <- list(crins = crins, bcg = bcg, bcg2 = bcg[1:2, ], bcg3 = bcg[1:3, ], bcg5 = bcg[1:5, ],
                 normand = normand)

# stemdm's prior strings and the same densities for bayesmeta
tau_priors <- list(
  "halfnormal(0.5)" = function(t) dhalfnormal(t, scale = 0.5),
  "halfcauchy(0.5)" = function(t) dhalfcauchy(t, scale = 0.5),
  "halft(3,0.5)" = function(t) dhalft(t, df = 3, scale = 0.5),
  "uniform(0,4)" = function(t) dunif(t, min = 0, max = 4),
  "jeffreys" = "Jeffreys",
  "lognormal_tau2(-2.7,1.52)" = function(t) ifelse(t > 0, 2 * t * dlnorm(t^2, meanlog = -2.7, sdlog = 1.52), 0)
)
mu_priors <- list(uniform = c(NA, NA), "normal(0,4)" = c(0, 4))
level <- 0.95
args <- commandArgs(TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/fixtures/bayesmeta_cases.json"
chosen <- if (length(args) >= 2) args[-1] else names(datasets)
cases <- list()
failed <- list()
for (dname in chosen) {
  d <- datasets[[dname]]
  for (tname in names(tau_priors)) {
    for (mname in names(mu_priors)) {
      mp <- mu_priors[[mname]]
      id <- paste(dname, tname, mname, sep = " | ")
      fit <- tryCatch(
        bayesmeta(y = d$yi, sigma = sqrt(d$vi), tau.prior = tau_priors[[tname]],
                  mu.prior.mean = mp[1], mu.prior.sd = mp[2], interval.type = "central",
                  delta = 1e-4, epsilon = 1e-8),
        error = function(e) conditionMessage(e))
      if (is.character(fit)) {  # bayesmeta could not integrate this case: recorded, not silently dropped
        failed[[length(failed) + 1]] <- list(id = id, error = fit)
        cat("bayesmeta failed:", id, ":", fit, "\n")
        next
      }
      a <- (1 - level) / 2
      expected <- list(
        mu_mean = fit$summary["mean", "mu"],
        mu_median = fit$qposterior(mu.p = 0.5),
        mu_ci_lb = fit$qposterior(mu.p = a), mu_ci_ub = fit$qposterior(mu.p = 1 - a),
        tau_median = fit$qposterior(tau.p = 0.5),
        tau_ci_lb = fit$qposterior(tau.p = a), tau_ci_ub = fit$qposterior(tau.p = 1 - a),
        pred_lb = fit$qposterior(theta.p = a, predict = TRUE),
        pred_ub = fit$qposterior(theta.p = 1 - a, predict = TRUE),
        prob_mu_below_0 = fit$pposterior(mu = 0),
        shrink_mean = unname(fit$theta["mean", ]))
      cat(id, "\n")
      cases[[length(cases) + 1]] <- list(
        id = id, dataset = dname,
        yi = as.numeric(d$yi), vi = as.numeric(d$vi),
        tau_prior = tname, mu_prior = if (mname == "uniform") NULL else mname,
        expected = expected)
    }
  }
}
out <- list(generator = "tools/make_bayesmeta_fixtures.R",
            bayesmeta_version = as.character(packageVersion("bayesmeta")),
            r_version = R.version.string, settings = "delta=1e-4, epsilon=1e-8, central intervals",
            cases = cases, bayesmeta_failed = failed)
write(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), out_path)
cat(length(cases), "cases written\n")
