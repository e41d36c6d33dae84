"""A custom observer: report how each run ended, with its last loss, on stderr."""

import sys

from gnomon import Experiment
from gnomon.observers import Observer


class EndReport(Observer):
    """Prints one line when a run ends (a stand-in for a chat or e-mail message)."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.last_loss = {}  # by run id: one observer may serve several runs at once

    def on_metrics(self, event):
        if "loss" in event.series:
            self.last_loss[event.run_id] = event.series["loss"].values[-1]

    def on_completed(self, event):
        loss = self.last_loss.pop(event.run_id, None)
        print(f"run {event.run_id} COMPLETED: result {event.result}, last loss {loss}", file=self.stream)

    def on_failed(self, event):
        self.last_loss.pop(event.run_id, None)
        print(f"run {event.run_id} FAILED: {event.fail_trace[-1].strip()}", file=self.stream)


ex = Experiment("custom_observer")
ex.observers.append(EndReport())


@ex.automain
def main(_run):
    for step in range(3):
        _run.log_scalar("loss", 1 / (step + 1))
    return "done"
