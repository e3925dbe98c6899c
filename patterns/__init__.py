"""Sparsity patterns (masks), the model zoo, the data sets and the training recipes."""
