"""The only module that reads the environment.

Every value is read when asked for (not at import), so a test or a long-running
process that changes the environment sees the change.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}

#: Seconds a host has in all to accept the connection and answer a request (status and
#: headers, redirects included): an overall deadline, not a per-read timeout, so a host that
#: never answers or trickles its headers fails after this long. No retry follows a timeout,
#: so such an endpoint costs one deadline per request, well under 30 s.
DEFAULT_CONNECT_TIMEOUT = 10.0

#: Seconds a transfer may stall (no bytes at all) before it fails; what arrived is kept for
#: resuming.
DEFAULT_DOWNLOAD_TIMEOUT = 30.0

#: Bytes a second a download must bring, averaged over each ``ZOO_DOWNLOAD_TIMEOUT`` span: a
#: host that trickles a byte before every stall deadline fails instead of holding a load for
#: ever (what arrived is kept for resuming).
MIN_DOWNLOAD_RATE = 1024


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def zoo_home() -> Path:
    """Root of zoo's own files (``ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``)."""
    if home := os.environ.get("ZOO_HOME"):
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "zoo"


def cache_dir() -> Path:
    """Where URL downloads are cached."""
    return zoo_home() / "downloads"


def catalog_paths() -> list[Path]:
    """Extra catalogue roots from ``ZOO_CATALOG_PATH`` (``os.pathsep``-separated)."""
    raw = os.environ.get("ZOO_CATALOG_PATH", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def ci() -> bool:
    """True on a CI runner (``CI``, as GitHub Actions, GitLab and most others set it): `zoo
    validate` then treats a local ``checkpoint.path`` outside the catalogue as an error."""
    return _flag("CI")


def offline_requested() -> bool:
    """True when the user turned the network off (``ZOO_OFFLINE`` or ``HF_HUB_OFFLINE``).

    Code that is about to use the network asks :func:`zoo.weights.locations.offline` (the one
    ``offline``), which adds an active mirror.
    """
    return _flag("ZOO_OFFLINE") or _flag("HF_HUB_OFFLINE")


def debug() -> bool:
    """True when the CLI should show tracebacks (``ZOO_DEBUG``)."""
    return _flag("ZOO_DEBUG")


def trusted_modules() -> tuple[str, ...]:
    """The user's own module prefixes from ``ZOO_TRUSTED_MODULES`` (comma-separated), trusted on
    top of zoo's allow-list (zoo.manifest's ``OBJECT_MODULES``)."""
    extra = os.environ.get("ZOO_TRUSTED_MODULES", "")
    return tuple(m.strip() for m in extra.split(",") if m.strip())


def hf_endpoint() -> str:
    """The Hugging Face Hub endpoint (``HF_ENDPOINT``)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, resolved as huggingface_hub does but at call time.

    ``HF_HUB_CACHE`` (or the older ``HUGGINGFACE_HUB_CACHE``), else ``$HF_HOME/hub``,
    else ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``.
    """
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if value := os.environ.get(name):
            return Path(value).expanduser()
    return hf_home() / "hub"


def mirror_dir() -> Path | None:
    """A mirror made by ``zoo pull --to DIR`` that loads read from, without network (``ZOO_MIRROR``)."""
    value = os.environ.get("ZOO_MIRROR", "").strip()
    return Path(value).expanduser() if value else None


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def download_timeout() -> float:
    """Seconds a download may wait for the next bytes before it fails (``ZOO_DOWNLOAD_TIMEOUT``)."""
    return _seconds("ZOO_DOWNLOAD_TIMEOUT", DEFAULT_DOWNLOAD_TIMEOUT)


def _first_set(*names: str) -> tuple[str, str] | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None


def env_model() -> tuple[str, str] | None:
    """``(variable, model name)`` from ``ZOO_MODEL``, else eva's ``MODEL_NAME``; None when neither is set."""
    return _first_set("ZOO_MODEL", "MODEL_NAME")


def env_out_indices() -> tuple[str, str] | None:
    """``(variable, raw value)`` from ``ZOO_OUT_INDICES``, else eva's ``OUT_INDICES``; None when neither is set."""
    return _first_set("ZOO_OUT_INDICES", "OUT_INDICES")


def connect_timeout() -> float:
    """Seconds a host has in all to accept a connection and send a request's status and headers
    (``ZOO_CONNECT_TIMEOUT``)."""
    return _seconds("ZOO_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)


def hf_token() -> str | None:
    """The Hugging Face token: ``HF_TOKEN`` (or the older ``HUGGING_FACE_HUB_TOKEN``), else the
    token file huggingface_hub's login writes (``$HF_HOME/token``); never printed."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if value := os.environ.get(name, "").strip():
            return value
    token_file = os.environ.get("HF_TOKEN_PATH") or str(hf_home() / "token")
    try:
        return Path(token_file).expanduser().read_text().strip() or None
    except OSError:
        return None


def hf_home() -> Path:
    """``HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``, else ``~/.cache/huggingface``."""
    if value := os.environ.get("HF_HOME"):
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface"


def no_color() -> bool:
    """``NO_COLOR`` is set and not empty (https://no-color.org): write no escape codes at all."""
    return os.environ.get("NO_COLOR", "") != ""


def columns() -> int | None:
    """The terminal width the user asked for (``COLUMNS``), if it is a positive number."""
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
