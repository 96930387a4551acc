"""Example apps for ``observatory up --app examples.<name>``, run from a checkout.

They are not installed with the package: run them from the repository root, where the
current directory is on the import path (see ``examples/README.md``).
"""
