"""Everything facexpr says to the Hugging Face Hub: environment, time limit, probe, downloads.

Private to facexpr; used by :mod:`facexpr.models` (Hub models, ``push_to_hub``) and by
:mod:`facexpr.detection` (YuNet's ONNX file). The environment is read at call time, so
``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_HOME`` and ``HF_HUB_CACHE`` set after import are
honoured, as ``huggingface_hub`` itself does when they are set before import.

The time limit (:data:`HUB_TIMEOUT_S`, ``$FACEXPR_HUB_TIMEOUT``) is a wall-clock limit on
the first answer from the Hub, huggingface_hub's own calls included: the probe runs in a
daemon thread that facexpr waits on for at most that long. (huggingface_hub builds its
request headers with a look-up of its own, ``/api/agent-harnesses``, that waits 3 s on an
endpoint that never answers; a socket timeout alone would not bound it.)
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import HubError, WeightsNotAvailableError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = [
    "HUB_TIMEOUT_S",
    "HUB_TIMEOUT_ENV",
    "hub_timeout",
    "is_offline",
    "endpoint",
    "resolve_cache_dir",
    "hub_answers",
    "fetch",
    "upload_folder",
]

HUB_TIMEOUT_S = 1.5
"""Seconds to wait for the Hub's first answer before failing (or using the cache)."""

HUB_TIMEOUT_ENV = "FACEXPR_HUB_TIMEOUT"
"""Environment variable that replaces :data:`HUB_TIMEOUT_S`."""


def hub_timeout() -> float:
    """Return the time limit in seconds: ``$FACEXPR_HUB_TIMEOUT``, else :data:`HUB_TIMEOUT_S`.

    Raises:
        ValueError: If the variable is not a finite number of seconds > 0.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, FACEXPR_HUB_TIMEOUT="0.5"):
        ...     hub_timeout()
        0.5
    """
    text = os.environ.get(HUB_TIMEOUT_ENV, "").strip()
    if not text:
        return HUB_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"${HUB_TIMEOUT_ENV} must be a number of seconds > 0, got {text!r}.")
    return value


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def is_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set, now or when huggingface_hub was imported."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or _env_flag("HF_HUB_OFFLINE")


def endpoint() -> str | None:
    """``$HF_ENDPOINT`` as set now, or ``None`` for huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT") or None


def _endpoint_name() -> str:
    from huggingface_hub import constants

    return endpoint() or constants.ENDPOINT


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> str | os.PathLike | None:
    """``cache_dir``, else ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``None`` (the default)."""
    if cache_dir is not None:
        return cache_dir
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return None


def _cache_name(cache_dir: str | os.PathLike | None) -> str:
    from huggingface_hub import constants

    return str(cache_dir or constants.HF_HUB_CACHE)


def hub_answers(repo_id: str, filename: str, *, revision: str | None = None, token: str | None = None,
                timeout: float | None = None) -> bool:
    """Whether the Hub answers a ``HEAD`` of one file within ``timeout`` seconds, wall clock.

    Any HTTP answer counts, 404 and 401 included (the download that follows reports them
    precisely). The request runs in a daemon thread: an endpoint that accepts connections and
    never answers costs at most ``timeout``, whatever huggingface_hub does inside the call.

    Args:
        repo_id: Hub repository.
        filename: File in it.
        revision: Branch, tag or commit.
        token: Hub token.
        timeout: Seconds; default :func:`hub_timeout`.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, HF_ENDPOINT="http://127.0.0.1:9"):  # nothing listens
        ...     hub_answers("someone/repo", "config.json", timeout=0.5)
        False
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    limit = hub_timeout() if timeout is None else timeout
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint())
    answered: list[bool] = []

    def probe() -> None:
        try:
            get_hf_file_metadata(url, token=token, timeout=limit, library_name="facexpr",
                                 library_version=__version__)
        except HfHubHTTPError:
            answered.append(True)
        except Exception:  # connection refused, DNS failure, timeout, proxy error
            answered.append(False)
        else:
            answered.append(True)

    thread = threading.Thread(target=probe, name="facexpr-hub-probe", daemon=True)
    thread.start()
    thread.join(limit)
    return bool(answered) and answered[0]


def _cached(repo_id: str, filename: str, revision: str | None, cache_dir: str | os.PathLike | None) -> Path | None:
    """The cached copy of one file, found without any network access, else ``None``."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
    return Path(found) if isinstance(found, str) else None


def fetch(
    repo_id: str,
    filenames: Iterable[str],
    *,
    what: str,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
    prefer_cache: bool = False,
    hint: str = "",
    optional: Iterable[str] = (),
) -> list[Path]:
    """Return local paths of ``filenames`` of ``repo_id``, through the standard HF cache.

    With the Hub reachable, :func:`huggingface_hub.hf_hub_download` fetches (or revalidates)
    each file. Offline (``HF_HUB_OFFLINE``) or when the Hub does not answer within
    :func:`hub_timeout`, the cached copies are used. With ``prefer_cache``, cached copies are
    used first and the network is touched only for what is missing.

    Args:
        repo_id: Hub repository, ``"user/name"``.
        filenames: Files to fetch, in order.
        what: What the repository is, for messages (e.g. ``"Hub model"``).
        revision: Branch, tag or commit (default ``main``).
        cache_dir: Hub cache folder; default as :func:`resolve_cache_dir`.
        token: Hub token for private repositories.
        prefer_cache: Use a cached copy without asking the Hub.
        hint: Sentence appended to every error message (what the user can do).
        optional: Files fetched (or taken from the cache) beside ``filenames`` when they
            exist; their absence is no error and they are not returned.

    Returns:
        One local path per file of ``filenames``.

    Raises:
        WeightsNotAvailableError: A file is neither cached nor downloadable; the message names
            the repository, the revision, the file, the endpoint or the offline setting.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    names = list(filenames)
    cache_dir = resolve_cache_dir(cache_dir)
    label = f"{what} '{repo_id}' (revision {revision or 'main'})"
    tail = f" {hint}" if hint else ""
    cached = [_cached(repo_id, name, revision, cache_dir) for name in names]
    if prefer_cache and all(cached):
        return [path for path in cached if path is not None]
    offline = is_offline()
    reachable = not offline and hub_answers(repo_id, names[0], revision=revision, token=token)
    if not reachable:
        reason = ("HF_HUB_OFFLINE is set" if offline else
                  f"the Hub at {_endpoint_name()} could not be reached within {hub_timeout():g} s")
        for name, path in zip(names, cached):
            if path is None:
                raise WeightsNotAvailableError(
                    f"Cannot load {name} of {label}: {reason} and it is not in the local cache "
                    f"({_cache_name(cache_dir)}).{tail}"
                )
        return [path for path in cached if path is not None]
    download = dict(revision=revision, cache_dir=cache_dir, token=token, endpoint=endpoint(),
                    etag_timeout=hub_timeout(), library_name="facexpr", library_version=__version__)
    paths = []
    for name in names:
        try:
            paths.append(Path(hf_hub_download(repo_id, name, **download)))
        except RepositoryNotFoundError:
            raise WeightsNotAvailableError(
                f"{label} was not found on the Hub at {_endpoint_name()} (or it is private: pass "
                f"token=).{tail}"
            ) from None
        except RevisionNotFoundError:
            raise WeightsNotAvailableError(f"Revision not found for {label}.{tail}") from None
        except EntryNotFoundError:
            raise WeightsNotAvailableError(f"{label} has no file {name}.{tail}") from None
        except LocalEntryNotFoundError:
            raise WeightsNotAvailableError(
                f"Cannot load {name} of {label}: the Hub at {_endpoint_name()} could not be reached "
                f"and it is not in the local cache ({_cache_name(cache_dir)}).{tail}"
            ) from None
        except (HfHubHTTPError, OSError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise WeightsNotAvailableError(f"Cannot download {name} of {label}: {first}.{tail}") from None
    for name in optional:
        try:
            hf_hub_download(repo_id, name, **download)
        except (HfHubHTTPError, OSError):
            pass  # an optional file the repository does not have (or cannot give now)
    return paths


def _api(token: str | None) -> HfApi:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint(), token=token, library_name="facexpr", library_version=__version__)


def upload_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    shown_as: str | os.PathLike | None = None,
    allow_patterns: list[str] | None = None,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str,
    revision: str | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` with :class:`huggingface_hub.HfApi`.

    Args:
        folder: Local folder to upload.
        repo_id: Target repository, ``"user/name"``.
        shown_as: What to call the upload in error messages (the user's model, not a
            temporary folder); default: the folder's path.
        allow_patterns: Upload only the files matching these patterns.
        private: Create the repository as private.
        token: Hub token.
        commit_message: Commit message on the Hub.
        revision: Branch to commit to.

    Returns:
        The URL of the commit.

    Raises:
        HubError: The Hub could not be reached or refused the upload; the message names the
            repository, the endpoint and what was uploaded, never a temporary path.
    """
    from huggingface_hub.errors import HfHubHTTPError

    source = shown_as if shown_as is not None else f"'{folder}'"
    if is_offline():
        raise HubError(f"Cannot upload {source} to '{repo_id}': HF_HUB_OFFLINE is set.")
    api = _api(token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), allow_patterns=allow_patterns,
            commit_message=commit_message, revision=revision,
        )
    except HfHubHTTPError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise HubError(
            f"The Hub at {_endpoint_name()} refused to upload {source} to '{repo_id}': {first}"
        ) from None
    except Exception as err:
        if not _is_network_error(err):
            raise
        raise HubError(
            f"Cannot upload {source} to '{repo_id}': the Hub at {_endpoint_name()} could not be "
            f"reached ({type(err).__name__}). Check the connection, HF_ENDPOINT and HF_HUB_OFFLINE."
        ) from None
    return str(getattr(info, "commit_url", info))


def _is_network_error(err: BaseException) -> bool:
    """Whether ``err`` comes from the HTTP layer (httpx, httpx2, requests) or the socket."""
    if isinstance(err, (ConnectionError, TimeoutError)):
        return True
    from huggingface_hub.errors import OfflineModeIsEnabled

    if isinstance(err, OfflineModeIsEnabled):
        return True
    module = type(err).__module__.split(".")[0]
    return module in ("httpx", "httpx2", "httpcore", "requests", "urllib3")
