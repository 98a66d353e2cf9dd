"""The README's explanation pictures: every attribution method on two Fashion-MNIST test images for LeNet-5 (whose
head reads its maps position by position) and for a small convnet with global average pooling (Grad-CAM's own
setting), and one unit's feature visualisation for LeNet-5.

    python scripts/docs_explanations.py                          # trains both first (about 40 s and 2 min here)
    python scripts/docs_explanations.py LENET5_RUN CONVNET_RUN   # or explains two run folders trained like them

Writes docs/explanations-lenet5.png, docs/explanations-convnet.png and docs/visualize.png.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import striate
from striate.explain import METHODS, explain, save_comparison, save_visualization, visualize

DOCS = Path(__file__).resolve().parents[1] / "docs"
CLASSES = ("Sneaker", "Bag")
"""One test image of each: the evidence for a shoe and for a bag lies in different places."""
CONVNET = {"model": "convnet", "epochs": 4, "model_args": {"widths": [32, 64], "depth": 1, "head": "avg",
                                                           "pool_first": True}}


def main() -> None:
    if len(sys.argv) == 3:
        lenet, convnet = striate.load(sys.argv[1]), striate.load(sys.argv[2])
    else:
        out = tempfile.mkdtemp(prefix="striate-docs-")
        lenet = striate.train(out=out, name="lenet5", quiet=True)
        convnet = striate.train(out=out, name="convnet-gap", quiet=True, **CONVNET)
    test = striate.data.load_data("fashion-mnist").test
    images = test.x[[int((test.y == test.classes.index(name)).nonzero()[0]) for name in CLASSES]]
    for run, name in ((lenet, "lenet5"), (convnet, "convnet")):
        print(f"{run.path}: test accuracy {run.results.get('test_accuracy', float('nan')):.2%}")
        found = [explain(run, images, method, window=4, stride=2) for method in METHODS if method != "visualize"]
        print(save_comparison(run, found, DOCS / f"explanations-{name}.png"))
    unit = visualize(lenet, "features.3", channel=5, top=9)
    print(save_visualization(lenet, unit, DOCS).rename(DOCS / "visualize.png"))


if __name__ == "__main__":
    main()
