"""The paper's few-shot protocol for a grid of attention variants and seeds.

`benchmarks/reproduce.py` calls `run(config)`. Two protocols:

- `frozen`: the pretrained ResNet-18 is frozen (BatchNorm in inference
  mode). Its last-stage feature maps (4x4x512 at 128 px) are computed once
  per image (train images also horizontally flipped, the augmentation) and
  cached; each variant trains only `attention_head` (attention + pool +
  dropout + Dense) on them. This measures the attention module and head on
  frozen pretrained features, not fine-tuning.
- `finetune`: the paper's full protocol, one `train_lib.train` run per
  variant, seed and learning rate (run folders under `<out>/runs/`).

For each variant the learning rate is chosen by the mean validation accuracy
over seeds; the test split, when there is one, is evaluated only for the
chosen learning rate, after the choice. Results go to `<out>/results.json` and
`<out>/results.md` (rewritten after every variant, so a killed run keeps what
it finished).
"""

import dataclasses
import hashlib
import json
import os
import time

import keras
import numpy as np

from keras_attn import io_utils, visualize
from keras_attn import runs as runs_lib
from keras_attn.layers import BRANCHES
from keras_attn.models import classifier

PROTOCOLS = ("frozen", "finetune")
PEERS = ("none", "unified", "se", "cbam", "eca")
ALL_VARIANTS = (
    PEERS
    + tuple(f"unified-no_{b}" for b in BRANCHES)
    + tuple(f"unified-only_{b}" for b in BRANCHES)
)
# The paper's Table I (ResNet-18, CIFAR-100, 10 train / 5 val per class).
PAPER_CLAIM = {"none": 78.5, "unified": 83.2}


@dataclasses.dataclass
class ReproduceConfig:
    """Every setting of a benchmark run (the flags of benchmarks/reproduce.py)."""

    dataset: str
    weights: str
    out: str
    variants: tuple[str, ...] = ALL_VARIANTS
    seeds: tuple[int, ...] = (0, 1, 2)
    learning_rates: tuple[float, ...] = (1e-3, 3e-3)
    protocol: str = "frozen"
    epochs: int = 30
    image_size: int = 128
    shots: int | None = 10
    val_shots: int | None = 5
    test_dir: str | None = None
    batch_size: int = 32
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    dropout: float = 0.2
    warmup_epochs: int = 2
    residual: bool = False
    cache_dir: str | None = None

    def validate(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"--protocol={self.protocol} is not one of {', '.join(PROTOCOLS)}."
            )
        for name in self.variants:
            parse_variant(name)
        if not self.variants or not self.seeds or not self.learning_rates:
            raise ValueError("--variants, --seeds and --learning_rates must be set.")
        if any(lr <= 0 for lr in self.learning_rates):
            raise ValueError(
                f"--learning_rates must be > 0. Received: {self.learning_rates}"
            )
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(
                    f"--{key} must be >= 1. Received: {key}={getattr(self, key)}"
                )


def parse_variant(name: str) -> tuple[str, dict]:
    """`(attention, attention_kwargs)` of a variant name.

    `none|unified|se|cbam|eca`, `unified-no_<branch>` (all branches but one)
    and `unified-only_<branch>` (that branch alone); a `+res` suffix on a
    unified variant sets `residual=True` (`X * (1 + A)`).
    """
    base, residual = (name[:-4], True) if name.endswith("+res") else (name, False)
    if base in PEERS and not (residual and base != "unified"):
        kwargs = {"residual": True} if residual else {}
        return base, kwargs
    for prefix, pick in (
        ("unified-no_", lambda b: tuple(x for x in BRANCHES if x != b)),
        ("unified-only_", lambda b: (b,)),
    ):
        if base.startswith(prefix) and base[len(prefix) :] in BRANCHES:
            kwargs = {"branches": pick(base[len(prefix) :])}
            if residual:
                kwargs["residual"] = True
            return "unified", kwargs
    raise ValueError(
        f"Unknown variant {name!r}. Use one of: {', '.join(ALL_VARIANTS)} "
        "(unified variants may end in +res)."
    )


def parse_variants(text: str) -> tuple[str, ...]:
    """Comma-separated variant names; `all` is every variant of ALL_VARIANTS."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return ALL_VARIANTS
    if not names:
        raise ValueError("--variants is empty; give names such as none,unified.")
    for name in names:
        parse_variant(name)
    return tuple(names)


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    values = np.asarray([v for v in values if v is not None], np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def choose_learning_rate(grid: dict) -> tuple[float, dict]:
    """The rate with the best mean val top-1 over seeds (the first on a tie),
    and every rate's val top-1 as (mean, std), keyed as in results.json.

    `grid` maps each learning rate to its runs (dicts with `val_accuracy`)."""
    summary = {
        lr: mean_std(r["val_accuracy"] for r in runs) for lr, runs in grid.items()
    }
    chosen = max(summary, key=lambda lr: summary[lr][0])
    return chosen, {f"{lr:g}": value for lr, value in summary.items()}


# ------------------------------------------------------------------- features


class FeatureCache:
    """Backbone features per image, keyed by a hash of the image's bytes.

    Images met again (another seed's draw of the same pool, a flipped copy
    asked for twice) are computed once; `save`/`load` keep them on disk.
    """

    def __init__(self, extractor: keras.Model, path: str | None = None):
        self.extractor = extractor
        self.path = path
        self.store: dict[str, np.ndarray] = {}
        if path and os.path.exists(path):
            with np.load(path) as f:
                self.store = {k: f[k] for k in f.files}

    def __call__(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        keys = [hashlib.sha1(image.tobytes()).hexdigest() for image in images]
        missing = [i for i, k in enumerate(keys) if k not in self.store]
        if missing:
            feats = self.extractor.predict(
                images[missing], batch_size=batch_size, verbose=0
            )
            for i, f in zip(missing, np.asarray(feats, np.float32), strict=True):
                self.store[keys[i]] = f
        return np.stack([self.store[k] for k in keys])

    def save(self) -> None:
        if self.path:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with io_utils.atomic_path(self.path, suffix=".npz") as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, **self.store)


def feature_extractor(backbone, input_shape, image_size: int) -> keras.Model:
    """Pixels -> the frozen backbone's last map: the classifier up to its pool."""
    model = classifier.build_classifier(
        2, input_shape, image_size, attention="none", backbone=backbone
    )
    return keras.Model(model.inputs, model.get_layer("pool").input)


@dataclasses.dataclass
class Features:
    """Cached features of one seed's few-shot draw."""

    train: np.ndarray  # (N, s, s, C)
    train_flip: np.ndarray  # (N, s, s, C), the horizontally flipped images
    train_labels: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray
    test: np.ndarray | None
    test_labels: np.ndarray | None
    test_boxes: np.ndarray | None


def split_features(data, cache: FeatureCache) -> Features:
    test = data.test
    return Features(
        train=cache(data.train.images),
        train_flip=cache(data.train.images[:, :, ::-1]),
        train_labels=data.train.labels,
        val=cache(data.val.images),
        val_labels=data.val.labels,
        test=None if test is None else cache(test.images),
        test_labels=None if test is None else test.labels,
        test_boxes=None if test is None else test.boxes,
    )


# ----------------------------------------------------------------- the head


def build_head(feature_shape, num_classes: int, variant: str, dropout: float):
    """`attention_head` on a feature input: the trainable part of `frozen`."""
    attention, kwargs = parse_variant(variant)
    inputs = keras.Input(shape=feature_shape, name="features")
    logits = classifier.attention_head(inputs, num_classes, attention, kwargs, dropout)
    return keras.Model(inputs, logits, name=f"head_{variant}")


def train_head(
    feats: Features,
    num_classes: int,
    variant: str,
    learning_rate: float,
    seed: int,
    config: ReproduceConfig,
) -> tuple[keras.Model, dict]:
    """Trains one head; returns it and its val metrics, history and seconds.

    Each epoch every training image is shown once, flipped with probability
    1/2. The last epoch's weights are kept (no selection on val).
    """
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_head(feats.train.shape[1:], num_classes, variant, config.dropout)
    steps = int(np.ceil(len(feats.train) / config.batch_size))
    warmup = min(config.warmup_epochs, config.epochs - 1) * steps
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else learning_rate,
        decay_steps=config.epochs * steps - warmup,
        warmup_target=learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        metrics=["accuracy"],
    )
    y = np.eye(num_classes, dtype="float32")[feats.train_labels]
    y_val = np.eye(num_classes, dtype="float32")[feats.val_labels]
    history: dict[str, list[float]] = {}
    start = time.time()
    for epoch in range(config.epochs):
        flip = rng.random(len(feats.train)) < 0.5
        x = np.where(flip[:, None, None, None], feats.train_flip, feats.train)
        h = model.fit(
            x,
            y,
            batch_size=config.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=(feats.val, y_val),
            shuffle=True,
            verbose=0,
        )
        for key, values in h.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        if not np.isfinite(history["loss"][-1]):
            break
    seconds = time.time() - start
    metrics = evaluate(model, feats.val, feats.val_labels, "val")
    metrics["train_seconds"] = round(seconds, 2)
    metrics["history"] = history
    return model, metrics


def evaluate(model, x, labels, split: str) -> dict:
    """Top-1 accuracy and (unsmoothed) cross-entropy on one split."""
    logits = np.asarray(model.predict(x, batch_size=256, verbose=0), np.float64)
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    return {
        f"{split}_accuracy": float((logits.argmax(1) == labels).mean()),
        f"{split}_loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
    }


# ------------------------------------------------------------ maps, pointing


def head_maps(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """(N, s, s) maps of a head: the layer's map for unified/CBAM, else the
    min-max-normalised channel mean of |features| (`classifier.attention_model`)."""
    _, maps = classifier.attention_model(model).predict(x, batch_size=256, verbose=0)
    return np.asarray(maps, np.float32)


def pointing_scores(maps: np.ndarray, boxes: np.ndarray) -> dict:
    """Pointing game of the map's maximum and minimum, and the chance level.

    Chance is the expected hit rate of a uniformly random cell: the share of
    map cells that overlap the box, averaged over images.
    """
    return {
        "pointing_max": visualize.pointing_game(maps, boxes),
        "pointing_min": visualize.pointing_game(-maps, boxes),
        "pointing_chance": visualize.pointing_chance(maps.shape[1:], boxes),
    }


# ---------------------------------------------------------------- the cost


def model_cost(backbone, input_shape, image_size: int, num_classes: int, variant):
    """Parameters and FLOPs per image of the full classifier of a variant.

    FLOPs come from XLA's cost analysis of the inference function
    (`jax.jit(...).lower(...).cost_analysis()`, JAX backend only; None on
    other backends); MACs = FLOPs / 2.
    """
    attention, kwargs = parse_variant(variant)
    model = classifier.build_classifier(
        num_classes,
        input_shape,
        image_size,
        attention=attention,
        attention_kwargs=kwargs,
        backbone=backbone,
    )
    cost = {"parameters": int(model.count_params()), "flops": None}
    if keras.backend.backend() == "jax":
        import jax

        def forward(trainable, non_trainable, x):
            return model.stateless_call(trainable, non_trainable, x, training=False)[0]

        x = np.zeros((1, *input_shape), np.float32)
        lowered = jax.jit(forward).lower(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            x,
        )
        analysis = lowered.cost_analysis()
        if isinstance(analysis, list):
            analysis = analysis[0]
        cost["flops"] = float(analysis["flops"])
    return cost


# --------------------------------------------------------------------- run


def run(config: ReproduceConfig) -> dict:
    """Runs the grid and writes `results.json` and `results.md`; returns them."""
    config.validate()
    from keras_attn.data import load_dataset
    from keras_attn.models.backbone import load_backbone

    os.makedirs(config.out, exist_ok=True)
    if config.protocol == "finetune":
        return _run_finetune(config)
    backbone = load_backbone(config.weights)
    backbone.trainable = False
    datasets = {}
    cache = None
    start = time.time()
    for seed in config.seeds:
        data = load_dataset(
            config.dataset,
            shots=config.shots,
            val_shots=config.val_shots,
            seed=seed,
            image_size=config.image_size,
            test_dir=config.test_dir,
        )
        if cache is None:
            cache_dir = config.cache_dir or os.path.join(config.out, "..", "cache")
            key = hashlib.sha1(
                f"{config.dataset}|{config.weights}|{config.image_size}".encode()
            ).hexdigest()[:12]
            cache = FeatureCache(
                feature_extractor(backbone, data.image_shape, config.image_size),
                os.path.join(cache_dir, f"features-{key}.npz"),
            )
        datasets[seed] = (data, split_features(data, cache))
        print(f"seed {seed}: features ready ({time.time() - start:.0f} s)", flush=True)
    cache.save()
    data = datasets[config.seeds[0]][0]
    has_test = data.test is not None
    results = {
        "config": dataclasses.asdict(config),
        "dataset": {
            "name": config.dataset,
            "classes": data.num_classes,
            "stored_shape": list(data.image_shape),
            "train": len(data.train),
            "val": len(data.val),
            "test": len(data.test) if has_test else 0,
            "notes": data.notes,
        },
        "feature_seconds": round(time.time() - start, 1),
        "backend": keras.backend.backend(),
        "variants": {},
    }
    for variant in config.variants:
        results["variants"][variant] = _run_variant(variant, datasets, config, backbone)
        results["differences"] = paired_differences(results["variants"])
        write_results(results, config.out)
        print(markdown_row(variant, results["variants"][variant]), flush=True)
    return results


def _run_variant(variant, datasets, config, backbone) -> dict:
    data0 = datasets[config.seeds[0]][0]
    grid = {}
    models = {}
    for lr in config.learning_rates:
        runs = []
        for seed in config.seeds:
            data, feats = datasets[seed]
            model, metrics = train_head(
                feats, data.num_classes, variant, lr, seed, config
            )
            models[(lr, seed)] = model
            runs.append({"seed": seed, **metrics})
            print(
                f"  {variant} lr={lr:g} seed={seed}: val "
                f"{metrics['val_accuracy']:.3f} ({metrics['train_seconds']:.0f} s)",
                flush=True,
            )
        grid[lr] = runs
    chosen, grid_summary = choose_learning_rate(grid)
    # Only now, for the chosen setting: the test split (and pointing game).
    for run_ in grid[chosen]:
        data, feats = datasets[run_["seed"]]
        model = models[(chosen, run_["seed"])]
        if feats.test is not None:
            run_.update(evaluate(model, feats.test, feats.test_labels, "test"))
            if feats.test_boxes is not None:
                run_.update(
                    pointing_scores(head_maps(model, feats.test), feats.test_boxes)
                )
    entry = {
        "attention": parse_variant(variant)[0],
        "attention_kwargs": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in parse_variant(variant)[1].items()
        },
        "chosen_learning_rate": chosen,
        "grid": grid_summary,
        "runs": [{k: v for k, v in r.items() if k != "history"} for r in grid[chosen]],
        "history_seed0": grid[chosen][0]["history"],
    }
    for key in (
        "val_accuracy",
        "val_loss",
        "test_accuracy",
        "test_loss",
        "train_seconds",
        "pointing_max",
        "pointing_min",
        "pointing_chance",
    ):
        values = [r.get(key) for r in grid[chosen]]
        if any(v is not None for v in values):
            entry[key] = mean_std(values)
    entry.update(
        model_cost(
            backbone, data0.image_shape, config.image_size, data0.num_classes, variant
        )
    )
    entry["head_parameters"] = int(models[(chosen, config.seeds[0])].count_params())
    if variant.startswith("unified") or variant == "cbam":
        _, feats = datasets[config.seeds[0]]
        split = data0.test if data0.test is not None else data0.val
        x = feats.test if feats.test is not None else feats.val
        count = min(16, len(split))
        maps = head_maps(models[(chosen, config.seeds[0])], x[:count])
        probs = models[(chosen, config.seeds[0])].predict(x[:count], verbose=0)
        titles = [
            f"{data0.class_names[p][:14]} ({'ok' if p == t else 'wrong'})"
            for p, t in zip(probs.argmax(1), split.labels[:count], strict=True)
        ]
        visualize.plot_attention(
            split.images[:count],
            maps,
            titles,
            os.path.join(config.out, f"attention_{variant}.png"),
            split.boxes[:count] if split.boxes is not None else None,
        )
    return entry


def paired_differences(variants: dict) -> dict:
    """Per-seed `variant - none` differences (same seed = same data), mean +- std."""
    if "none" not in variants:
        return {}
    base = {r["seed"]: r for r in variants["none"]["runs"]}
    out = {}
    for name, entry in variants.items():
        if name == "none":
            continue
        diff = {}
        for key in ("val_accuracy", "last_val_accuracy", "test_accuracy"):
            values = [
                r[key] - base[r["seed"]][key]
                for r in entry["runs"]
                if r["seed"] in base and key in r and key in base[r["seed"]]
            ]
            if values:
                diff[key] = mean_std(values)
        out[name] = diff
    return out


# ------------------------------------------------------------------ tables


def _pm(value, scale=100.0, digits=1) -> str:
    if value is None:
        return "-"
    mean, std = value
    if np.isnan(mean):
        return "-"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def markdown_row(name: str, e: dict) -> str:
    flops = e.get("flops")
    gmacs = "-" if flops is None else f"{flops / 2e9:.3f}"
    cells = [
        f"`{name}`",
        f"{e['chosen_learning_rate']:g}",
        _pm(e.get("val_accuracy")),
        _pm(e.get("val_loss"), 1, 3),
        _pm(e.get("test_accuracy")),
        _pm(e.get("test_loss"), 1, 3),
        f"{e['parameters'] / 1e6:.3f}",
        gmacs,
        f"{e['train_seconds'][0]:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def markdown(results: dict) -> str:
    c = results["config"]
    d = results["dataset"]
    lines = [
        f"### {d['name']} ({c['protocol']} protocol)",
        "",
        f"{d['classes']} classes; train {d['train']}, val {d['val']}, test "
        f"{d['test'] or 'none'} images per seed; {c['image_size']} px; "
        f"{c['epochs']} epochs; seeds {', '.join(map(str, c['seeds']))}; "
        f"learning rate chosen per variant from "
        f"{', '.join(f'{lr:g}' for lr in c['learning_rates'])} by mean val "
        f"top-1; backend {results['backend']}.",
        "",
        "| variant | lr | val top-1 % | val loss | test top-1 % | test loss "
        "| params (M) | GMACs/img | train s/run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in results["variants"].items():
        lines.append(markdown_row(name, e))
    last = {
        n: e["last_val_accuracy"]
        for n, e in results["variants"].items()
        if "last_val_accuracy" in e
    }
    if last:
        lines += [
            "",
            "val top-1 above is the best-val epoch's checkpoint (what train.py "
            "keeps: selected on val, so optimistic). Last epoch, unselected: "
            + ", ".join(f"`{n}` {_pm(v)}" for n, v in last.items())
            + ".",
        ]
    diffs = results.get("differences", {})
    if diffs:
        header, rule = "| variant | Δ val top-1 |", "| --- | --- |"
        keys = ["val_accuracy"]
        if last:
            header, rule = header + " Δ last-epoch val top-1 |", rule + " --- |"
            keys.append("last_val_accuracy")
        lines += [
            "",
            "Paired difference to `none` (same seed, same images), "
            "percentage points, mean ± std over seeds:",
            "",
            header + " Δ test top-1 |",
            rule + " --- |",
        ]
        for name, diff in diffs.items():
            cells = [_pm(diff.get(k)) for k in (*keys, "test_accuracy")]
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    pointing = {n: e for n, e in results["variants"].items() if "pointing_max" in e}
    if pointing:
        lines += [
            "",
            "Pointing game on the test split (share of images whose map "
            "maximum / minimum falls on the object's box; chance = share of "
            "map cells on the box). `unified*` and `cbam`: the layer's "
            "attention map; `none`, `se`, `eca`: the channel mean of the "
            "features entering the pool.",
            "",
            "| variant | map max in box % | map min in box % | chance % |",
            "| --- | --- | --- | --- |",
        ]
        for name, e in pointing.items():
            lines.append(
                f"| `{name}` | {_pm(e['pointing_max'])} | "
                f"{_pm(e['pointing_min'])} | {_pm(e['pointing_chance'])} |"
            )
    return "\n".join(lines) + "\n"


def write_results(results: dict, out: str) -> None:
    io_utils.write_json(os.path.join(out, "results.json"), results)
    io_utils.write_text(os.path.join(out, "results.md"), markdown(results))


# ---------------------------------------------------------------- finetune


def _run_finetune(config: ReproduceConfig) -> dict:
    """The paper's full protocol: `train_lib.train` per variant, lr and seed."""
    from keras_attn import train_lib

    results = {"config": dataclasses.asdict(config), "variants": {}}
    for variant in config.variants:
        attention, kwargs = parse_variant(variant)
        if kwargs.get("residual"):
            raise ValueError(
                f"--protocol=finetune cannot set residual ({variant}); train.py "
                "has no flag for it."
            )
        grid = {}
        for lr in config.learning_rates:
            runs = []
            for seed in config.seeds:
                run_dir = os.path.join(
                    config.out, "runs", f"{variant}-lr{lr:g}-seed{seed}"
                )
                done = runs_lib.path(run_dir, runs_lib.METRICS)
                if not os.path.exists(done):
                    train_lib.train(
                        train_lib.TrainConfig(
                            dataset=config.dataset,
                            attention=attention,
                            branches=kwargs.get("branches"),
                            weights=config.weights,
                            image_size=config.image_size,
                            epochs=config.epochs,
                            batch_size=config.batch_size,
                            learning_rate=lr,
                            weight_decay=config.weight_decay,
                            warmup_epochs=config.warmup_epochs,
                            label_smoothing=config.label_smoothing,
                            dropout=config.dropout,
                            shots=config.shots,
                            val_shots=config.val_shots,
                            seed=seed,
                            test_dir=config.test_dir,
                            run_dir=run_dir,
                        )
                    )
                with open(done) as f:
                    m = json.load(f)
                m["seed"] = seed
                m["run_dir"] = run_dir
                runs.append(m)
            grid[lr] = runs
        chosen, grid_summary = choose_learning_rate(grid)
        runs = grid[chosen]
        history = runs_lib.read_history(runs[0]["run_dir"])
        entry = {
            "chosen_learning_rate": chosen,
            "grid": grid_summary,
            "runs": runs,
            "parameters": runs[0]["parameters"],
            "flops": None,
            "history_seed0": {k: v.tolist() for k, v in history.items()},
        }
        # val_accuracy: the best-val checkpoint train.py keeps (selected on val,
        # so optimistic); last_val_accuracy: the last epoch's, unselected.
        for key in (
            "val_accuracy",
            "last_val_accuracy",
            "val_loss",
            "test_accuracy",
            "test_loss",
        ):
            values = [r.get(key) for r in runs]
            if any(v is not None for v in values):
                entry[key] = mean_std(values)
        entry["train_seconds"] = mean_std(r["train_seconds"] for r in runs)
        results["variants"][variant] = entry
        results["differences"] = paired_differences(results["variants"])
        classes = len(runs_lib.read_labels(runs[0]["run_dir"]))
        results["dataset"] = {
            "name": config.dataset,
            "classes": classes,
            "train": f"{config.shots or 'all'}/class",
            "val": f"{config.val_shots or 'all'}/class",
            "test": "whole split" if "test_accuracy" in runs[0] else 0,
        }
        results["backend"] = keras.backend.backend()
        write_results(results, config.out)
    return results


# ----------------------------------------------------------------- figures


def plot_results_curves(
    results: dict, path: str, variants: tuple[str, ...] = ("none", "unified")
) -> None:
    """Training curves (seed 0, chosen learning rate) of variants, one plot."""
    histories = {}
    for name in variants:
        history = results["variants"].get(name, {}).get("history_seed0")
        if history:
            columns = {k: np.asarray(v) for k, v in history.items()}
            columns["epoch"] = np.arange(len(columns["loss"]), dtype=np.float64)
            histories[name] = columns
    if not histories:
        raise ValueError(f"No training history for {', '.join(variants)}.")
    visualize.plot_curves(histories, path)
