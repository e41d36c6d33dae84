"""Command lines: experiment scripts (:mod:`gnomon.cli.script`) and the ``gnomon`` command."""
