"""One module per exported format. Each gives:

- `NAME`, `HINT` (the one line that says how to install its tools when
  `missing()` names one), `missing() -> str | None`;
- `variants(config)`: the files it writes for an `ExportConfig` (e.g. the
  TFLite quantisations), `file_name(variant)`;
- `export(run, inputs, out_dir, config) -> {variant: entry}`: converts,
  checks (`export.checks`) and writes each file that passes (atomically;
  one that fails is not written, and a stale one is removed);
- `versions() -> dict`: the versions of its tools, for `report.json`.

`keras_attn.export.pipeline` runs them in `FORMATS` order and imports each
only when asked for, so a missing optional runtime costs one line.
"""

FORMATS = ("saved_model", "tflite", "onnx", "openvino")
