"""Support bot for worried relatives, with a municipal helpline's staff web app."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relatives-support-bot")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
