"""One module per training recipe; importing this package registers all of them."""

from patterns.training.recipes import cs, dense, gmp, oneshot, srste, subp

__all__ = ["cs", "dense", "gmp", "oneshot", "srste", "subp"]
