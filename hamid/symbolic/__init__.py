"""Symbolic core: state symbols, safe parsing, candidate libraries and code generation."""
from .codegen import compile_exprs
from .libraries import (
    CompiledLibrary, ConcatLibrary, CustomLibrary, Library, PolynomialLibrary, ProductLibrary, TrigLibrary,
    parse_library_spec,
)
from .symbols import ExpressionError, parse_expression, state_symbols

__all__ = [
    "CompiledLibrary", "ConcatLibrary", "CustomLibrary", "ExpressionError", "Library", "PolynomialLibrary",
    "ProductLibrary", "TrigLibrary", "compile_exprs", "parse_expression", "parse_library_spec", "state_symbols",
]
