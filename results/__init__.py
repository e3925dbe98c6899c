"""The results database: DuckDB schema, store, queries, Pareto frontiers, export and merge."""
