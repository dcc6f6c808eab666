"""Training: options, recipes and resolve(), the loop, optimizers, XLA, distribution, run dirs."""
