"""Per-dataset training defaults: one row per dataset, flags override them.

Each recipe is the setting we use for that dataset; the README's Results
section gives the command and the numbers it produced.
"""

import dataclasses
import os

from keras_attn.images import DEFAULT_RESIZE


@dataclasses.dataclass(frozen=True)
class Recipe:
    image_size: int = 128
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    dropout: float = 0.2
    shots: int | None = None
    val_shots: int | None = None
    weights: str = "imagenet"
    # finetune | frozen | lp-ft (phases.py); frozen trains `probe_epochs`.
    backbone: str = "finetune"
    probe_epochs: int = 30
    backbone_lr_scale: float = 0.1
    augment: str = "default"
    # How photos keep their aspect ratio when stored (data/images.py): squash,
    # the whole frame stretched, as MediaPipe's ImageClassifier passes it;
    # on Stanford Cars val it beat crop and pad (benchmarks/RESULTS.md).
    resize: str = DEFAULT_RESIZE


RECIPES = {
    # The embedded demo (`python train.py`): generated 64x64 images at 224 px
    # in the model (a 7x7 map, where the module localises), a 30-epoch probe
    # on cached features, then 2 fine-tuning epochs. Chosen by measurement
    # against the 128 px, 6-epoch fine-tuning it had (benchmarks/
    # demo_recipe.py, seed 0): test 96.8 vs 95.4%, the map's maximum on the
    # object for 97.6 vs 27.4% of held-out images (a centre map: 57%), at
    # 1.48x its wall time (one paired run). Random-init ResNet-18 does not
    # learn it in that budget (9% val, chance level), so `auto` starts from
    # the best pretrained weights it can find (see models/backbone.py).
    "shapes": Recipe(
        image_size=224,
        backbone="lp-ft",
        probe_epochs=30,
        epochs=2,
        batch_size=32,
        learning_rate=1e-3,
        warmup_epochs=0,
        weights="auto",
        backbone_lr_scale=1.0,
        augment="flip",
    ),
    # The paper's protocol: 10 train / 5 val images per class, 100 epochs.
    "cifar100": Recipe(image_size=128, epochs=100, shots=10, val_shots=5),
    "cifar10": Recipe(image_size=128, epochs=100, shots=10, val_shots=5),
    "stanford_cars": Recipe(image_size=224, epochs=100, shots=10, val_shots=5),
    # Any class-subfolder tree (folder:PATH).
    "folder": Recipe(image_size=128, epochs=30),
    # The benchmark folders of ../shared/data, by folder name (see
    # benchmarks/RESULTS.md for the commands and numbers): a 30-epoch probe
    # on cached features, then fine-tuning: lp-ft had the higher val top-1
    # than finetune on both, for `none` and `unified`, over 3 seeds. 12
    # fine-tuning epochs on Tiny ImageNet (val flat from about epoch 8); 10
    # with 1 of warm-up on Stanford Cars (squash, 2 seeds: val 18.5 vs 14.6
    # for the 6/2 it had before).
    "folder:tin100_fewshot": Recipe(
        image_size=128, epochs=12, shots=10, val_shots=5, backbone="lp-ft"
    ),
    "folder:stanford_cars_fewshot": Recipe(
        image_size=128,
        epochs=10,
        warmup_epochs=1,
        shots=10,
        val_shots=5,
        backbone="lp-ft",
    ),
    # The same photos at 224 px (a 7x7 stage-4 map, 14x14 on stage 3): the
    # whole frame squashed (val: 13.0 vs crop 9.8, pad 9.1, frozen, 3 seeds),
    # lp-ft with 10 fine-tuning epochs, 1 of warm-up, after the 30-epoch
    # probe (val 30.5 against 23.6 for 6/2, 2 seeds, and 15.9 for finetune
    # 6/2 on one; benchmarks/RESULTS.md).
    "folder:stanford_cars_fewshot_224": Recipe(
        image_size=224,
        epochs=10,
        warmup_epochs=1,
        shots=10,
        val_shots=5,
        backbone="lp-ft",
        resize="squash",
    ),
}


def get_recipe(dataset: str) -> Recipe:
    """The recipe for a dataset name: `folder:PATH` takes the row of its folder
    name (`folder:tin100_fewshot`) if there is one, else the `folder` row."""
    if dataset.startswith("folder:"):
        name = os.path.basename(os.path.normpath(dataset[len("folder:") :]))
        return RECIPES.get(f"folder:{name}", RECIPES["folder"])
    return RECIPES.get(dataset, RECIPES["folder"])


def describe_default(field: str) -> str:
    """A recipe field's defaults in words, for `--help`: the value most
    recipes share, then the others by dataset, e.g. `2 (shapes: 1)`; a value
    every recipe shares alone (`32`)."""
    by_value: dict[str, list[str]] = {}
    for name, recipe in RECIPES.items():
        value = getattr(recipe, field)
        if value is None:
            value = "every image"
        elif isinstance(value, float):
            value = f"{value:g}"
        by_value.setdefault(str(value), []).append(name)
    groups = sorted(by_value.items(), key=lambda item: -len(item[1]))
    (common, _), others = groups[0], groups[1:]
    if not others:
        return common
    rest = "; ".join(", ".join(names) + f": {value}" for value, names in others)
    return f"{common} ({rest})"
