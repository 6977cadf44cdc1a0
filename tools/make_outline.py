#!/usr/bin/env python3
"""Re-make data/afghanistan_outline.geojson, the country outline the maps draw, from Natural Earth.

    cd /tmp && npm pack world-atlas@2.0.2          # world-atlas-2.0.2.tgz: Natural Earth 4.1.0 as TopoJSON
    python tools/make_outline.py /tmp/world-atlas-2.0.2.tgz

Reads countries-50m.json (Natural Earth Admin 0, 1:50m) from the npm tarball (or a countries-*.json given
directly), decodes the TopoJSON arcs of Afghanistan (id "004") and writes one GeoJSON Feature in longitude and
latitude (degrees, 4 decimals: about 10 m, far below the 1:50m scale's accuracy). Natural Earth is in the public
domain; the world-atlas packaging is ISC-licensed (data/README.md). Standard library only: run it once, by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
from pathlib import Path

AFGHANISTAN = "004"  # ISO 3166-1 numeric, the id world-atlas gives each country
MEMBER = "package/countries-50m.json"
OUT = Path(__file__).resolve().parent.parent / "data" / "afghanistan_outline.geojson"


def read_topology(path: Path) -> dict:
    if path.suffix in (".tgz", ".gz"):
        with tarfile.open(path) as tar:
            return json.load(tar.extractfile(MEMBER))
    return json.loads(path.read_text(encoding="utf-8"))


def decode_arcs(topo: dict) -> list[list[tuple[float, float]]]:
    """Every arc as absolute (lon, lat): quantized arcs are delta-encoded integers (TopoJSON spec 2.1.2)."""
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            pts.append((x * sx + tx, y * sy + ty))
        out.append(pts)
    return out


def ring(indices: list[int], arcs: list) -> list[list[float]]:
    """A closed ring from arc indices; ~i (negative) is arc i reversed; consecutive arcs share their end point."""
    pts: list = []
    for i in indices:
        a = arcs[i] if i >= 0 else arcs[~i][::-1]
        pts.extend(a if not pts else a[1:])
    return [[round(lon, 4), round(lat, 4)] for lon, lat in pts]


def outline(topo: dict, country: str = AFGHANISTAN) -> dict:
    geoms = [g for g in topo["objects"]["countries"]["geometries"] if g.get("id") == country]
    if len(geoms) != 1:
        raise SystemExit(f"country id {country!r}: {len(geoms)} geometries in the topology (expected 1)")
    g, arcs = geoms[0], decode_arcs(topo)
    if g["type"] == "Polygon":
        coords = [ring(r, arcs) for r in g["arcs"]]
    elif g["type"] == "MultiPolygon":
        coords = [[ring(r, arcs) for r in poly] for poly in g["arcs"]]
    else:
        raise SystemExit(f"country id {country!r}: unexpected geometry type {g['type']}")
    return {"type": "Feature", "id": country,
            "properties": {"name": g.get("properties", {}).get("name", country),
                           "source": "Natural Earth 4.1.0 Admin 0 countries, 1:50m (public domain), "
                                     "via the npm package world-atlas 2.0.2 (countries-50m.json)"},
            "geometry": {"type": g["type"], "coordinates": coords}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="world-atlas-2.0.2.tgz (npm pack world-atlas) or a countries-*.json")
    ap.add_argument("--out", type=Path, default=OUT, help=f"output GeoJSON (default {OUT})")
    a = ap.parse_args(argv)
    feature = outline(read_topology(a.source))
    text = json.dumps({"type": "FeatureCollection", "features": [feature]}, separators=(",", ":")) + "\n"
    a.out.write_text(text, encoding="utf-8")
    n = sum(len(r) for r in feature["geometry"]["coordinates"]) if feature["geometry"]["type"] == "Polygon" else 0
    print(f"{a.out}: {len(text):,} bytes, {n} points, sha256 {hashlib.sha256(text.encode()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
