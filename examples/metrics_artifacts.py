"""Metrics, info, resources and artifacts: what a training loop records besides its output.

Fits ``y = w * x`` to a small CSV file by gradient descent::

    python examples/metrics_artifacts.py -F runs with epochs=20

The run folder then holds ``metrics.json`` (the ``loss`` and ``w`` series),
``info.json`` (the final weight), the artifact ``model.json``, and the data file is
stored once under ``runs/_resources/``.
"""

import json
import os
import tempfile

from gnomon import Experiment

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "points.csv")

ex = Experiment("metrics_artifacts")


@ex.config
def config():
    epochs = 10  # passes over the data
    lr = 0.5  # learning rate
    data_file = DATA  # CSV file with a header line and x,y rows


@ex.capture
def load_points(data_file, _run):
    """Read the data, recording the file as a resource of the run."""
    with _run.open_resource(data_file) as f:
        rows = f.read().split()[1:]
    return [tuple(float(v) for v in row.split(",")) for row in rows]


@ex.automain
def main(epochs, lr, _run):
    points = load_points()
    w = 0.0
    loss = float("nan")
    for epoch in range(epochs):
        gradient = sum(2 * (w * x - y) * x for x, y in points) / len(points)
        w -= lr * gradient
        loss = sum((w * x - y) ** 2 for x, y in points) / len(points)
        _run.log_scalar("loss", loss, epoch)  # explicit step
        _run.log_scalar("w", w)  # implicit steps: 0, 1, 2, ...
        print(f"epoch {epoch}: loss {loss:.5f}")
    _run.info["weight"] = w

    # The artifact is copied when it is added, so the temporary file may go at once.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.json")
        with open(path, "w") as f:
            json.dump({"w": w}, f)
        _run.add_artifact(path, metadata={"kind": "linear model"})
    return round(loss, 6)
