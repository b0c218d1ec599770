"""Magnetic Tile Defects: where PaDiM's anomaly maps go wrong.

    python benchmarks/magnetic_tile_maps.py

Protocol: the split of ``benchmarks/magnetic_tile.py`` (666 defect-free
tiles to fit on, 678 tiles to test on, 128x128), ``PaDiM`` at its defaults
on the pretrained SqueezeNet 1.1 (``random_state=0``). Its test maps are
split by region, a 12-pixel band along the tile's border against the
inside, and by defect class (that class's tiles and the defect-free test
tiles): pixel ROC AUC of each part, the maps' mean on defect-free tiles in
each region, and the share of each class's pixels its masks cover.

Output: ``benchmarks/results/magnetic_tile_maps.md`` with this command.
"""

import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol  # noqa: E402
import numpy as np  # noqa: E402

import magnetic_tile  # noqa: E402
from skanomaly.datasets import load_magnetic_tile  # noqa: E402
from skanomaly.metrics import pixel_roc_auc_score  # noqa: E402

BAND = 12


def main():
    from skanomaly import PaDiM

    _protocol._import_tensorflow_quietly()
    data = load_magnetic_tile(magnetic_tile.DEFAULT_DATA, image_size=magnetic_tile.IMAGE_SIZE)
    classes = np.asarray(data.classes)
    train, test = magnetic_tile.split_indices(classes)
    masks, y, kinds = data.masks[test], data.y[test], classes[test]

    detector = PaDiM(weights=str(magnetic_tile.WEIGHTS), random_state=magnetic_tile.SEED)
    maps = detector.fit(data.images[train]).anomaly_map(data.images[test])

    side = magnetic_tile.IMAGE_SIZE
    border = np.zeros((side, side), dtype=bool)
    border[:BAND] = border[-BAND:] = True
    border[:, :BAND] = border[:, -BAND:] = True
    normal = y == 0

    def part(region):
        return pixel_roc_auc_score(masks[:, region][:, :, None], maps[:, region][:, :, None])

    lines = [
        "# Magnetic Tile Defects: where PaDiM's maps go wrong",
        "",
        f"Command: `{shlex.join(['python', 'benchmarks/magnetic_tile_maps.py'])}`",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')}; {_protocol._versions()}.",
        "",
        "| region | pixel ROC AUC | mean map on defect-free tiles | share of defect pixels |",
        "|---|---:|---:|---:|",
        f"| all | {pixel_roc_auc_score(masks, maps):.3f} | {maps[normal].mean():.2f} | 1.00 |",
        f"| {BAND}-pixel border band ({border.mean():.2f} of the image) | {part(border):.3f} "
        f"| {maps[normal][:, border].mean():.2f} | {masks[:, border].sum() / masks.sum():.2f} |",
        f"| inside | {part(~border):.3f} | {maps[normal][:, ~border].mean():.2f} "
        f"| {masks[:, ~border].sum() / masks.sum():.2f} |",
        "",
        "| defect class | pixel ROC AUC (with the defect-free test tiles) | pixels its masks cover |",
        "|---|---:|---:|",
    ]
    for kind in sorted(set(kinds) - {"Free"}):
        these = kinds == kind
        auc = pixel_roc_auc_score(
            np.concatenate([masks[these], masks[normal]]),
            np.concatenate([maps[these], maps[normal]]),
        )
        lines.append(f"| {kind} | {auc:.3f} | {100 * masks[these].mean():.1f}% |")
    out = _protocol.RESULTS / "magnetic_tile_maps.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
