"""Ingredients: reusable parts with their own config, captured functions and commands.

The ``dataset`` ingredient's config sits under ``dataset`` in the run's config; its
named configs and commands are addressed as ``dataset.NAME``::

    python examples/ingredients.py -F runs with dataset.size=50
    python examples/ingredients.py -F runs with dataset.small
    python examples/ingredients.py dataset.describe
"""

from gnomon import Experiment, Ingredient

dataset = Ingredient("dataset")


@dataset.config
def dataset_config():
    size = 100  # number of samples
    noise = 0.1  # amplitude of the uniform noise


@dataset.named_config
def small():
    """A tiny dataset for smoke tests."""
    size = 10


@dataset.capture
def load(size, noise, _rnd):
    """Captured by the ingredient: arguments come from the 'dataset' config."""
    return [i / size + _rnd.uniform(-noise, noise) for i in range(size)]


@dataset.command
def describe(size, noise):
    """Print what the dataset holds."""
    print(f"{size} samples, noise {noise}")


ex = Experiment("ingredients", ingredients=[dataset])


# A config scope reads an ingredient's config by naming it as a parameter.
@ex.config
def config(dataset):
    batches = 5  # batches per epoch
    batch_size = max(1, dataset["size"] // batches)  # samples per batch


@ex.automain
def main(batch_size, _log):
    data = load()
    batches = [data[i : i + batch_size] for i in range(0, len(data), batch_size)]
    _log.info("loaded %d samples", len(data))
    print(f"{len(batches)} batches of up to {batch_size} samples")
    return len(batches)
