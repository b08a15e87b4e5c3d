"""Ship the top-level content/ and locales/ inside the wheel as bot/_data/.

Everything else about the package is in pyproject.toml. The two folders stay at the
top of the repository (where municipalities edit them); a built wheel carries copies
at ``bot/_data/content`` and ``bot/_data/locales``, which ``bot.config.shipped_dir``
reads when no source tree is present. An editable install copies nothing and keeps
reading the repository's own folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("content", "locales")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for name in SHIPPED:
            source = HERE / name
            if not source.is_dir():
                raise SystemExit(f"{name}/ is missing from the source tree at {HERE}")
            target = Path(self.build_lib) / "bot" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)  # nothing stale from an earlier build
            self.copy_tree(str(source), str(target))


setup(cmdclass={"build_py": BuildPyWithData})
