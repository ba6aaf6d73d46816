"""The front-end libraries the console serves itself (command centres run on intranets: no CDN).

npm fetches them at install time (`package.json`, `package-lock.json`); `python -m cityloop.web.vendor
node_modules` copies the files below into `static/vendor/`, which is not committed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"

# npm path (under node_modules) → path served under /static/web/vendor/
FILES: dict[str, str] = {
    "htmx.org/dist/htmx.min.js": "htmx.min.js",
    "leaflet/dist/leaflet.js": "leaflet/leaflet.js",
    "leaflet/dist/leaflet.css": "leaflet/leaflet.css",
    "leaflet/dist/images/marker-icon.png": "leaflet/images/marker-icon.png",
    "leaflet/dist/images/marker-icon-2x.png": "leaflet/images/marker-icon-2x.png",
    "leaflet/dist/images/marker-shadow.png": "leaflet/images/marker-shadow.png",
    "leaflet/dist/images/layers.png": "leaflet/images/layers.png",
    "leaflet/dist/images/layers-2x.png": "leaflet/images/layers-2x.png",
    "leaflet.markercluster/dist/leaflet.markercluster.js": "leaflet/leaflet.markercluster.js",
    "leaflet.markercluster/dist/MarkerCluster.css": "leaflet/MarkerCluster.css",
    "leaflet.markercluster/dist/MarkerCluster.Default.css": "leaflet/MarkerCluster.Default.css",
    "leaflet.heat/dist/leaflet-heat.js": "leaflet/leaflet-heat.js",
    "echarts/dist/echarts.min.js": "echarts.min.js",
}


def missing() -> list[str]:
    return [served for served in FILES.values() if not (VENDOR_DIR / served).is_file()]


def install(node_modules: Path, dest: Path = VENDOR_DIR) -> int:
    absent = [src for src in FILES if not (node_modules / src).is_file()]
    if absent:
        raise FileNotFoundError(f"not in {node_modules} (run `npm ci`): {', '.join(absent)}")
    for src, served in FILES.items():
        target = dest / served
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node_modules / src, target)
    return len(FILES)


if __name__ == "__main__":
    count = install(Path(sys.argv[1] if len(sys.argv) > 1 else "node_modules"))
    print(f"web vendor files: {count} copied to {VENDOR_DIR}")
