"""The web page (`export.py --web`, keras_attn/export/web/) in a real
headless Chromium, started here on 127.0.0.1 with every other host blocked.

A small convnet trained for a few seconds to name a photo's colour (a
confident model: the int8 file's uint8 outputs do not tie), photos of
several aspect ratios, and the page's top-1 compared with LiteRT's (Python
`ai_edge_litert`, the photos prepared as `export.clients` prepares them) on
the same photos. The page's JavaScript and WebAssembly come from an `npm
install` made in the test session; the browser tests skip, saying why, when
npm, Chromium or playwright is missing.
"""

import json
import os
import shutil
import subprocess

import keras
import numpy as np
import pytest
from conftest import run_script, run_scripts
from PIL import Image

from keras_attn import export, runs
from keras_attn.errors import UserError
from keras_attn.export import clients, web
from keras_attn.export.web import browser
from keras_attn.inference import TFLiteClassifier
from keras_attn.utils import atomic_io

LABELS = ["red", "green", "blue", "yellow"]
COLOURS = np.array([(200, 30, 40), (40, 170, 60), (40, 60, 200), (220, 200, 40)])
SIZE = 32
# (height, width) of the photos: square, landscape, portrait, panoramic.
SHAPES = [(64, 64), (48, 96), (96, 48), (40, 120), (90, 60), (60, 80)]


# ---------------------------------------------------------------- fixtures


def _colour_images(rng, count, size=SIZE):
    labels = rng.integers(0, len(LABELS), count)
    jitter = rng.normal(0, 18, (count, 1, 1, 3))
    noise = rng.normal(0, 22, (count, size, size, 3))
    images = COLOURS[labels][:, None, None, :] + jitter + noise
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def colour_model():
    """A convnet trained for a few seconds to name the colour of a photo."""
    keras.utils.set_random_seed(0)
    images, labels = _colour_images(np.random.default_rng(0), 1024)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(len(LABELS)),
        ],
        name="colours",
    )
    model.compile(
        keras.optimizers.Adam(0.03),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images, labels, batch_size=64, epochs=8, verbose=0)
    return model


@pytest.fixture(scope="module")
def calibration():
    return _colour_images(np.random.default_rng(1), 64)[0]


def _photo(rng, label, shape, sides=None):
    """A photo of one colour (with noise), or of `sides` left and right of
    its centred square."""
    height, width = shape
    photo = np.broadcast_to(COLOURS[label], (height, width, 3)).astype(float)
    if sides is not None:
        side = min(height, width)
        left, top = (width - side) // 2, (height - side) // 2
        mask = np.ones((height, width), bool)
        mask[top : top + side, left : left + side] = False
        photo[mask] = COLOURS[sides]
    photo = photo + rng.normal(0, 18, 3) + rng.normal(0, 22, photo.shape)
    return np.clip(photo, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """30 plain photos (every colour and shape), JPEG and PNG."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(2)
    files, labels = [], []
    for i in range(30):
        label, shape = i % len(LABELS), SHAPES[i % len(SHAPES)]
        files.append(str(folder / f"{i:02d}.{'png' if i % 5 == 0 else 'jpg'}"))
        Image.fromarray(_photo(rng, label, shape)).save(files[-1], quality=92)
        labels.append(label)
    return runs.Photos(files, np.array(labels), [os.path.basename(f) for f in files])


@pytest.fixture(scope="module")
def framed_photos(tmp_path_factory):
    """Panoramic (3:1 and 1:3) photos whose centred square is one colour and
    whose sides are another: the crop contract names the centre's colour,
    the whole frame stretched the sides'."""
    folder = tmp_path_factory.mktemp("framed")
    rng = np.random.default_rng(3)
    files, labels = [], []
    for i in range(8):
        label, sides = i % len(LABELS), (i + 2) % len(LABELS)
        shape = (40, 120) if i % 2 else (120, 40)
        files.append(str(folder / f"framed_{i}.jpg"))
        Image.fromarray(_photo(rng, label, shape, sides)).save(files[-1], quality=92)
        labels.append(label)
    return runs.Photos(files, np.array(labels), [os.path.basename(f) for f in files])


def _int8_file(model, calibration, resize, folder):
    content = export.convert(
        model, "int8", calibration_images=calibration, calibration_steps=64
    )
    content = export.add_metadata(content, LABELS, model.name, "int8", resize)
    path = folder / f"model_int8_{resize}.tflite"
    path.write_bytes(content)
    return str(path)


def _litert(path, photos, resize):
    """LiteRT's probabilities on the photos, as `export.clients` runs it."""
    with open(path, "rb") as f:
        clf = TFLiteClassifier(f.read(), LABELS, num_threads=2)
    return clf.predict(clients.prepared(photos, clf.input_size, resize))


@pytest.fixture(scope="module")
def npm_dir(tmp_path_factory):
    """An npm install of the page's packages, made in this test session."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the page's JavaScript comes from npm")
    if browser.browser_missing():
        pytest.skip(f"cannot check the page here: {browser.browser_missing()}")
    folder = tmp_path_factory.mktemp("npm")
    packages = [f"{name}@{version}" for name, version in (web.MEDIAPIPE, web.LITERTJS)]
    result = subprocess.run(
        [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", *packages],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.skip(f"npm install {' '.join(packages)} failed: {result.stderr[-300:]}")
    return str(folder)


@pytest.fixture(scope="module")
def attention_file(colour_model, calibration, tmp_path_factory):
    """The two-output file (probabilities, map) the page's LiteRT.js runs."""

    class Run:  # what `attention_tflite` reads of a run
        model = colour_model
        labels = LABELS

        class samples:  # noqa: N801
            class calibration:  # noqa: N801
                images = calibration

    path = tmp_path_factory.mktemp("attention") / web.ATTENTION_FILE
    path.write_bytes(web.attention_tflite(Run, "crop", None, 0))
    return str(path)


# ---------------------------------------------------------------- without a browser


def _fake_npm(folder):
    """An npm prefix holding the packages' file layout (tiny files)."""
    for (name, version), files in (
        (web.MEDIAPIPE, web.FILES[web.MEDIAPIPE[0]]),
        (web.LITERTJS, web.FILES[web.LITERTJS[0]]),
        (web.LITERTJS_UTILS, web.FILES[web.LITERTJS_UTILS[0]]),
    ):
        package = folder / "node_modules" / name
        for file in files:
            (package / file).parent.mkdir(parents=True, exist_ok=True)
            (package / file).write_text("//")
        manifest = {"name": name, "version": version}
        (package / "package.json").write_text(json.dumps(manifest))
    return folder


def _config(page_dir):
    page = (page_dir / "index.html").read_text()
    start = page.index('<script type="application/json" id="config">') + 44
    return json.loads(page[start : page.index("</script>", start)]), page


def test_page_offline_copies_the_packages_and_says_so(tmp_path):
    model = tmp_path / "model_int8.tflite"
    model.write_bytes(b"TFL3")
    npm = _fake_npm(tmp_path / "npm")
    for given in (npm, npm / "node_modules", npm / "node_modules" / web.MEDIAPIPE[0]):
        page_dir = tmp_path / "page"
        entry = web.write_page(
            str(page_dir), str(model), LABELS, "crop", "t", str(given), str(model)
        )
        config, page = _config(page_dir)
        assert config["mediapipe"]["source"] == "local"
        assert config["mediapipe"]["bundle"] == "./vendor/mediapipe/vision_bundle.mjs"
        assert config["attention"]["core"] == "./vendor/litertjs/core/dist/index.js"
        assert "connect-src 'self' blob: data:\"" in page  # no other host
        assert "cdn" not in page.replace("MediaPipe from a CDN", "")
        assert entry["mediapipe"]["source"] == entry["litertjs"]["source"] == "local"
        for file in ("vendor/mediapipe/wasm/vision_wasm_nosimd_internal.wasm",
                     "vendor/litertjs/wasm-utils/dist/index.js", "labels.txt",
                     web.ATTENTION_FILE, "app.mjs"):  # fmt: skip
            assert (page_dir / file).is_file() and file in entry["files"]
        shutil.rmtree(page_dir)


def test_page_without_npm_loads_pinned_cdn_files_and_says_so(tmp_path):
    model = tmp_path / "model_int8.tflite"
    model.write_bytes(b"TFL3")
    entry = web.write_page(str(tmp_path / "p"), str(model), LABELS, "squash", "t")
    config, page = _config(tmp_path / "p")
    base = f"https://cdn.jsdelivr.net/npm/@mediapipe/tasks-vision@{web.MEDIAPIPE[1]}"
    assert config["mediapipe"] == {
        "version": web.MEDIAPIPE[1], "source": "cdn", "base": base,
        "bundle": f"{base}/vision_bundle.mjs", "wasm": f"{base}/wasm",
    }  # fmt: skip
    assert "connect-src 'self' blob: data: https://cdn.jsdelivr.net\"" in page
    assert config["attention"] is None and "no attention map" in config["attentionNote"]
    assert not (tmp_path / "p" / "vendor").exists()
    assert entry["mediapipe"]["from"] == base
    assert (
        "the internet (export with --web_npm=DIR"
        in (tmp_path / "p" / "app.mjs").read_text()
    )


def test_web_npm_without_the_package_says_what_to_install(tmp_path):
    with pytest.raises(UserError) as caught:
        web.check_npm(str(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert f"npm install --prefix {tmp_path} {web.MEDIAPIPE[0]}@" in message
    assert "offline: copy such a folder" in message
    npm = _fake_npm(tmp_path / "npm")
    os.remove(npm / "node_modules" / web.MEDIAPIPE[0] / "vision_bundle.mjs")
    with pytest.raises(UserError, match="lacks vision_bundle.mjs"):
        web.check_npm(str(npm))


def test_web_without_a_passing_int8_file_says_to_export_it(tmp_path):
    export_dir = tmp_path / "run" / "export"
    export_dir.mkdir(parents=True)
    failed = {"tflite": {"int8": {"status": "failed"}}}
    (export_dir / "report.json").write_text(json.dumps(failed))
    with pytest.raises(UserError) as caught:
        web.check_request(str(tmp_path / "run"), None, False, "uint8")
    assert "needs a passing model_int8.tflite; in" in str(caught.value)
    assert "it failed its checks: export int8 first: python export.py" in str(
        caught.value
    )
    with pytest.raises(UserError, match="MediaPipe cannot feed --int8_io=int8"):
        web.check_request(str(tmp_path / "run"), None, True, "int8")


def test_an_export_keeps_the_page_only_while_its_int8_file_is_the_same(tmp_path):
    web_dir = tmp_path / web.WEB_DIR
    web_dir.mkdir()
    for folder in (tmp_path, web_dir):
        (folder / web.MODEL_FILE).write_bytes(b"TFL3 int8")
    entry = {
        "status": "ok",
        "model_sha256": atomic_io.sha256(str(web_dir / web.MODEL_FILE)),
    }
    (tmp_path / "report.json").write_text(json.dumps({"web": entry}))
    report = {}
    web.keep_in_step(report, str(tmp_path))  # a re-export left the file alone
    assert report["web"] == entry and web_dir.is_dir()
    (tmp_path / web.MODEL_FILE).write_bytes(b"TFL3 int8, converted again")
    report = {}
    web.keep_in_step(report, str(tmp_path))
    assert "web" not in report and not web_dir.exists()


@pytest.mark.large
def test_web_cli_errors_are_one_line(tmp_path):
    no_npm, no_int8 = run_scripts(
        [
            ["export.py", f"--run={tmp_path}", "--web", f"--web_npm={tmp_path}"],
            ["export.py", f"--run={tmp_path / 'run'}", "--web_only"],
        ]
    )
    for result in (no_npm, no_int8):
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert f"npm install --prefix {tmp_path} {web.MEDIAPIPE[0]}@" in no_npm.stderr
    assert "has no export report: export int8 first" in no_int8.stderr


# ---------------------------------------------------------------- in Chromium


@pytest.mark.parametrize(
    "resize",
    # crop (a region of interest) by default; the other two in the large run.
    ["crop", pytest.param("squash", marks=pytest.mark.large),
     pytest.param("pad", marks=pytest.mark.large)],
)  # fmt: skip
def test_page_agrees_with_litert_on_photos(
    resize, colour_model, calibration, photos, framed_photos, npm_dir, tmp_path
):
    model = _int8_file(colour_model, calibration, resize, tmp_path)
    page_dir = tmp_path / "web"
    web.write_page(str(page_dir), model, LABELS, resize, "colours", npm_dir)
    # The framed photos where the contract decides them (crop) only.
    framed = resize == "crop"
    files = photos.files + (framed_photos.files if framed else [])
    labels = np.concatenate([photos.labels] + [framed_photos.labels] * framed)
    reference = np.concatenate(
        [_litert(model, photos, resize)]
        + [_litert(model, framed_photos, resize)] * framed
    )
    measured = web.check_page(str(page_dir), files, labels, reference, False)
    print(resize, json.dumps({k: v for k, v in measured.items() if k != "top1"}))
    assert measured["check"]["ok"], measured["check"]["detail"]
    top1 = np.array(measured["top1"])
    agreement = np.mean(top1 == reference.argmax(1))
    assert agreement >= 0.95
    assert abs(np.mean(top1 == labels) - np.mean(reference.argmax(1) == labels)) <= 0.02
    assert measured["blocked_requests"] == []
    if framed:  # the page followed the contract: the centre's colour, where
        assert np.mean(top1 == labels) == 1.0  # the whole frame names the sides'
        stretched = _litert(model, framed_photos, "squash").argmax(1)
        assert np.mean(stretched == framed_photos.labels) <= 0.25


def test_attention_map_and_camera_frames(
    colour_model, calibration, photos, attention_file, npm_dir, tmp_path
):
    model = _int8_file(colour_model, calibration, "crop", tmp_path)
    page_dir = tmp_path / "web"
    entry = web.write_page(
        str(page_dir), model, LABELS, "crop", "colours", npm_dir, attention_file
    )
    assert entry["litertjs"]["version"] == web.LITERTJS[1]
    camera = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
    with browser.serve(str(page_dir)) as base:
        with browser.browser(base, camera) as (page, log):
            assert browser.open_page(page, base + "index.html")["ok"]
            (result,) = browser.classify_files(page, photos.files[:1])
            shown = browser.show_attention(page)
            assert page.is_visible("#overlay")
            # Chromium's fake camera: a frame is classified, its map drawn.
            page.click("#camera")
            page.click("#snap")
            page.wait_for_function("document.body.dataset.attention >= 2")
            frame = page.evaluate("window.lastResult")
            frame_map = page.evaluate("window.lastAttention")
    assert "error" not in shown, shown
    assert shown["shape"] == [1, SIZE - 2, SIZE - 2]  # the conv's valid output
    assert shown["top1"] == result["top"][0]["index"] == photos.labels[0]
    assert frame["top"][0]["label"] in LABELS and frame_map["shape"] == shown["shape"]
    assert log["blocked"] == [] and log["page_errors"] == []


def test_missing_model_and_missing_cdn_are_named_on_the_page(
    colour_model, calibration, npm_dir, tmp_path
):
    model = _int8_file(colour_model, calibration, "squash", tmp_path)
    offline, online = tmp_path / "offline", tmp_path / "online"
    web.write_page(str(offline), model, LABELS, "squash", "colours", npm_dir)
    os.remove(offline / web.MODEL_FILE)  # served without the model
    web.write_page(str(online), model, LABELS, "squash", "colours")
    lines = {}
    for page_dir in (offline, online):
        with browser.serve(str(page_dir)) as base:
            with browser.browser(base) as (page, log):
                ready = browser.open_page(page, base + "index.html")
                lines[page_dir.name] = (ready, page.inner_text("#runtime"), log)
    ready, runtime, log = lines["offline"]
    assert not ready["ok"]
    assert (
        "Cannot start the classifier: The model file model_int8.tflite is missing "
        "on the server (HTTP 404" in ready["error"]
    )
    assert "works offline" in runtime
    ready, runtime, log = lines["online"]  # the CDN is blocked here, as offline
    assert not ready["ok"]
    assert (
        "cannot load MediaPipe Tasks from https://cdn.jsdelivr.net/npm/"
        in ready["error"]
    )
    assert "export with --web_npm=DIR" in ready["error"]
    assert "needs the internet" in runtime
    assert log["blocked"][0].startswith("https://cdn.jsdelivr.net/npm/@mediapipe/")


# ---------------------------------------------------------------- export.py --web


@pytest.fixture(scope="module")
def colour_run(colour_model, calibration, photos, framed_photos, tmp_path_factory):
    """A run folder of the colour model (`crop`), with photos to check on."""
    from keras_attn.data.splits import Split

    run_dir = tmp_path_factory.mktemp("runs") / "colours-run"
    run_dir.mkdir()
    colour_model.save(run_dir / runs.MODEL)
    runs.write_config(str(run_dir), {"dataset": "colours", "resize": "crop"})
    runs.write_labels(str(run_dir), LABELS)
    held_out = _colour_images(np.random.default_rng(4), 40)
    rng = np.random.default_rng(5)
    runs.write_samples(
        str(run_dir),
        runs.Samples(
            Split(calibration, rng.integers(0, len(LABELS), len(calibration))),
            Split(*held_out),
            "test",
        ),
    )
    sources = photos.files + framed_photos.files
    labels = np.concatenate([photos.labels, framed_photos.labels])
    runs.write_photos(str(run_dir), sources, labels, sources, min_side=200)
    return run_dir


@pytest.mark.large
def test_export_web_writes_checks_and_records_the_page(colour_run, npm_dir):
    result = run_script(
        "export.py", f"--run={colour_run}", "--web", f"--web_npm={npm_dir}",
        "--formats=tflite", "--quantize=int8", "--latency_runs=2", timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    web_dir = colour_run / "export" / web.WEB_DIR
    assert f"Web page: {web_dir} (" in result.stdout
    assert "copied beside it: works offline; attention map; Chromium" in result.stdout
    report = json.loads((colour_run / "export" / "report.json").read_text())
    entry = report["web"]
    assert entry["status"] == "ok" and entry["mediapipe"]["source"] == "local"
    assert entry["attention"]["status"] == "ok"
    assert entry["attention"]["top1_agreement_int8"] >= 0.95
    check = entry["check"]
    print(json.dumps({k: v for k, v in check.items() if k != "top1"}))
    assert check["check"]["ok"] and check["photos"] == 38
    assert check["top1_agreement_litert"] >= 0.95
    assert abs(check["accuracy"] - check["litert_accuracy"]) <= 0.02
    assert check["attention_map"]["shape"] == [1, SIZE - 2, SIZE - 2]
    assert (web_dir / web.MODEL_FILE).read_bytes() == (
        colour_run / "export" / web.MODEL_FILE
    ).read_bytes()
    for name, size in entry["files"].items():
        assert (web_dir / name).stat().st_size == size
    # A re-export that leaves the int8 file alone keeps the page and its entry.
    again = run_script(
        "export.py", f"--run={colour_run}", "--formats=tflite", "--quantize=fp32",
        "--latency_runs=2", timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    report = json.loads((colour_run / "export" / "report.json").read_text())
    assert report["web"] == entry and (web_dir / "index.html").is_file()
