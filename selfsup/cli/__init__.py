"""The ``selfsup`` command-line tool (entry point ``selfsup.cli.main:main``)."""
