"""The callbacks of a run: the progress line shows the user's metrics, metrics.csv all."""

from __future__ import annotations

import csv

from synthetic import make_idx_dir

from reskeras.training.callbacks import INTERNAL_METRICS
from reskeras.training.loop import train


def test_progress_line_hides_the_collapse_checks_metrics(tmp_path, capsys):
    data = make_idx_dir(tmp_path / "fm", n_train=64, n_test=16)
    run = train("fashion_mnist", "cifar_resnet8", data=str(data), epochs=1, batch_size=16,
                jit_compile=False, out=tmp_path / "run", verbose=2).run_dir  # fmt: skip
    printed = capsys.readouterr().out
    assert "accuracy:" in printed and "val_loss:" in printed
    assert not any(name in printed for name in INTERNAL_METRICS), printed
    with open(run / "metrics.csv") as f:
        columns = next(csv.reader(f))
    assert {"top_class_share", "val_top_class_share", "collapsed"} <= set(columns)
