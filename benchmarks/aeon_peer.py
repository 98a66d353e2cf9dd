"""Worker for timeseries.py: one of aeon's deep classifiers (TensorFlow/Keras) on a UCR archive aeon ships.

Runs in a Python environment with aeon and TensorFlow (which striate's own does not need), e.g. a separate venv:
`python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install aeon tensorflow-cpu`. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

CLASSIFIERS = {"fcn": "FCNClassifier", "resnet_ts": "ResNetClassifier",
               "inception_time": "IndividualInceptionClassifier"}


def main() -> None:
    dataset, model, seed, epochs, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
        int(sys.argv[5])
    start = time.perf_counter()
    import aeon.classification.deep_learning as deep
    from aeon.datasets import load_classification

    x_train, y_train = load_classification(dataset, split="train")
    x_test, y_test = load_classification(dataset, split="test")
    classifier = getattr(deep, CLASSIFIERS[model])(n_epochs=epochs, batch_size=batch_size, random_state=seed,
                                                   file_path="/tmp/aeon-peer-")
    classifier.fit(x_train, y_train)
    accuracy = float((classifier.predict(x_test) == y_test).mean())
    print(json.dumps({"dataset": dataset, "model": model, "seed": seed, "test_accuracy": accuracy,
                      "train_seconds": time.perf_counter() - start, "epochs": epochs, "contender": "aeon"}))


if __name__ == "__main__":
    main()
