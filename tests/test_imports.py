"""The package's import rules, checked on every module with `ast`.

Each package may import what its rule allows and nothing else, module-level
and function-level imports alike; there is no allow-list. The rules are the
layout's (README "How the code is organised", docs/architecture.md): the
foundation imports no other package, training ends at the run folder, a
`.tflite` runs without TensorFlow, research code (`studies`) is never imported
by the core. Also run for real: `import keras_attn` does not load training,
export or the dataset loaders.
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "keras_attn")

FOUNDATION = {"errors", "utils", "images", "tflite", "saving"}
COMMANDS = {"cli", "visualize"}
# Package -> the keras_attn packages its modules may import (besides itself).
MAY_IMPORT = {
    "foundation": set(),
    "layers": set(),
    "models": {"layers"},
    "data": set(),
    "runs": {"data.splits"},
    "inference": {"runs", "registration"},
    "evaluation": {"runs", "data", "inference"},
    "reports": {"runs", "models", "evaluation"},
    "distributed": {"runs"},
    "training": {
        "layers",
        "models",
        "data",
        "runs",
        "evaluation",
        "reports",
        "distributed",
    },  # fmt: skip
    "export": {"runs", "models", "inference", "reports"},
    "studies": {
        "layers",
        "models",
        "data",
        "runs",
        "inference",
        "evaluation",
        "reports",
        "training",
        "distributed",
        "export",
    },  # fmt: skip
    "commands": {
        "layers",
        "models",
        "data",
        "runs",
        "inference",
        "evaluation",
        "reports",
        "training",
        "distributed",
        "export",
        "studies",
        "commands",
    },  # fmt: skip
    # The root registers what a model.keras names, and nothing else.
    "root": {"registration"},
    "registration": {"layers", "models.resize"},
}
# Never imported by a library module at module level: the heavy or optional
# runtimes (a board with LiteRT alone, a JAX host without TensorFlow).
HEAVY = {
    "tensorflow", "tensorflow_datasets", "ai_edge_litert", "mediapipe",
    "onnx", "onnxruntime", "openvino", "nncf", "tf2onnx",
}  # fmt: skip
# What predicting or loading a model must not load.
HEAVY_PARTS = (
    "keras_attn.training", "keras_attn.export", "keras_attn.studies",
    "keras_attn.distributed", "tensorflow_datasets", "mediapipe",
)  # fmt: skip
LOADERS = tuple(
    f"keras_attn.data.{name}"
    for name in ("datasets", "folder", "tfds", "cache", "shapes", "augment")
)
# The entry scripts and the folders outside the package.
OUTSIDE = {"train", "evaluate", "export", "predict", "benchmarks", "tests", "conftest"}


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[: -len(".py")].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                yield ".".join(rel), path


def _is_module(dotted: str) -> bool:
    base = os.path.join(ROOT, *dotted.split("."))
    return os.path.isfile(base + ".py") or os.path.isdir(base)


def _package_of(module: str) -> str:
    """`keras_attn.training.trainer` -> `training`; the foundation's modules
    -> `foundation`; `keras_attn` -> `root`."""
    parts = module.split(".")[1:]
    if not parts:
        return "root"
    if parts[0] in FOUNDATION:
        return "foundation"
    if parts[0] in COMMANDS:
        return "commands"
    return parts[0]


def _imports(path: str):
    """`(imported module, line, at module level)` of every import in a file;
    `from keras_attn import x` names the module `keras_attn.x` when x is one,
    else the root itself (a name the root defines)."""
    tree = ast.parse(open(path).read(), path)
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                target = full if _is_module(full) else node.module
                yield target, node.lineno, id(node) in top


def _allowed(source: str, target: str) -> bool:
    """May module `source` import `keras_attn` module `target`?"""
    mine, theirs = _package_of(source), _package_of(target)
    if theirs == "root":
        return False  # rule: no library module takes a name from the root
    if theirs == "foundation":
        return True
    if mine == theirs:
        return True
    rest = target.split(".", 1)[1]
    return any(
        rest == allowed or rest.startswith(allowed + ".")
        for allowed in MAY_IMPORT[mine]
    )


def _rule_breaks():
    breaks = []
    for module, path in _modules():
        for target, line, _ in _imports(path):
            where = f"{os.path.relpath(path, ROOT)}:{line}"
            if target.split(".")[0] in OUTSIDE:
                breaks.append(f"{where} imports the script or folder {target}")
            elif target == "keras_attn" or target.startswith("keras_attn."):
                if not _allowed(module, target):
                    breaks.append(
                        f"{where}: {_package_of(module)} may not import {target}"
                    )
    return breaks


def test_every_module_follows_the_import_rules():
    assert _rule_breaks() == []


def test_no_library_module_imports_a_heavy_runtime_at_module_level():
    found = [
        f"{os.path.relpath(path, ROOT)}:{line} imports {target}"
        for _, path in _modules()
        for target, line, top in _imports(path)
        if top and target.split(".")[0] in HEAVY
    ]
    assert found == []


def test_package_inits_hold_re_exports_only():
    """No logic in a package's `__init__.py` (the root may register the
    model's classes): imports, constants, `__all__`, lazy `__getattr__`."""
    for module, path in _modules():
        if not path.endswith("__init__.py") or module == "keras_attn":
            continue
        tree = ast.parse(open(path).read())
        for node in tree.body:
            ok = isinstance(node, ast.Import | ast.ImportFrom | ast.Assign) or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            )
            ok = ok or (
                isinstance(node, ast.FunctionDef)
                and node.name in ("__getattr__", "__dir__")
            )
            assert ok, f"{os.path.relpath(path, ROOT)}:{node.lineno}"


def _shadowed_submodules(path: str, package: str):
    """Names a package's `__init__.py` binds to something other than the
    submodule of that name: `from p import m` then gets the name, not the module."""
    folder = os.path.dirname(path)
    tree = ast.parse(open(path).read(), path)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                bound = alias.asname or alias.name
                is_sub = os.path.isfile(os.path.join(folder, bound + ".py"))
                if is_sub and f"{node.module}.{alias.name}" != f"{package}.{bound}":
                    yield f"{os.path.relpath(path, ROOT)}:{node.lineno} {bound}"


def test_no_package_name_hides_a_submodule():
    found = [
        shadow
        for module, path in _modules()
        if path.endswith("__init__.py")
        for shadow in _shadowed_submodules(path, module)
    ]
    assert found == []


def test_a_hidden_submodule_is_caught(tmp_path):
    (tmp_path / "join.py").write_text("def join():\n    pass\n")
    init = tmp_path / "__init__.py"
    init.write_text("from pkg.join import join\n")
    assert [s.split()[-1] for s in _shadowed_submodules(str(init), "pkg")] == ["join"]
    init.write_text("from pkg import join\n")
    assert list(_shadowed_submodules(str(init), "pkg")) == []


def test_the_rules_catch_a_break(tmp_path, monkeypatch):
    """The checker itself: an export module that imports training, and one
    that takes a name from the root, are both reported."""
    fake = tmp_path / "keras_attn" / "export"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text(
        "from keras_attn.training import trainer\nfrom keras_attn import load_model\n"
    )
    (tmp_path / "keras_attn" / "training").mkdir()
    (tmp_path / "keras_attn" / "training" / "trainer.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", str(tmp_path / "keras_attn"))
    breaks = _rule_breaks()
    assert len(breaks) == 2
    assert "export may not import keras_attn.training.trainer" in breaks[0]
    assert "export may not import keras_attn" in breaks[1]


@pytest.mark.parametrize(
    "code, absent",
    [
        ("import keras_attn", (*HEAVY_PARTS, "keras_attn.data",
                               "keras_attn.inference", "keras_attn.runs")),
        # The run folder reaches data.splits, not the loaders.
        ("import keras_attn.inference", (*HEAVY_PARTS, *LOADERS)),
    ],
)  # fmt: skip
def test_importing_loads_only_what_it_needs(code, absent):
    _loads_none_of(code, absent, {})


def test_predict_on_a_tflite_file_loads_no_keras_or_tensorflow(tmp_path):
    """What `predict.py` does with a `.tflite` file, registration on demand:
    neither Keras nor TensorFlow is imported (startup 0.5 s, not 9 s)."""
    from conftest import export_tiny_classifier

    folder = export_tiny_classifier(tmp_path, ["a", "b", "c"], 32)
    code = (
        "import numpy as np\nfrom keras_attn import inference\n"
        f"model = inference.load_classifier({str(folder / 'model_int8.tflite')!r})\n"
        "print(model.predict(np.zeros((32, 32, 3), np.uint8)).shape)"
    )
    env = {"KERAS_ATTN_REGISTER": "on_demand"}
    # "keras." and "keras_hub" (not "keras": keras_attn shares the prefix).
    _loads_none_of(code, ("keras.", "keras_hub", "tensorflow"), env)


def _loads_none_of(code: str, absent: tuple, env: dict) -> None:
    probe = (
        f"{code}\nimport sys\n"
        f"print(sorted(m for m in sys.modules if m.startswith({absent!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
