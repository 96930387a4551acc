"""The ``observatory`` command line and the operator's tools."""
