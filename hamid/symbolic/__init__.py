"""Symbolic core: state symbols, safe parsing, candidate libraries and code generation."""
from .symbols import ExpressionError, parse_expression, state_symbols

__all__ = ["ExpressionError", "parse_expression", "state_symbols"]
