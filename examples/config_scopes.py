"""Config scopes and named configs.

The local variables of an ``@ex.config`` function are the config; comments document
them. Named configs are applied only when asked for::

    python examples/config_scopes.py print_config
    python examples/config_scopes.py -F runs with fast
    python examples/config_scopes.py -F runs with fast adam lr=0.3
"""

from gnomon import Experiment

ex = Experiment("config_scopes")


@ex.config
def config():
    optimizer = "sgd"  # sgd or adam
    lr = 0.1  # learning rate
    epochs = 10
    # epochs of warm-up: follows 'epochs' when that is changed
    warmup = epochs // 5
    layers = [64, 32]  # width of each hidden layer
    model = {"depth": len(layers), "activation": "relu"}

    import math  # modules and functions are helpers, not config

    def decayed(value):
        return round(value * math.exp(-1), 4)

    final_lr = decayed(lr)


# Config from a dict or keywords (or a .json/.yaml/.toml file name).
ex.add_config(log_every=2)


@ex.named_config
def fast():
    """Few epochs with large steps: a quick check."""
    epochs = 2
    lr = 0.5


ex.add_named_config("adam", {"optimizer": "adam", "lr": 0.001})


@ex.capture
def describe(optimizer, lr, model):
    """Captured: its arguments come from the config."""
    return f"{optimizer} at lr={lr} for a {model['depth']}-layer {model['activation']} network"


@ex.automain
def main(epochs, warmup, final_lr, _config):
    print(describe())
    print(f"{epochs} epochs, {warmup} of warm-up, final lr {final_lr}")
    return sorted(_config)
