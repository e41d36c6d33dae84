"""Hello world: the smallest experiment worth recording.

Run it with a file storage observer, then look into runs/1/::

    python examples/hello_world.py -F runs
    python examples/hello_world.py -F runs with recipient=gnomon repeat=3
"""

from gnomon import Experiment

ex = Experiment("hello_world")


@ex.config
def config():
    recipient = "world"  # who is greeted
    repeat = 1  # how many times


@ex.automain
def main(recipient, repeat, _run):
    """Greet someone, and count the greetings as a metric."""
    for count in range(1, repeat + 1):
        print(f"Hello, {recipient}!")
        _run.log_scalar("greetings", count)
    return f"greeted {recipient} {repeat} time(s)"
