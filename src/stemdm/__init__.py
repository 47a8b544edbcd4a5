"""stemdm: what stem-cell therapy does for diabetes, from evidence and mechanism.

Parts: :mod:`stemdm.meta` (meta-analysis engine). Later parts (evidence, review, sim) build on it.
Not medical advice.
"""

__version__ = "0.1.0"

NOT_MEDICAL_ADVICE = (
    "Research software output. Not medical advice: do not use it to make treatment decisions."
)

__all__ = ["NOT_MEDICAL_ADVICE", "__version__"]
