"""Pure library: prespecified analyses of a cluster randomised trial."""
