"""HTML report pages built from the results store."""
