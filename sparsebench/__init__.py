"""What every sparsebench package shares, importable from any layer (no torch, no harness):
``sparsebench.registry`` (the one name -> thing registry) and ``sparsebench.provenance`` (the
code and software a figure or a checkpoint was made with)."""
