"""The experiment scripts the benchmarks run, written from one set of templates.

Several benchmarks run the same kind of experiment: a hello-world run, a run
that prints many lines over a few seconds. Building them here keeps each
variant one change away from the others, so two benchmarks that claim to run
"the same" experiment do. Every template has ``{pkg}`` where the package goes:
``Side.render`` (sides.py) turns it into ``gnomon`` or ``sacred``, and
``for_gnomon`` into ``gnomon`` for the benchmarks that run gnomon alone.
Templates are plain text joined with ``+``, never ``str.format``: the scripts
hold f-strings whose braces must reach the script as they are.
"""

from __future__ import annotations


def experiment(
    name: str,
    main: str,
    *,
    imports: str = "",
    observer: str | None = None,
    setup: str = "",
    config: str = "",
    entry: str = "automain",
    tail: str = "",
) -> str:
    """An experiment script: ``ex = Experiment(name)``, an optional config scope and ``main``.

    ``main`` is the whole function, ``def`` line included; ``imports`` come before
    the package's, ``observer`` names a class imported from ``{pkg}.observers``,
    ``setup`` follows the ``ex = ...`` line, ``config`` is the body of a config
    scope, ``entry`` the decorator of ``main`` (``automain`` runs it at once,
    ``main`` leaves that to ``tail``).
    """
    text = imports + "from {pkg} import Experiment\n"
    if observer:
        text += "from {pkg}.observers import " + observer + "\n"
    text += '\nex = Experiment("' + name + '")\n' + setup
    if config:
        text += "\n\n@ex.config\ndef config():\n" + config
    text += "\n\n@ex." + entry + "\n" + main
    if tail:
        text += "\n\n" + tail
    return text


def for_gnomon(template: str) -> str:
    """A template as gnomon alone runs it."""
    return template.replace("{pkg}", "gnomon")


# -- hello world: the smallest run, in the flavours the start-up benchmarks need ---------------

HELLO = experiment(
    "hello",
    'def main(recipient):\n    print(f"Hello, {recipient}!")\n',
    config='    recipient = "world"\n',
)
"""A hello-world run with one config entry: what start-up costs."""

HELLO_SLOW = experiment(
    "hello",
    'def main():\n    time.sleep(0.3)\n    print("hello from the run")\n',
    imports="import time\n",
)
"""A hello-world run that lasts 0.3 s: long enough for an observer to try to connect."""

HELLO_MODULES = experiment(
    "hello",
    'def main():\n    print("hello from the run")\n    print("alembic imported:", "alembic" in sys.modules)\n',
    imports="import sys\n",
)
"""A hello-world run that says whether recording it imported alembic (a migration ran)."""


# -- config size -------------------------------------------------------------------------------

BIG_CONFIG = experiment(
    "big_config",
    'def main(big):\n    print("LENGTH", len(big))\n',
    config="    big = list(range(ITEMS))\n",
)
"""A run whose config is one long list; ``ITEMS`` is replaced by its length."""


# -- output volume: many lines printed over a few seconds ----------------------------------------

PRINT_LOOP_CONFIG = "    lines = 200000\n    width = 100\n    seconds = 5.0\n    chunks = 50\n"
PRINT_LOOP_MAIN = """\
def main(lines, width, seconds, chunks):
    body = "x" * (width - 12)
    per_chunk = max(1, lines // chunks)
    pause = seconds / chunks
    for i in range(lines - 1):
        print(f"{i:010d} {body}")
        if (i + 1) % per_chunk == 0:
            time.sleep(pause)
    print("LAST-LINE " + "z" * (width - 11))
"""

OUTPUT_VOLUME = experiment(
    "output_volume", PRINT_LOOP_MAIN, imports="import time\n\n", config=PRINT_LOOP_CONFIG
)
"""``lines`` numbered lines of ``width`` bytes over ``seconds``, then a marker line; storage from flags."""

MONGO_OUTPUT_VOLUME = experiment(
    "mongo_output_volume",
    PRINT_LOOP_MAIN,
    imports="import os\nimport time\n\n",
    observer="MongoObserver",
    setup='ex.observers.append(MongoObserver(url=os.environ["BENCH_MONGO_URL"], db_name=os.environ["BENCH_DB"]))\n',
    config=PRINT_LOOP_CONFIG,
)
"""OUTPUT_VOLUME into the MongoDB named by ``BENCH_MONGO_URL`` and ``BENCH_DB``."""

OUTPUT_MEMORY = experiment(
    "output_memory",
    'def main(megabytes):\n    line = "x" * 99\n    for _ in range(megabytes * 10_000):\n        print(line)\n',
    config="    megabytes = 100\n",
)
"""``megabytes`` MB of 100-byte lines printed as fast as possible."""
