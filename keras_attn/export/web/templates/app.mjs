// keras-attn in the browser: a photo or a camera frame -> the top-k labels of
// the run's int8 .tflite, run by MediaPipe Tasks' ImageClassifier (it reads
// the labels and the input size from the file's metadata); optionally the
// attention map, from a second, two-output file run by LiteRT.js (MediaPipe
// refuses a file with two outputs). export.py writes the configuration into
// index.html (#config): the model, labels, the run's resize contract and
// where the JavaScript and WebAssembly come from (this folder, or a CDN).

const config = JSON.parse(document.getElementById("config").textContent);
window.__appStarted = true;

const TOP_K = config.topK || 5;
const $ = (id) => document.getElementById(id);
let classifier = null; // MediaPipe ImageClassifier
let litert = null; // {runtime, model, input, labels}: LiteRT.js, for the map
let shown = null; // {source, width, height}: what is on screen
let counter = 0;

// ---------- lines the user reads ----------
function status(text) { $("status").textContent = text; }

function showError(text) {
  const box = $("error");
  box.textContent = box.textContent ? `${box.textContent}\n${text}` : text;
  console.error(text);
}

// MediaPipe appends a C++ "=== Source Location Trace" to its messages; a
// failed <script> is an Event, not an Error. One line either way.
function describe(e) {
  if (e instanceof Error) return (e.message || e.name).split("\n")[0];
  if (e && e.type === "error" && e.target && (e.target.src || e.target.href)) {
    return `could not load ${e.target.src || e.target.href}`;
  }
  return String(e).split("\n")[0];
}

const where = config.mediapipe.source === "local"
  ? `MediaPipe Tasks ${config.mediapipe.version} is served from this folder: the page works offline.`
  : `MediaPipe Tasks ${config.mediapipe.version} is loaded from ${config.mediapipe.base}: the page needs ` +
    "the internet (export with --web_npm=DIR for a page that works offline).";
$("runtime").textContent = where;
console.info(`keras-attn web page: ${where}`);

// ---------- the files ----------
async function requireFile(url, what) {
  let response;
  try {
    response = await fetch(url, { method: "HEAD", cache: "no-store" });
  } catch (e) {
    throw new Error(`${what} ${url} cannot be fetched (${describe(e)})`);
  }
  if (!response.ok) {
    throw new Error(
      `${what} ${url} is missing on the server (HTTP ${response.status} ${response.statusText}): ` +
      "copy it beside index.html, or write the page again with python export.py --web_only",
    );
  }
}

async function importFrom(url, what) {
  try {
    return await import(url);
  } catch (e) {
    const hint = config.mediapipe.source === "local"
      ? "the folder is incomplete: write the page again with python export.py --web_only"
      : "no internet, or the CDN is blocked: export with --web_npm=DIR for a page that works offline";
    throw new Error(`cannot load ${what} from ${url} (${describe(e)}): ${hint}`);
  }
}

// ---------- the run's resize contract ----------
// What the model saw of a frame (width x height), in frame pixels:
// squash: all of it, stretched; crop: the centred square; pad: the frame
// letterboxed to a square with the pad colour.
function region(width, height) {
  if (config.resize === "crop") {
    const side = Math.min(width, height);
    return { x: (width - side) / 2, y: (height - side) / 2, w: side, h: side };
  }
  if (config.resize === "pad") {
    const side = Math.max(width, height);
    return { x: (width - side) / 2, y: (height - side) / 2, w: side, h: side };
  }
  return { x: 0, y: 0, w: width, h: height };
}

function letterboxed(source, width, height) {
  const side = Math.max(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = side; canvas.height = side;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = `rgb(${config.padColour.join(",")})`;
  ctx.fillRect(0, 0, side, side);
  ctx.drawImage(source, (side - width) / 2, (side - height) / 2, width, height);
  return canvas;
}

// ---------- MediaPipe ImageClassifier ----------
async function createClassifier() {
  await requireFile(config.model, "The model file");
  const { FilesetResolver, ImageClassifier } = await importFrom(config.mediapipe.bundle, "MediaPipe Tasks");
  const fileset = await FilesetResolver.forVisionTasks(config.mediapipe.wasm);
  return ImageClassifier.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: config.model, delegate: "CPU" },
    runningMode: "IMAGE",
    maxResults: TOP_K,
  });
}

function classify(source, width, height) {
  let input = source, options;
  if (config.resize === "crop") { // a centred square region of interest
    const r = region(width, height);
    options = { regionOfInterest: { left: r.x / width, top: r.y / height,
      right: (r.x + r.w) / width, bottom: (r.y + r.h) / height } };
  } else if (config.resize === "pad") {
    input = letterboxed(source, width, height);
  }
  const t0 = performance.now();
  const result = classifier.classify(input, options);
  const ms = performance.now() - t0;
  const top = result.classifications[0].categories.map((c) => ({
    index: c.index,
    label: c.categoryName || config.labels[c.index] || `class ${c.index}`,
    score: c.score,
  }));
  return { top, ms };
}

// ---------- LiteRT.js: the two-output file, for the attention map ----------
async function createLiteRt() {
  const att = config.attention;
  await requireFile(att.model, "The attention model file");
  const core = await importFrom(att.core, "LiteRT.js");
  await core.loadLiteRt(att.wasm); // relaxed-SIMD build, else the compat one
  const response = await fetch(att.model);
  if (!response.ok) throw new Error(`The attention model file ${att.model}: HTTP ${response.status}`);
  const model = await core.loadAndCompile(new Uint8Array(await response.arrayBuffer()), { accelerator: "wasm" });
  return { core, model, input: model.getInputDetails()[0], outputs: model.getOutputDetails() };
}

// The frame as the model's input: (1, h, w, 3) pixels, after the contract.
function inputPixels(source, width, height, h, w) {
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  const r = region(width, height);
  if (config.resize === "pad") {
    ctx.fillStyle = `rgb(${config.padColour.join(",")})`;
    ctx.fillRect(0, 0, w, h);
  }
  const scale = Math.min(w / r.w, h / r.h);
  if (config.resize === "pad") {
    ctx.drawImage(source, -r.x * scale, -r.y * scale, width * scale, height * scale);
  } else {
    ctx.drawImage(source, r.x, r.y, r.w, r.h, 0, 0, w, h);
  }
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

async function attentionMap(source, width, height) {
  const [, h, w] = litert.input.shape;
  const rgb = inputPixels(source, width, height, h, w);
  const data = litert.input.dtype === "uint8" ? rgb : Float32Array.from(rgb);
  const tensor = new litert.core.Tensor(data, Array.from(litert.input.shape));
  const t0 = performance.now();
  const results = await litert.model.run(tensor);
  const ms = performance.now() - t0;
  tensor.delete();
  const outs = results.map((r, i) => {
    const values = Array.from(r.toTypedArray());
    r.delete();
    return { shape: Array.from(litert.outputs[i].shape), values };
  });
  // The probabilities are (1, classes); the map (1, m, m).
  const probs = outs.find((o) => o.shape.length === 2) || outs[0];
  const map = outs.find((o) => o !== probs);
  const top1 = probs.values.indexOf(Math.max(...probs.values));
  return { ms, top1, shape: map.shape, values: map.values };
}

function drawMap(att, over, width, height) {
  const canvas = $("overlay");
  const [m1, m2] = att.shape.slice(-2);
  const lo = Math.min(...att.values), hi = Math.max(...att.values);
  canvas.width = m2; canvas.height = m1;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(m2, m1);
  for (let i = 0; i < m1 * m2; i++) { // white (low) to red (high)
    const v = (att.values[i] - lo) / (hi - lo || 1);
    img.data.set([255, Math.round(255 * (1 - v)), Math.round(255 * (1 - v)), 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  // Over what the model saw of the photo as shown (stretched, smoothly).
  const k = over.clientWidth / width, r = region(width, height);
  Object.assign(canvas.style, {
    left: `${over.offsetLeft + r.x * k}px`, top: `${over.offsetTop + r.y * k}px`,
    width: `${r.w * k}px`, height: `${r.h * k}px`,
  });
  canvas.classList.remove("hidden");
}

async function showAttention() {
  $("overlay").classList.add("hidden");
  if (!$("attention").checked || !shown) return;
  try {
    if (!litert) {
      status("Loading LiteRT.js and the attention model…");
      litert = await createLiteRt();
      status("Ready. Pick a photo or use the camera.");
    }
    const att = await attentionMap(shown.source, shown.width, shown.height);
    drawMap(att, shown.source, shown.width, shown.height);
    window.lastAttention = { shape: att.shape, ms: att.ms, top1: att.top1 };
    document.body.dataset.attention = String(Number(document.body.dataset.attention || 0) + 1);
    $("timing").textContent += `; attention map (LiteRT.js): ${att.ms.toFixed(0)} ms`;
  } catch (e) {
    $("attention").checked = false;
    showError(`The attention map: ${describe(e)}`);
  }
}

// ---------- the page ----------
// Shown with its longer side about 420 px (small photos enlarged), within the window.
function fit(element, width, height) {
  const scale = Math.min(420 / Math.max(width, height), (window.innerWidth - 48) / width);
  element.style.width = `${Math.round(width * scale)}px`;
  element.style.height = `${Math.round(height * scale)}px`;
}

function showResults(top, ms) {
  const body = $("results").querySelector("tbody");
  body.replaceChildren(...top.map((c, i) => {
    const row = document.createElement("tr");
    row.dataset.index = String(c.index);
    for (const text of [String(i + 1), c.label, `${(100 * c.score).toFixed(1)}%`]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    row.lastChild.className = "num";
    return row;
  }));
  $("results").classList.remove("hidden");
  $("timing").textContent = `Classified in ${ms.toFixed(0)} ms (MediaPipe, CPU)`;
}

async function classifyShown(source, width, height) {
  shown = { source, width, height };
  try {
    const result = classify(source, width, height);
    showResults(result.top, result.ms);
    window.lastResult = result;
    await showAttention();
  } catch (e) {
    window.lastResult = { error: describe(e) };
    showError(`Cannot classify this image: ${describe(e)}`);
  } finally {
    document.body.dataset.classified = String(++counter);
  }
}

$("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const img = $("photo");
  const url = URL.createObjectURL(file);
  try {
    img.src = url;
    await img.decode(); // EXIF orientation applied, as training's exif_transpose
  } catch (e) {
    window.lastResult = { error: `not an image the browser can decode: ${file.name}` };
    showError(`Cannot read ${file.name}: not an image this browser can decode.`);
    document.body.dataset.classified = String(++counter);
    return;
  } finally {
    URL.revokeObjectURL(url);
  }
  fit(img, img.naturalWidth, img.naturalHeight);
  img.classList.remove("hidden");
  $("video").classList.add("hidden");
  $("snap").classList.add("hidden");
  await classifyShown(img, img.naturalWidth, img.naturalHeight);
});

$("camera").addEventListener("click", async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    const video = $("video");
    video.srcObject = stream;
    await video.play();
    fit(video, video.videoWidth, video.videoHeight);
    video.classList.remove("hidden");
    $("photo").classList.add("hidden");
    $("snap").classList.remove("hidden");
  } catch (e) {
    showError(`The camera: ${describe(e)} (the page needs camera permission, and http://localhost or https)`);
  }
});
$("snap").addEventListener("click", () => {
  const video = $("video");
  return classifyShown(video, video.videoWidth, video.videoHeight);
});
$("attention").addEventListener("change", () => showAttention());

if (config.attention) {
  $("attention-row").classList.remove("hidden");
} else {
  $("attention-note").textContent = config.attentionNote;
  $("attention-note").classList.remove("hidden");
}

window.ready = (async () => {
  status("Loading the model…");
  const t0 = performance.now();
  try {
    classifier = await createClassifier();
  } catch (e) {
    status("");
    const line = `Cannot start the classifier: ${describe(e)}`;
    showError(line);
    return { ok: false, error: line };
  }
  const ms = performance.now() - t0;
  for (const id of ["file", "camera", "attention"]) $(id).disabled = false;
  status(`Ready (model loaded in ${(ms / 1000).toFixed(1)} s). Pick a photo or use the camera.`);
  return { ok: true, loadMs: ms };
})();
