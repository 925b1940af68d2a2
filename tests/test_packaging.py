"""The wheel carries both packages, the console script, the stylesheet, the themes and the runbooks."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_wheel_ships_the_themes_and_the_stylesheet(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("warroom-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for theme in ("dark", "light", "high-contrast"):
        assert f"warroom/themes/{theme}.toml" in names
    assert "warroom/app/app.tcss" in names
    for runbook in ("high-error-rate", "database-failover", "bad-deploy-rollback", "certificate-expiry"):
        assert f"warroom/runbooks/examples/{runbook}.md" in names
    assert "warroom/scenarios/checkout-errors.toml" in names  # warroom drill --list
    assert "server/hub.py" in names and "warroom/core/reducer.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "warroom = warroom.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
