"""README.md's test command is the one CI runs, verbatim."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.strip().startswith("```"):
            if inside:
                blocks.append("\n".join(current).strip())
                current = []
            inside = not inside and line.strip() == "```bash"
            continue
        if inside:
            current.append(line)
    return blocks


def test_ci_runs_the_readme_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    test_commands = [b for b in blocks if "pytest" in b]
    assert len(test_commands) == 1, test_commands
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_commands[0] in ci_lines


def test_constraints_pin_cpu_torch_and_setup_cfg_uses_ranges():
    constraints = (ROOT / "constraints.txt").read_text().split()
    assert "torch==2.13.0" in constraints
    setup = (ROOT / "setup.cfg").read_text()
    assert "torch==" not in setup and "torch>=" in setup
