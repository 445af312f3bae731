"""The op table, one module per family; importing them registers every lowering."""
from . import arith, nn, script, shape  # noqa: F401
