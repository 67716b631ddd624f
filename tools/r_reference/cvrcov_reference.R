# Reference values for covariate-by-covariate constraints (cvcrand's cvrcov language),
# computed directly in base R from the definitions in cvcrand's documentation:
#   "mX"  |mean_T - mean_C| <= X          "mfX" ... <= X * overall mean
#   "sX"  |sum_T - sum_C|   <= X          "sfX" ... <= X * overall sum / 2
# on the raw covariates, over every allocation of 8 of the 16 Dickinson counties
# (enumerated with combn, in combn's order). cvcrand itself is not installable here, so this
# is an independent re-derivation in another language, not a run of cvcrand.
# Run from the repository root:  Rscript tools/r_reference/cvrcov_reference.R
d <- read.csv("tests/allocation/data/dickinson_design.csv", colClasses = c(county = "character"))
d$location <- as.numeric(d$location == "Rural")  # as in cvcrand's cvrcov example
cases <- list(
  example = list(cols = c("location", "inciis", "uptodateonimmunizations", "hispanic", "income"),
                 cons = c("s5", "mf.5", "any", "mf0.2", "mf0.2")),
  sums = list(cols = c("location", "hispanic"), cons = c("s2", "sf0.1")),
  means = list(cols = c("inciis", "income"), cons = c("m3", "m5000"))
)
n <- nrow(d); nt <- 8
schemes <- t(combn(n, nt))
ok_for <- function(x, con) {
  if (con == "any") return(rep(TRUE, nrow(schemes)))
  kind <- substr(con, 1, 1); frac <- substr(con, 2, 2) == "f"
  v <- as.numeric(substring(con, if (frac) 3 else 2))
  st <- apply(schemes, 1, function(r) sum(x[r])); sc <- sum(x) - st
  if (kind == "m") { diff <- abs(st / nt - sc / (n - nt)); lim <- if (frac) v * mean(x) else v }
  else { diff <- abs(st - sc); lim <- if (frac) v * sum(x) / 2 else v }
  diff <= lim
}
out <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  ok <- rep(TRUE, nrow(schemes))
  for (j in seq_along(cs$cols)) ok <- ok & ok_for(d[[cs$cols[j]]], cs$cons[j])
  acc <- schemes[ok, , drop = FALSE]
  bits <- apply(acc, 1, function(r) { b <- rep(0, n); b[r] <- 1; paste(b, collapse = "") })
  out[[name]] <- list(columns = cs$cols, constraints = cs$cons, total = nrow(schemes),
                      accepted = nrow(acc), schemes = unname(bits))
}
json <- function(x) {
  if (is.list(x)) {
    if (is.null(names(x))) return(paste0("[", paste(sapply(x, json), collapse = ","), "]"))
    return(paste0("{", paste(sprintf('"%s":%s', names(x), sapply(x, json)), collapse = ","), "}"))
  }
  if (is.character(x)) { v <- sprintf('"%s"', x) } else { v <- format(x, digits = 17) }
  if (length(x) == 1) v else paste0("[", paste(v, collapse = ","), "]")
}
writeLines(json(out), "tools/r_reference/cvrcov_values.json")
