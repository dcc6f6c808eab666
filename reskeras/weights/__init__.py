"""Weights: ImageNet and keras-hub weights for ResNets, exact porting, freezing for fine-tuning."""

# Importing the package installs the loader the builders hand ``weights=`` to
# (reskeras.models.handoff), so ``import reskeras.weights`` is all a user of the
# sub-packages needs.
from reskeras.weights import named

__all__ = ["named"]
