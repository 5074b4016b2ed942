"""The hardware the current Keras backend computes on, whatever the backend.

`accelerator()` says whether the backend sees a GPU or TPU, `describe()`
names the device for logs and benchmark tables, and `auto_mixed_precision()`
picks the precision `--mixed_precision=auto` means on it: bfloat16 on TPUs
and on GPUs that compute in it natively (compute capability 8.0 and later:
A100, H100, RTX 30xx/40xx), float16 on older GPUs (V100, T4), none on CPUs.
"""

from __future__ import annotations

import os
import platform

import keras


def _jax_devices() -> list:
    import jax

    return jax.local_devices()


def accelerator() -> str | None:
    """`"gpu"`, `"tpu"` or None (CPU only) for the current Keras backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        platforms = {d.platform for d in _jax_devices()}
        return "tpu" if "tpu" in platforms else "gpu" if "gpu" in platforms else None
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("TPU"):
            return "tpu"
        return "gpu" if tf.config.list_physical_devices("GPU") else None
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else None
    return None


def gpu_compute_capability() -> tuple[int, int] | None:
    """(major, minor) of the first GPU, or None without one."""
    if accelerator() != "gpu":
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        gpu = next(d for d in _jax_devices() if d.platform == "gpu")
        value = getattr(gpu, "compute_capability", None)
        return tuple(int(v) for v in str(value).split(".")[:2]) if value else None
    if backend == "tensorflow":
        import tensorflow as tf

        gpu = tf.config.list_physical_devices("GPU")[0]
        return tf.config.experimental.get_device_details(gpu).get("compute_capability")
    import torch

    return tuple(torch.cuda.get_device_capability(0))


def auto_mixed_precision() -> str:
    """What `--mixed_precision=auto` means here: bfloat16, float16 or off."""
    kind = accelerator()
    if kind == "tpu":
        return "bfloat16"
    if kind == "gpu":
        capability = gpu_compute_capability()
        return "float16" if capability and capability < (8, 0) else "bfloat16"
    return "off"


def device_names() -> list[str]:
    """One name per local device the backend computes on (all CPUs count as one)."""
    backend = keras.backend.backend()
    if accelerator() is None:
        return [_cpu_name()]
    if backend == "jax":
        return [d.device_kind for d in _jax_devices() if d.platform != "cpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        if accelerator() == "tpu":
            return [d.name for d in tf.config.list_logical_devices("TPU")]
        return [
            tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")
        ]
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def describe() -> str:
    """E.g. `"1 x NVIDIA H100 80GB HBM3"` or `"AMD EPYC (2 cores)"`."""
    names = device_names()
    if accelerator() is None:
        return names[0]
    return ", ".join(f"{names.count(n)} x {n}" for n in dict.fromkeys(names))


def cpu_model() -> str:
    """The CPU's model name (`/proc/cpuinfo`), e.g. `"AMD EPYC"`."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The instruction sets that decide how fast int8 and fp32 kernels run on x86
# (dot-product int8: VNNI; wide vectors: AVX-512) and on ARM (asimddp: the
# int8 dot product XNNPACK's kernels use on phones).
CPU_FEATURES = (
    "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
    "amx_int8", "asimddp", "i8mm",
)  # fmt: skip


def cpu_features(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """Which of `CPU_FEATURES` this CPU has (the `flags` line of x86's
    `/proc/cpuinfo`, `Features` on ARM; empty where it cannot be read)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    have = set(line.split(":", 1)[1].split())
                    return [name for name in CPU_FEATURES if name in have]
    except OSError:
        pass
    return []


def _cpu_name() -> str:
    name = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return f"{name} ({cores or os.cpu_count()} cores)"
