"""``hamid systems``: the catalogue with each system's Hamiltonian in LaTeX."""
from __future__ import annotations

_MAX_LATEX = 160


def register(subparsers):
    parser = subparsers.add_parser(
        "systems", help="list the catalogue of systems with their Hamiltonians",
        description="List the system catalogue with each Hamiltonian in LaTeX, or show one system in full.",
    )
    parser.add_argument("name", nargs="?", help="show this system in full (constants, H, L, structure, domain)")
    parser.set_defaults(func=run)


def run(args):
    import sympy as sp

    from hamid.systems import get_system, list_systems

    if args.name:
        system = get_system(args.name)
        print(system.summary())
        print(f"  H (LaTeX) = {sp.latex(system.hamiltonian)}")
        return 0
    for name in list_systems():
        system = get_system(name)
        latex = sp.latex(system.hamiltonian)
        if len(latex) > _MAX_LATEX:
            latex = latex[:_MAX_LATEX] + f" ... (hamid systems {name} shows it all)"
        kind = "canonical" if system.canonical else "non-canonical"
        print(f"{name:20s} D={system.dim:<3d} {kind:13s} H = {latex}")
    return 0
