"""The variants a study compares: the peers and the unified module's
ablations, named as `benchmarks/reproduce.py --variants` takes them
(`unified@3`, `unified-no_memory`, `cbam@34`, ...)."""

from __future__ import annotations

from keras_attn.layers import BRANCHES
from keras_attn.models.classifier import check_stages

PEERS = ("none", "unified", "se", "cbam", "eca")


ALL_VARIANTS = (
    PEERS
    + tuple(f"unified-no_{b}" for b in BRANCHES)
    + tuple(f"unified-only_{b}" for b in BRANCHES)
)


def split_variant(name: str) -> tuple[str, tuple[int, ...]]:
    """`(name without its stages, stages)`: `unified@3` attends stage 3,
    `cbam@34` stages 3 and 4 (models/classifier.py); no `@` is stage 4."""
    base, _, stages = name.partition("@")
    if not stages:
        return base, (4,)
    if not stages.isdigit():
        raise ValueError(f"Variant {name!r}: after @ come stage digits (@4, @3, @34).")
    return base, tuple(int(c) for c in stages)


def parse_variant(name: str) -> tuple[str, dict]:
    """`(attention, attention_kwargs)` of a variant name.

    `none|unified|se|cbam|eca`, `unified-no_<branch>` (all branches but one)
    and `unified-only_<branch>` (that branch alone); a `+res` suffix on a
    unified variant sets `residual=True` (`X * (1 + A)`), a `+cg` suffix
    `channel_gate=True` (the extension). `@<stages>` at the end picks the
    backbone stages (`split_variant`).
    """
    full = name
    name, stages = split_variant(name)
    kwargs = {}
    for suffix, key in (("+cg", "channel_gate"), ("+res", "residual")):
        if name.endswith(suffix):
            name, kwargs[key] = name[: -len(suffix)], True
    base = name
    attention = None
    if base in PEERS:
        attention = base
    for prefix, pick in (
        ("unified-no_", lambda b: tuple(x for x in BRANCHES if x != b)),
        ("unified-only_", lambda b: (b,)),
    ):
        if base.startswith(prefix) and base[len(prefix) :] in BRANCHES:
            attention = "unified"
            kwargs = {"branches": pick(base[len(prefix) :]), **kwargs}
    if attention is None or (kwargs and attention != "unified"):
        raise ValueError(
            f"Unknown variant {full!r}. Use one of: {', '.join(ALL_VARIANTS)} "
            "(unified variants may end in +cg or +res; any may end in @4, @3 "
            "or @34)."
        )
    check_stages(stages, attention)
    return attention, kwargs


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
