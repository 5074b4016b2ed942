"""Entry scripts and the package as a user meets them: quiet, one-line errors."""

import getpass
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO, run_script, run_scripts


def test_import_keras_attn_is_quiet():
    """No TensorFlow start-up lines (twice, before) and no `cuInit` error on a
    machine without a GPU; a user's own TF_CPP_MIN_LOG_LEVEL is kept."""
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    code = (
        "import os, keras_attn, tensorflow as tf\n"
        "tf.constant(1.0) + 1.0  # initialises the devices (the cuInit line)\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    result = run_script("-c", code, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""
    assert result.stdout.strip() == "3"


def test_a_users_tensorflow_log_level_is_kept(monkeypatch):
    from keras_attn import cli

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    cli.import_tensorflow_quietly()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    cli.import_tensorflow_quietly()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


@pytest.mark.large
def test_the_test_session_removes_its_cache(tmp_path):
    """A test session's image and feature cache (KERAS_ATTN_CACHE, in the temp
    folder, also used by the scripts it runs) is gone when it ends."""
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp), PYTHONPATH=REPO)
    env.pop("KERAS_ATTN_CACHE")
    test = "tests/test_data_folder.py::test_folder_skips_corrupt_and_truncated_files"
    result = run_script("-m", "pytest", "-q", "-p", "no:cacheprovider", test, env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed" in result.stdout
    left = os.listdir(temp)
    assert f"pytest-of-{getpass.getuser()}" in left  # it used this temp folder
    assert not [name for name in left if name.startswith("keras_attn_test_cache_")]


@pytest.mark.large
def test_train_help_exits_0_and_shows_the_recipe_defaults():
    result = run_script("train.py", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    usage = " ".join(result.stdout.split())  # absl wraps the help text
    # The docstring's example keeps its continuation backslash.
    assert "tin100_fewshot \\ --weights=../shared/weights/resnet18_tin100" in usage
    assert "--image_size: Side the model works at" in usage
    assert (
        "Default: the recipe's: 128 (shapes, stanford_cars, "
        "folder:stanford_cars_fewshot_224: 224)" in usage
    )
    assert (
        "Default: the recipe's: 2 (folder:stanford_cars_fewshot, "
        "folder:stanford_cars_fewshot_224: 1; shapes: 0)" in usage
    )
    for text in ("auto |", "hf://timm/resnet18.a1_in1k", "kaggle://"):
        assert text in usage  # --weights
    assert "<none|flip|crop|default|paper>" in usage  # --augment


def test_recipe_defaults_are_described_per_dataset():
    from keras_attn.training import recipes

    assert recipes.describe_default("batch_size") == "32"
    assert (
        recipes.describe_default("image_size")
        == "128 (shapes, stanford_cars, folder:stanford_cars_fewshot_224: 224)"
    )
    shots = recipes.describe_default("shots")
    assert shots == "10 (shapes, folder: every image)"


BAD_FLAGS = [
    (["train.py"], ["--resize=x"]),
    (["export.py"], ["--int8_io=int4"]),
    (["evaluate.py"], ["--batch_size=x"]),
    (["predict.py"], ["--resize=x", "model.keras", "a.jpg"]),
    (["benchmarks/reproduce.py"], ["--protocol=bogus"]),
    (["-m", "keras_attn.visualize"], ["--count=x"]),
]


@pytest.mark.large
def test_bad_flags_are_one_error_line_and_status_2():
    results = run_scripts(
        [[*script, *args] for script, args in BAD_FLAGS], PYTHONPATH=REPO
    )
    for (script, args), result in zip(BAD_FLAGS, results, strict=True):
        assert result.returncode == 2, (script, result.stderr[-2000:])
        (line,) = result.stderr.strip().splitlines()
        flag = args[0].split("=")[0]
        assert line.startswith(f"error: flag {flag}="), line
        assert line.endswith("(see --help)")


BAD_STAGE_FLAGS = [
    (["--attention_stages=5"], "--attention_stages must be 4 (the last stage)"),
    (["--attention_stages=x"], "--attention_stages takes 4, 3 or 3,4"),
    (["--attention=none", "--attention_stages=3"], "no attention to put on stage 3"),
    (["--attention=cbam", "--channel_gate"], "--channel_gate applies to"),
]


@pytest.mark.large
def test_bad_stage_flags_are_one_line(tmp_path):
    run_dir = f"--run_dir={tmp_path}/run"
    results = run_scripts(
        [["train.py", *args, run_dir] for args, _ in BAD_STAGE_FLAGS], PYTHONPATH=REPO
    )
    for (args, message), result in zip(BAD_STAGE_FLAGS, results, strict=True):
        assert result.returncode == 2, (args, result.stderr[-2000:])
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: ") and message in line, line
    assert not (tmp_path / "run").exists()


def test_a_terminated_command_leaves_no_temporary_files(tmp_path):
    """SIGTERM (kill, timeout, a scheduler) ends a command through its
    `finally` blocks: an atomic write in progress removes its hidden folder."""
    code = textwrap.dedent(
        f"""
        import time
        from absl import app
        from keras_attn.cli import run_main
        from keras_attn.utils import atomic_io

        def main(argv):
            with atomic_io.atomic_dir({str(tmp_path / "export")!r}) as tmp:
                open(tmp + "/model.tflite", "w").write("half")
                print("writing", flush=True)
                time.sleep(120)

        app.run(run_main(main))
        """
    )
    env = dict(os.environ, KERAS_ATTN_REGISTER="on_demand", PYTHONPATH=REPO)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "writing"
    proc.terminate()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert os.listdir(tmp_path) == []
