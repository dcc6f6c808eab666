"""JupyterLab front end: :class:`TrainerApp` and the pure functions behind it.

* :mod:`reskeras.ui.settings` - what can be chosen for a task and the ``train()`` call it makes;
* :mod:`reskeras.ui.render` - model summaries, training curves (matplotlib) and export details
  as HTML;
* :mod:`reskeras.ui.sampling` - a language model's "try the model": the live model and a
  sampled continuation;
* :mod:`reskeras.ui.app` - the widgets.
"""

from reskeras.ui.app import TrainerApp
from reskeras.ui.render import (
    export_html,
    format_count,
    format_flops,
    history_svg,
    summary_html,
)
from reskeras.ui.settings import (
    BATCH_SIZES,
    build_preview,
    default_depth,
    families_for_kind,
    family_options,
    kind_defaults,
    model_kwargs,
    presets,
    preview_spec,
    setting_names,
    train_config,
    valid_depths,
)

__all__ = [
    "BATCH_SIZES",
    "TrainerApp",
    "build_preview",
    "default_depth",
    "export_html",
    "families_for_kind",
    "family_options",
    "format_count",
    "format_flops",
    "history_svg",
    "kind_defaults",
    "model_kwargs",
    "presets",
    "preview_spec",
    "setting_names",
    "summary_html",
    "train_config",
    "valid_depths",
]
