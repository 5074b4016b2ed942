"""Shared test set-up: quiet TensorFlow, paths to ../shared, the `large` marker."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared"))
TIN100 = os.path.join(SHARED, "data", "tin100_fewshot")
CIFAR10 = os.path.join(SHARED, "data", "cifar10")
CIFAR100_SAMPLES = os.path.join(SHARED, "data", "cifar100_samples")
WEIGHTS = os.path.join(SHARED, "weights", "resnet18_tin100")


def require(path: str) -> str:
    """Skips the test when a ../shared resource is absent."""
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent (it lives in ../shared beside the repo)")
    return path


def pytest_addoption(parser):
    parser.addoption("--run_large", action="store_true", help="run tests marked large")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run_large"):
        return
    skip = pytest.mark.skip(reason="large test: run with --run_large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)
