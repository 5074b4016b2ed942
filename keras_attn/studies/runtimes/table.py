"""The benchmark's markdown: the speed table, the targets, what runs where
in each int8 file and where the time goes."""

from __future__ import annotations

from keras_attn.studies.runtimes.exports import PEAK_NAMES, RUNTIME_NAMES
from keras_attn.studies.runtimes.graphs import PROFILE_RUNS


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(result: dict) -> str:
    threads = result["threads"]
    modes = [f"t{t}" for t in threads] + (["batch"] if result["batch_size"] > 1 else [])
    peak = result["peak_gmac_per_s"]
    lines = [
        f"Machine: {result['machine']}; load average (1 min) "
        f"{result['load']['min']}-{result['load']['max']} over the rounds "
        f"(median {result['load']['median']}). {result['repeats']} interleaved "
        "rounds; medians.",
        "",
        "Peak (GMAC/s, the fastest matmul of each precision; "
        f"{result['peak_size']}^3): "
        + ", ".join(
            f"{p} {m[1:]} thread{'s' if m != 't1' else ''} {v:.1f}"
            for (p, m), v in sorted(peak.items())
        )
        + " (measured: "
        + ", ".join(
            f"{PEAK_NAMES[name]} {m[1:]} thr {v:.1f}"
            for (name, m), v in sorted(result["peak_measured"].items())
        )
        + ").",
        "",
    ]
    head = ["px", "variant", "runtime", "GMAC/img"]
    for mode in modes:
        if mode == "batch":
            head.append(
                f"batch {result['batch_size']}, {max(threads)} thr: img/s (% peak)"
            )
        else:
            head.append(f"{mode[1:]} thr: ms (% peak)")
    head += [f"x none ({modes[0][1:]} thr)", f"x plain ({modes[0][1:]} thr)"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + " --- |" * 3 + " ---: |" * (len(head) - 3))
    for entry in result["table"]:
        cells = [
            str(entry["size"]),
            f"`{entry['variant']}`",
            RUNTIME_NAMES[entry["runtime"]],
            fmt(entry["gmac"], 3),
        ]
        for mode in modes:
            row = entry["modes"].get(mode)
            if row is None:
                cells.append("n/a" if entry["runtime"] == "web" else "-")
                continue
            share = row.get("peak_share")
            share = "" if share is None else f" ({100 * share:.0f}%)"
            digits = 1 if row["median"] >= 10 else 2
            cells.append(f"{row['median']:.{digits}f}{share}")
        for other in ("none", "plain"):
            r = entry["ratios"].get(other)
            cells.append("-" if r is None else f"{r['median']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Targets (issue 28): latency ratios paired by round, median "
        "[quartiles]; a batch's is the inverse of its images/s ratio; `~`: "
        "the quartiles straddle the limit (met or missed within this "
        "machine's noise).",
        "",
        "| px | runtime | ratio | limit | "
        + " | ".join(m if m == "batch" else f"{m[1:]} thr" for m in modes)
        + " |",
        "| --- | --- | --- | ---: |" + " ---: |" * len(modes),
    ]
    grouped = {}
    for t in result["targets"]:
        grouped.setdefault((t["size"], t["runtime"], t["ratio"], t["limit"]), {})[
            t["mode"]
        ] = t
    for (size, runtime, name, limit), by_mode in grouped.items():
        cells = [str(size), RUNTIME_NAMES[runtime], name, f"{limit:.2f}"]
        for mode in modes:
            t = by_mode.get(mode)
            if t is None:
                cells.append("n/a")
                continue
            q = t["quartiles"]
            mark = "met" if t["met"] else "**missed**"
            if q[0] <= t["limit"] < q[1]:
                mark += "~"
            cells.append(f"{t['median']:.3f} [{q[0]:.2f}, {q[1]:.2f}] {mark}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Fastest fp32 runtime (of `none` and `unified`):", ""]
    for size, by_mode in result["fastest_fp32"].items():
        text = "; ".join(
            f"{m if m == 'batch' else m[1:] + ' thr'}: "
            f"{RUNTIME_NAMES[v.split(' ')[0]]} {v.split(' ', 1)[1]}"
            for m, v in by_mode.items()
        )
        lines.append(f"- {size} px: {text}")
    lines += [
        "",
        "What runs where in each int8 file:",
        "",
        "| px | variant | LiteRT: XNNPACK partitions | QUANTIZE / DEQUANTIZE | "
        "ops outside XNNPACK | ONNX Runtime: QLinearConv / float Conv / Q / DQ | "
        "OpenVINO: convolutions by precision |",
        "| --- | --- | ---: | --- | --- | --- | --- |",
    ]
    for (size, variant), graphs in result["graphs"].items():
        lite = graphs.get("litert_int8")
        onnx_g = graphs.get("onnx_int8")
        ov_g = graphs.get("openvino_int8")
        cells = [str(size), f"`{variant}`"]
        if lite:
            outside = ", ".join(
                f"{k} x{v}" for k, v in lite["ops_outside_xnnpack"].items()
            )
            per_partition = "+".join(map(str, lite["ops_per_partition"]))
            cells += [
                f"{lite['xnnpack_partitions']} ({per_partition} ops)",
                f"{lite['quantize_ops']} / {lite['dequantize_ops']}",
                outside or "-",
            ]
        else:
            cells += ["-", "-", "-"]
        if onnx_g:
            cells.append(
                f"{onnx_g['quantized_convs']} / {onnx_g['float_convs']} / "
                f"{onnx_g['quantize_linear']} / {onnx_g['dequantize_linear']}"
            )
        else:
            cells.append("-")
        if ov_g:
            cells.append(
                ", ".join(
                    f"{k.split(':')[1]} x{v}"
                    for k, v in sorted(ov_g["convolutions_by_precision"].items())
                )
            )
        else:
            cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Where the time goes (profilers, 1 thread, {PROFILE_RUNS} runs of each "
        "int8 file; share of the time in nodes named after the attention layer, "
        "and the op types that take most):",
        "",
        "| px | variant | runtime | ms a run | attention share | top op types |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for (size, variant), graphs in result["graphs"].items():
        for runtime, profile in graphs.get("profiles", {}).items():
            top = ", ".join(
                f"{k} {100 * v:.0f}%"
                for k, v in list(profile["op_type_shares"].items())[:4]
            )
            lines.append(
                f"| {size} | `{variant}` | {RUNTIME_NAMES[runtime]} | "
                f"{profile['ms_per_run']:.2f} | "
                f"{100 * profile['attention_share']:.1f}% | {top} |"
            )
    return "\n".join(lines) + "\n"
