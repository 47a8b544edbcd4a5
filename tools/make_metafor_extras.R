# Regenerates tests/fixtures/metafor_extras.json: reference numbers from R's metafor for what stemdm.meta offers
# after a fit (issue 9, part 4): the SE of tau^2 per estimator, the profile-likelihood CI of tau^2, BLUPs of the
# study effects, predictions at new moderator values, and fits with user weights.
#
#   Rscript tools/make_metafor_extras.R      (needs r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite)
#
# Iterative fits use a tight stopping rule (threshold 1e-12), profile bounds uniroot tol 1e-12, as in
# tools/make_metafor_fixtures.R.
suppressMessages({ library(metafor); library(metadat); library(jsonlite) })

ctrl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-14)
cases <- list()
add_case <- function(case) { cases[[length(cases) + 1]] <<- case }

bcg <- with(dat.bcg, data.frame(study = paste(author, year), ai = tpos, bi = tneg, ci = cpos, di = cneg,
                                ablat = ablat, year = year))
bcg_es <- escalc(measure = "RR", ai = ai, bi = bi, ci = ci, di = di, data = bcg)
bcg$yi <- c(bcg_es$yi); bcg$vi <- c(bcg_es$vi); bcg$n <- with(bcg, ai + bi + ci + di)
nm <- dat.normand1999
nm_es <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = nm)
normand <- data.frame(study = nm$source, yi = c(nm_es$yi), vi = c(nm_es$vi), n = nm$n1i + nm$n2i)

fit <- function(data, method, test = "z", mods = NULL, weights = NULL) {
  args <- list(yi = data$yi, vi = data$vi, method = method, test = test, control = ctrl)
  if (!is.null(mods)) args$mods <- as.matrix(data[, mods, drop = FALSE])
  if (!is.null(weights)) args$weights <- data[[weights]]
  do.call(rma, args)
}
plain <- function(data, mods) data[, c("study", "yi", "vi", "n", mods), drop = FALSE]

# --- SE of tau^2 (rma.uni's se.tau2) ---------------------------------------------------------------------
for (name in c("bcg", "normand")) for (method in c("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")) {
  data <- get(name)
  for (mods in list(NULL, "ablat")) {
    if (name == "normand" && !is.null(mods)) next
    res <- fit(data, method, mods = mods)
    add_case(list(id = sprintf("se_tau2_%s_%s%s", name, method, if (is.null(mods)) "" else "_ablat"),
                  kind = "se_tau2", args = list(method = method, mods = mods), data = plain(data, mods),
                  expected = list(tau2 = res$tau2, se_tau2 = res$se.tau2)))
  }
}

# --- profile-likelihood CI of tau^2 (confint type = "PL") ---------------------------------------------------
for (name in c("bcg", "normand")) for (method in c("ML", "REML")) for (mods in list(NULL, "ablat")) {
  if (name == "normand" && !is.null(mods)) next
  data <- get(name)
  res <- fit(data, method, mods = mods)
  for (level in c(95, 80)) {
    cc <- confint(res, type = "PL", level = level, control = list(tol = 1e-12))$random
    add_case(list(id = sprintf("pl_%s_%s%s_%d", name, method, if (is.null(mods)) "" else "_ablat", level),
                  kind = "profile_ci", args = list(method = method, mods = mods, level = level),
                  data = plain(data, mods),
                  expected = list(tau2 = res$tau2, tau2_ci_lb = cc["tau^2", "ci.lb"], tau2_ci_ub = cc["tau^2", "ci.ub"])))
  }
}

# --- BLUPs of the study effects (blup) ---------------------------------------------------------------------
for (test in c("z", "knha")) for (mods in list(NULL, "ablat")) {
  res <- fit(bcg, "REML", test = test, mods = mods)
  b <- blup(res)
  add_case(list(id = sprintf("blup_bcg_REML_%s%s", test, if (is.null(mods)) "" else "_ablat"), kind = "blup",
                args = list(method = "REML", test = test, mods = mods), data = plain(bcg, mods),
                expected = list(pred = b$pred, se = b$se, pi_lb = b$pi.lb, pi_ub = b$pi.ub)))
}

# --- predictions at new moderator values (predict newmods) ----------------------------------------------------
newmods <- list(ablat = c(10, 30, 50))
for (test in c("z", "knha")) for (method in c("REML", "DL")) {
  res <- fit(bcg, method, test = test, mods = "ablat")
  pr <- predict(res, newmods = newmods$ablat)
  add_case(list(id = sprintf("predict_bcg_%s_%s_ablat", method, test), kind = "predict",
                args = list(method = method, test = test, mods = "ablat", newmods = newmods),
                data = plain(bcg, "ablat"),
                expected = list(pred = pr$pred, se = pr$se, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub,
                                pi_lb = pr$pi.lb, pi_ub = pr$pi.ub)))
}
res <- fit(bcg, "REML", mods = c("ablat", "year"))
two <- cbind(c(10, 30, 50), c(1950, 1960, 1970))
pr <- predict(res, newmods = two)
add_case(list(id = "predict_bcg_REML_z_ablat_year", kind = "predict",
              args = list(method = "REML", test = "z", mods = c("ablat", "year"),
                          newmods = list(ablat = two[, 1], year = two[, 2])),
              data = plain(bcg, c("ablat", "year")),
              expected = list(pred = pr$pred, se = pr$se, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub,
                              pi_lb = pr$pi.lb, pi_ub = pr$pi.ub)))

# --- user weights (rma weights =) ------------------------------------------------------------------------------
for (name in c("bcg", "normand")) for (method in c("REML", "DL", "FE")) for (test in c("z", "knha", "adhoc")) {
  if (method == "FE" && test != "z") next
  data <- get(name)
  res <- fit(data, method, test = test, weights = "n")
  add_case(list(id = sprintf("weights_%s_%s_%s", name, method, test), kind = "weights",
                args = list(method = method, test = test, weights = "n"), data = plain(data, NULL),
                expected = list(estimate = c(res$beta), se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
                                pval = res$pval, tau2 = res$tau2, weights = weights(res))))
}
res <- fit(bcg, "REML", test = "knha", mods = "ablat", weights = "n")
add_case(list(id = "weights_bcg_REML_knha_ablat", kind = "weights",
              args = list(method = "REML", test = "knha", weights = "n", mods = "ablat"), data = plain(bcg, "ablat"),
              expected = list(estimate = c(res$beta), se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
                              pval = res$pval, tau2 = res$tau2, weights = weights(res))))

out <- list(generated_by = "tools/make_metafor_extras.R", metafor_version = as.character(packageVersion("metafor")),
            r_version = R.version.string, cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE),
           "tests/fixtures/metafor_extras.json")
cat(sprintf("wrote %d cases to tests/fixtures/metafor_extras.json\n", length(cases)))
