"""Serving: signature keys, SavedModel export for TF Serving, warm-up, the REST/gRPC client."""
