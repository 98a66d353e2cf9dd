"""Why a run predicted what it did: attributions through captum, feature visualisation, and their pictures.

    >>> run = striate.load("runs/lenet5-fashion-mnist")  # doctest: +SKIP
    >>> run.explain(["shoe.png"], method="gradcam").shape  # doctest: +SKIP
    torch.Size([1, 1, 28, 28])

Every attribution is computed through the run's preprocessing (`Pipeline`: the recorded `Preprocess` module, then the
model), so it is a map over the raw input a user gave, read exactly as `striate predict` reads it. The methods are
captum's (`attribution.py` only chooses layers, targets, baselines and batch sizes); feature visualisation
(`visualize.py`) is written here because captum has none. `pictures.py` draws one PNG per input.
"""

from striate.explain.attribution import METHODS, Explanation, check_method, explain
from striate.explain.pictures import save_comparison, save_explanations, save_visualization
from striate.explain.visualize import Visualization, visualize

__all__ = ["METHODS", "Explanation", "Visualization", "check_method", "explain", "save_comparison",
           "save_explanations", "save_visualization", "visualize"]
