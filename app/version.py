"""The running version, as the package metadata has it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sei-processor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
