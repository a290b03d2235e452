"""Architecture tables: :func:`layer_summary` runs one forward pass with hooks on every leaf layer and
returns a pandas DataFrame of each layer's type, output shape per image and parameter count, with a
total row, so a notebook can show what a generator or discriminator is made of.
"""
from __future__ import annotations

import torch


def layer_summary(model: torch.nn.Module, example_input: torch.Tensor):
    """Return a pandas DataFrame (layer, type, output shape, parameters) from one forward pass with hooks."""
    import pandas as pd

    rows: list[dict] = []
    hooks = []
    for name, module in model.named_modules():
        if len(list(module.children())) > 0:
            continue  # only leaf layers (Conv, BatchNorm, ReLU...), not the containers around them

        def record(mod, inputs, output, name=name):
            rows.append({
                "layer": name,
                "type": type(mod).__name__,
                "output shape": tuple(output.shape[1:]),  # per image: the batch dimension is left out
                "parameters": sum(p.numel() for p in mod.parameters(recurse=False)),
            })

        hooks.append(module.register_forward_hook(record))
    was_training = model.training
    model.eval()  # BatchNorm in eval mode: one example image is enough
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    table = pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters"])
    total = pd.DataFrame([{"layer": "total", "type": "", "output shape": "",
                           "parameters": int(table["parameters"].sum())}])
    return pd.concat([table, total], ignore_index=True)
