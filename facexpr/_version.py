"""facexpr's version: one source, read by the package, its build and the files it writes."""

__version__ = "0.2.0"
