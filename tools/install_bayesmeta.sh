#!/usr/bin/env bash
# Install R's bayesmeta 3.4 (the reference for stemdm.meta.bayes) without its plotting dependency forestplot,
# which Debian does not package: the forestplot methods are removed from NAMESPACE and forestplot from
# DESCRIPTION; nothing else changes. Needs Debian's r-base-core r-cran-metafor r-cran-mvtnorm r-cran-numderiv
# r-cran-jsonlite r-cran-metadat.
#   bash tools/install_bayesmeta.sh SOURCE_DIR [LIBRARY_DIR]
# SOURCE_DIR: bayesmeta's source (e.g. `git -C <mirror of github.com/cran/bayesmeta> archive v3.4 | tar -x -C DIR`).
# LIBRARY_DIR: where to install (default .bench/Rlib); make_bayesmeta_fixtures.R reads R_LIBS from it.
set -euo pipefail
source_dir="$1"
library_dir="${2:-.bench/Rlib}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$source_dir" "$work/bayesmeta"
cd "$work/bayesmeta"
grep -q '^Version: 3.4' DESCRIPTION || { echo "expected bayesmeta 3.4" >&2; exit 2; }
sed -i -E 's/forestplot \(>= 2\.0\.0\), //' DESCRIPTION
sed -i -E '/^S3method\(forestplot,/d; s/forestplot\.bayesmeta, forestplot\.escalc, forestplot\.bmr,//' NAMESPACE
sed -i '/^importFrom("forestplot",/,/)/d' NAMESPACE
rm -rf build inst/doc vignettes
cd - >/dev/null
mkdir -p "$library_dir"
R CMD INSTALL --no-test-load --library="$library_dir" "$work/bayesmeta"
