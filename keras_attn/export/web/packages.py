"""Where the page gets its JavaScript and WebAssembly: copied beside it from
an npm install, or from the jsdelivr CDN at the pinned versions.

The page needs two npm packages: `@mediapipe/tasks-vision` (its
`ImageClassifier` runs the int8 file) and `@litertjs/core` with its sibling
`@litertjs/wasm-utils` (LiteRT.js runs the attention map's file). With
`--web_npm=DIR` (an npm prefix, its `node_modules`, or a package folder)
the files the page loads are copied into its `vendor/` folder and it works
offline; without it they come from the CDN, at the versions the page was
written and tested for. `check_npm` turns a folder that lacks them into one
line saying which `npm install` to run.
"""

from __future__ import annotations

import json
import os
import shutil

from keras_attn.errors import UserError

# The versions the page is written and tested for.
MEDIAPIPE = ("@mediapipe/tasks-vision", "1.1.0")
LITERTJS = ("@litertjs/core", "2.5.3")
LITERTJS_UTILS = ("@litertjs/wasm-utils", "2.5.3")
CDN = "https://cdn.jsdelivr.net/npm"
# What the page loads of each package. MediaPipe: the SIMD build, and the
# no-SIMD one for browsers without WebAssembly SIMD (12 MB each); LiteRT.js:
# the relaxed-SIMD build and its fallback (9 MB each; the threaded and JSPI
# builds need headers or flags a static server does not give).
FILES = {
    MEDIAPIPE[0]: (
        "vision_bundle.mjs",
        "wasm/vision_wasm_internal.js",
        "wasm/vision_wasm_internal.wasm",
        "wasm/vision_wasm_nosimd_internal.js",
        "wasm/vision_wasm_nosimd_internal.wasm",
    ),
    LITERTJS[0]: (
        "dist/index.js",
        "wasm/litert_wasm_internal.js",
        "wasm/litert_wasm_internal.wasm",
        "wasm/litert_wasm_compat_internal.js",
        "wasm/litert_wasm_compat_internal.wasm",
    ),
    LITERTJS_UTILS[0]: ("dist/index.js",),
}
VENDOR = {
    MEDIAPIPE[0]: "vendor/mediapipe",
    LITERTJS[0]: "vendor/litertjs/core",
    LITERTJS_UTILS[0]: "vendor/litertjs/wasm-utils",
}


def npm_hint(folder: str) -> str:
    packages = f"{MEDIAPIPE[0]}@{MEDIAPIPE[1]} {LITERTJS[0]}@{LITERTJS[1]}"
    return (
        f"run `npm install --prefix {folder} {packages}` and pass that folder "
        "(offline: copy such a folder from a machine that has one)"
    )


def find_package(folder: str, name: str) -> str | None:
    """The folder of npm package `name` under `folder`: an npm prefix
    (`folder/node_modules/name`), a `node_modules` folder, the package
    itself, or (for a sibling package) the package folder of another one."""
    folder = os.path.abspath(folder)
    candidates = [
        os.path.join(folder, "node_modules", name),
        os.path.join(folder, name),
        folder,
        # folder = node_modules/@scope/package: its node_modules
        os.path.join(os.path.dirname(os.path.dirname(folder)), name),
    ]
    for candidate in candidates:
        manifest = os.path.join(candidate, "package.json")
        if os.path.isfile(manifest):
            try:
                with open(manifest) as f:
                    if json.load(f).get("name") == name:
                        return candidate
            except (OSError, ValueError):
                continue
    return None


def package_version(folder: str) -> str:
    with open(os.path.join(folder, "package.json")) as f:
        return str(json.load(f).get("version", "unknown"))


def check_npm(folder: str) -> str:
    """The MediaPipe package folder under `--web_npm=folder`, with every
    file the page needs; else a one-line UserError saying what to install."""
    if not os.path.isdir(folder):
        raise UserError(f"--web_npm={folder} is not a folder: {npm_hint(folder)}.")
    package = find_package(folder, MEDIAPIPE[0])
    if package is None:
        raise UserError(
            f"--web_npm={folder} holds no {MEDIAPIPE[0]} package: {npm_hint(folder)}."
        )
    missing = [f for f in FILES[MEDIAPIPE[0]] if not os.path.isfile(_join(package, f))]
    if missing:
        raise UserError(
            f"{package} lacks {', '.join(missing)} (an incomplete install): "
            f"{npm_hint(folder)}."
        )
    return package


def _join(folder: str, relative: str) -> str:
    return os.path.join(folder, *relative.split("/"))


class Source:
    """Where the page gets one npm package: copied beside it (`folder`), or
    from the CDN at a pinned version."""

    def __init__(self, name: str, version: str, folder: str | None):
        self.name, self.version, self.folder = name, version, folder

    @property
    def local(self) -> bool:
        return self.folder is not None

    @property
    def base(self) -> str:
        if self.local:
            return "./" + VENDOR[self.name]
        return f"{CDN}/{self.name}@{self.version}"

    def url(self, relative: str) -> str:
        return f"{self.base}/{relative}"

    def copy_to(self, page_dir: str) -> dict[str, int]:
        files = {}
        for relative in FILES[self.name]:
            target = f"{VENDOR[self.name]}/{relative}"
            os.makedirs(os.path.dirname(_join(page_dir, target)), exist_ok=True)
            shutil.copyfile(_join(self.folder, relative), _join(page_dir, target))
            files[target] = os.path.getsize(_join(page_dir, target))
        return files

    def describe(self) -> dict:
        return {
            "package": self.name,
            "version": self.version,
            "source": "local" if self.local else "cdn",
            "from": self.folder if self.local else self.base,
        }


def sources(npm: str | None, attention: bool) -> tuple[Source, Source | None, str]:
    """The MediaPipe source, the LiteRT.js source (None: no map) and, when
    the map is asked for but cannot be had, why."""
    if npm is None:
        litert = Source(*LITERTJS, None) if attention else None
        return Source(*MEDIAPIPE, None), litert, ""
    mediapipe = check_npm(npm)
    version = package_version(mediapipe)
    if version != MEDIAPIPE[1]:
        print(
            f"note: {mediapipe} is {MEDIAPIPE[0]} {version}; the page was "
            f"tested with {MEDIAPIPE[1]}.",
            flush=True,
        )
    if not attention:
        return Source(MEDIAPIPE[0], version, mediapipe), None, ""
    core = find_package(npm, LITERTJS[0]) or find_package(mediapipe, LITERTJS[0])
    utils = core and find_package(core, LITERTJS_UTILS[0])
    complete = (
        core
        and utils
        and all(os.path.isfile(_join(core, f)) for f in FILES[LITERTJS[0]])
        and os.path.isfile(_join(utils, FILES[LITERTJS_UTILS[0]][0]))
    )
    if not complete:
        why = (
            f"the attention map is left out: --web_npm={npm} holds no complete "
            f"{LITERTJS[0]} (LiteRT.js runs the map's file); "
            f"{npm_hint(npm)}"
        )
        return Source(MEDIAPIPE[0], version, mediapipe), None, why
    return (
        Source(MEDIAPIPE[0], version, mediapipe),
        Source(LITERTJS[0], package_version(core), core),
        "",
    )


def utils_source(litert: Source) -> Source:
    """Where the page gets `@litertjs/wasm-utils`, which LiteRT.js imports:
    beside `litert`'s package when that is copied, else the CDN."""
    if not litert.local:
        return Source(*LITERTJS_UTILS, None)
    folder = find_package(litert.folder, LITERTJS_UTILS[0])
    return Source(LITERTJS_UTILS[0], package_version(folder), folder)
