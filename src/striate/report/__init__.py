"""Pictures of a run and the training report.

`plots.py` draws the run folder's pictures with matplotlib (learning curves, the confusion matrix, per-label scores,
the regression scatter, the augmentation grid) and the report's own figures; `images.py` draws small pictures
(inputs, Grad-CAM overlays, filters) with Pillow; `html.py` is the markup; `page.py` writes `report.html`, the page
every training run leaves in its folder (`striate report RUN` writes it again); `compare.py` writes the page that
sets several runs side by side (`striate compare`).

    >>> report = striate.report.write_report(striate.load("runs/lenet5-fashion-mnist"))  # doctest: +SKIP
    >>> report.path, report.problems  # doctest: +SKIP
    (PosixPath('runs/lenet5-fashion-mnist/report.html'), [])
"""

from striate.report.compare import different_settings, write_comparison
from striate.report.page import REPORT_FILE, Report, write_report
from striate.report.plots import _pyplot as _pyplot  # re-exported (redundant alias): explain's pictures use it
from striate.report.plots import _save as _save
from striate.report.plots import plot_augmentations, plot_confusion, plot_curves, plot_per_label, plot_scatter

__all__ = ["REPORT_FILE", "Report", "different_settings", "plot_augmentations", "plot_confusion", "plot_curves",
           "plot_per_label", "plot_scatter", "write_comparison", "write_report"]
