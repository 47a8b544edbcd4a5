# Reference numbers for the bundled review's pooled rows (issue 20), from R's metafor:
# the common-effect (FE, z), REML Wald-type (z) and REML + Hartung-Knapp models of the HbA1c rows, and the
# responder risk ratio (log RR with metafor's default 0.5 correction of the zero-cell table; Mantel-Haenszel).
#   Rscript tools/make_review_fixtures.R   (writes tests/fixtures/review_metafor.json)
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
# the two HbA1c rows of the bundled review at 12 months (final values, mean difference, percentage points):
# Cai 2016 and Zang 2022 as stemdm's resolve step derives them (arm means and SDs; see the report's rows)
hba1c <- data.frame(study = c("Cai2016", "Zang2022"), yi = c(-1.3, -0.67),
                    vi = c(0.08619047619047619, 0.04805961352657005))
fit <- function(method, test) {
  m <- rma(yi, vi, data = hba1c, method = method, test = test)
  list(estimate = as.numeric(m$b), ci_lb = m$ci.lb, ci_ub = m$ci.ub, pval = m$pval, tau2 = m$tau2)
}
responder <- data.frame(study = c("Bhansali2017", "Zang2022"), ai = c(6, 9), n1i = c(10, 45), ci = c(0, 2),
                        n2i = c(10, 44))
rr <- escalc("RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = responder)
rr_fit <- function(method, test) {
  m <- rma(yi, vi, data = rr, method = method, test = test)
  list(estimate = exp(as.numeric(m$b)), ci_lb = exp(m$ci.lb), ci_ub = exp(m$ci.ub), pval = m$pval)
}
mh <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = responder, measure = "RR")
rd <- escalc("RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = responder, to = "none")
rd_fit <- rma(yi, vi, data = rd, method = "REML", test = "knha")
out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  hba1c = list(FE_z = fit("FE", "z"), REML_z = fit("REML", "z"), REML_knha = fit("REML", "knha")),
  responder = list(yi = as.numeric(rr$yi), vi = as.numeric(rr$vi), REML_knha = rr_fit("REML", "knha"),
                   REML_z = rr_fit("REML", "z"),
                   MH = list(estimate = exp(as.numeric(mh$b)), ci_lb = exp(mh$ci.lb), ci_ub = exp(mh$ci.ub)),
                   RD_yi = as.numeric(rd$yi), RD_vi = as.numeric(rd$vi),
                   RD_REML_knha = list(ci_lb = rd_fit$ci.lb, ci_ub = rd_fit$ci.ub))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/fixtures/review_metafor.json")
