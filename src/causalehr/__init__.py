"""causalehr: censored CATE, clone-censor-weight and data probation for routine-care health records."""

__version__ = "0.1.0"
