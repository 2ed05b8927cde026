"""IntentLang (``.ias``) front-end: lexer, parser, validator and IR lowering.

See ``docs/intentlang.md``. Entry point: :func:`load_intentlang`.
"""

from agentspec.lang.intentlang.lower import LoadedIntentLang, load_intentlang

__all__ = ["LoadedIntentLang", "load_intentlang"]
