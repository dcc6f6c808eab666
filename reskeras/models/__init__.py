"""Models: depth rules, image and text builders, the keras-hub family and the registry."""
