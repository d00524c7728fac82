"""The ``frugal`` command line: a thin Click layer over the library API."""
