"""Build configuration that pyproject.toml cannot express: the repository's top-level folders that
the installed package needs (extensions/, cpp/, configs/, examples/; see nequip/_files) are mapped
into the package as ``nequip._files.<folder>``, so wheels and sdists carry them while the repository
keeps one copy where DESIGN.md puts them. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

# folder -> files shipped from it (globs relative to the folder)
SHIPPED = {
    "extensions": ["README.md", "csrc/*.cpp", "csrc/*.cu", "csrc/*.h", "csrc/*.cuh"],
    "cpp": ["CMakeLists.txt", "README.md", "LICENSE", "build.sh", "*.cpp", "*.h"],
    "configs": ["*.yaml", "slurm/*"],
    "examples": ["*.py", "data/*.xyz"],
}

setup(
    packages=find_packages(include=["nequip*", "allegro*"]) + [f"nequip._files.{name}" for name in SHIPPED],
    package_dir={f"nequip._files.{name}": name for name in SHIPPED},
    package_data={f"nequip._files.{name}": globs for name, globs in SHIPPED.items()},
)
