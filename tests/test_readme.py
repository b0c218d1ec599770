"""README's commands are the ones that CI and users run."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command.startswith("python3.11 -m venv .venv")
    assert f"\n{ci_command}\n" in readme


def test_readme_opens_with_the_demo_then_the_tests():
    blocks = (ROOT / "README.md").read_text().split("```bash\n")[1:3]
    demo, tests = (block.split("\n```")[0] for block in blocks)
    assert demo.endswith("skanomaly demo")
    assert "pytest" in tests
