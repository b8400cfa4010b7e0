"""``hamid systems``: the catalogue with each system's Hamiltonian in LaTeX (and the names' aliases)."""
from __future__ import annotations

_MAX_LATEX = 160


def register(subparsers):
    parser = subparsers.add_parser(
        "systems", help="list the catalogue of systems with their Hamiltonians",
        description="List the system catalogue with each Hamiltonian in LaTeX and the aliases each name also "
                    "answers to, or show one system in full.",
    )
    parser.add_argument("name", nargs="?", help="show this system (or alias) in full: constants, H, L, structure, "
                                                "domain")
    parser.set_defaults(func=run)


def aliases_by_system() -> dict:
    """Canonical system name -> sorted aliases that :func:`hamid.systems.get_system` also accepts."""
    from hamid import systems

    out: dict = {}
    for alias, name in getattr(systems, "_ALIASES", {}).items():
        out.setdefault(name, []).append(alias)
    return {name: sorted(names) for name, names in out.items()}


def run(args):
    import sympy as sp

    from hamid.systems import get_system, list_systems

    aliases = aliases_by_system()
    if args.name:
        system = get_system(args.name)
        print(system.summary())
        print(f"  H (LaTeX) = {sp.latex(system.hamiltonian)}")
        if aliases.get(system.name):
            print(f"  aliases: {', '.join(aliases[system.name])}")
        return 0
    for name in list_systems():
        system = get_system(name)
        latex = sp.latex(system.hamiltonian)
        if len(latex) > _MAX_LATEX:
            latex = latex[:_MAX_LATEX] + f" ... (hamid systems {name} shows it all)"
        kind = "canonical" if system.canonical else "non-canonical"
        also = f"(alias {', '.join(aliases[name])}) " if aliases.get(name) else ""
        print(f"{name:20s} D={system.dim:<3d} {kind:13s} {also}H = {latex}")
    return 0
