"""HTTP views served by every worker (Faust discovers the modules of this package)."""
