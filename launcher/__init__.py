"""The ``observatory`` command line and the process roots (the top layer).

``cli`` parses the command line; ``embedded`` is ``observatory up`` (every service in one
process), ``serve`` one service per process, ``local`` ``up --infra local``, ``demo`` the
demo load; ``bench``, ``soak``, ``gate``, ``doctor`` and ``checks`` measure and verify;
``cluster/`` brings the observatory up on kind, and ``tui/`` is the terminal console.
"""
