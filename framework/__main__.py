"""``python -m gnomon``: the ``gnomon`` command, where the script is not on ``PATH``."""

from gnomon.cli.main import main

if __name__ == "__main__":
    main()
