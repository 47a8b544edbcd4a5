"""stemdm: what stem-cell therapy does for diabetes, from evidence and mechanism.

Parts: :mod:`stemdm.meta` (meta-analysis engine). Later parts (evidence, review, sim) build on it.
Not medical advice.
"""

__version__ = "0.2.0"

NOT_MEDICAL_ADVICE = (
    "Research software output. Not medical advice: do not use it to make treatment decisions."
)

#: the same line in every language of the interface (stemdm.i18n)
NOT_MEDICAL_ADVICE_BY_LANGUAGE = {
    "en": NOT_MEDICAL_ADVICE,
    "zh": "本软件输出仅供研究参考，不构成医疗建议，不能用于治疗决策。",
}

__all__ = ["NOT_MEDICAL_ADVICE", "NOT_MEDICAL_ADVICE_BY_LANGUAGE", "__version__"]
