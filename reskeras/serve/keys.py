"""The names an export serves under: signature, input and output keys, and its extra files.

Shared by the exporter and the client, so a request always names what the SavedModel has;
no TensorFlow here, so the client imports it on a machine with only numpy.
"""

from __future__ import annotations

__all__ = [
    "INPUT_IMAGES",
    "INPUT_IMAGE_BYTES",
    "INPUT_MAX_LENGTH",
    "INPUT_PROMPT",
    "INPUT_SEED",
    "INPUT_TEMPERATURE",
    "INPUT_TEXT",
    "INPUT_TOKEN_IDS",
    "INPUT_TOP_K",
    "LABELS_FILE",
    "LM_OUTPUT_KEYS",
    "SCORE_OUTPUT_KEYS",
    "OPS_FILE",
    "OUTPUT_KEYS",
    "SIGNATURE_BYTES",
    "SIGNATURE_DEFAULT",
    "SIGNATURE_GENERATE",
    "SIGNATURE_GREEDY",
    "SIGNATURE_SCORE",
    "SIGNATURE_TOKEN_IDS",
    "TRANSLATION_OUTPUT_KEYS",
    "WARMUP_FILE",
]

#: Raw pixels (images), raw strings (text): what TF Serving's default signature takes.
SIGNATURE_DEFAULT = "serving_default"
#: Encoded image files (PNG/JPEG/GIF/BMP bytes).
SIGNATURE_BYTES = "serve_bytes"
#: Token ids in: what a keras-hub model's preprocessor produces (token ids and masks), or a
#: translation's subword ids.
SIGNATURE_TOKEN_IDS = "serve_token_ids"
#: Language models: sampling with every option an input (``serving_default`` takes the
#: prompt only), and scoring sentences.
SIGNATURE_GENERATE = "generate"
SIGNATURE_SCORE = "score"
#: Translation models: greedy decoding (``serving_default`` searches with beams).
SIGNATURE_GREEDY = "greedy"
INPUT_IMAGES = "images"
INPUT_IMAGE_BYTES = "image_bytes"
INPUT_TEXT = "text"
INPUT_PROMPT = "prompt"
INPUT_MAX_LENGTH = "max_length"
INPUT_TEMPERATURE = "temperature"
INPUT_TOP_K = "top_k"
INPUT_SEED = "seed"
#: A translation's subword ids (``serve_token_ids`` takes and returns them).
INPUT_TOKEN_IDS = "token_ids"
#: A language model's sampling signatures return the continuation; ``score`` returns each
#: sentence's summed log-likelihood, perplexity and tokens scored (its ``<eos>`` included).
LM_OUTPUT_KEYS = ("text",)
SCORE_OUTPUT_KEYS = ("log_likelihood", "perplexity", "tokens")
#: A translation model's text signatures return the translation.
TRANSLATION_OUTPUT_KEYS = ("translation",)
#: Every classifier signature returns these: float32 softmax, int64 class id, class name.
OUTPUT_KEYS = ("probabilities", "class_id", "class_name")
#: ``assets.extra/`` files: TF Serving's warm-up records, the op types the graph needs.
WARMUP_FILE = "tf_serving_warmup_requests"
OPS_FILE = "ops.txt"
#: The class names, one a line (``assets/``).
LABELS_FILE = "labels.txt"
