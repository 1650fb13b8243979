"""driftscan: where an organisation's repositories diverge, and where teams duplicate effort."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("driftscan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"
