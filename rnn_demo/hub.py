"""Talking to the Hugging Face Hub: fetching checkpoint folders and publishing them.

Only ``config.json``, ``model.safetensors`` and ``README.md`` are ever downloaded, so a repo that
holds pickled weights can't slip one in. Downloads land in huggingface_hub's cache and are reused
offline. Tokens are passed straight to huggingface_hub and never printed, logged or stored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, get_hf_file_metadata, get_token, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .checkpoint_layout import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, check_folder
from .errors import UserError

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")  # the Hub allows 96 characters a part


class HubUnreachable(UserError):
    """The Hub (or the endpoint configured in its place) did not answer."""


def looks_like_repo_id(text: str) -> bool:
    return bool(REPO_ID.match(text)) and not os.path.exists(text)  # Path.exists raises for a name too long


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Fetch a checkpoint from the Hub (or its cache); return the local folder holding it."""
    if not REPO_ID.match(repo_id):
        raise UserError(f"{repo_id!r} is not a Hub repo id (expected owner/name)")
    options = dict(repo_id=repo_id, revision=revision, token=token or None, endpoint=endpoint, cache_dir=cache_dir)
    try:
        offline = not _hub_answers(repo_id, revision, token or None, endpoint)
        config = hf_hub_download(filename=CONFIG_FILE, local_files_only=offline, **options)
        hf_hub_download(filename=WEIGHTS_FILE, local_files_only=offline, **options)
        try:
            hf_hub_download(filename=CARD_FILE, local_files_only=offline, **options)
        except EntryNotFoundError:
            pass  # a card is nice to have, not needed to load
    except GatedRepoError:
        raise UserError(f"{repo_id}: this repo is gated; accept its terms on the Hub and give a token") from None
    except RepositoryNotFoundError:
        raise UserError(f"{repo_id}: no such model repo on the Hub (or it is private and no valid token was given)") from None
    except RevisionNotFoundError:
        raise UserError(f"{repo_id}: no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        raise HubUnreachable(f"{repo_id}: the Hub could not be reached and the model is not in the local cache") from None
    except EntryNotFoundError:
        raise UserError(
            f"{repo_id}: the repo has no {CONFIG_FILE} + {WEIGHTS_FILE} (only safetensors checkpoints are loaded)"
        ) from None
    except HFValidationError as error:
        raise UserError(f"{repo_id!r}: {error}") from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        if status in (401, 403):
            raise UserError(f"{repo_id}: the Hub refused the token (HTTP {status})") from None
        raise HubUnreachable(f"{repo_id}: the Hub answered with an error (HTTP {status})") from None
    except (OSError, httpx2.TransportError) as error:  # connection refused, DNS failure, timeouts
        raise HubUnreachable(f"{repo_id}: the Hub could not be reached ({type(error).__name__})") from None
    return Path(config).parent


def _hub_answers(repo_id: str, revision: str | None, token: str | None, endpoint: str | None) -> bool:
    """One quick request, no retries: is the Hub there at all?

    When it isn't, ``hf_hub_download`` retries with back-off for ~25 s before it looks in its
    cache; asking once first lets an unreachable Hub fall back to the cache (or to a bundled
    model) at once.
    """
    url = hf_hub_url(repo_id, CONFIG_FILE, revision=revision, endpoint=endpoint)
    try:
        get_hf_file_metadata(url, token=token, endpoint=endpoint)
    except HfHubHTTPError as error:  # it answered; hf_hub_download will report what it said
        return error.response is None or error.response.status_code < 500
    except (OSError, httpx2.TransportError):
        return False
    return True


def push(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None, endpoint: str | None = None) -> str:
    """Upload a checkpoint folder's model files to a Hub model repo; return the repo's URL."""
    folder = check_folder(folder)
    if not REPO_ID.match(repo_id):
        raise UserError(f"{repo_id!r} is not a Hub repo id (expected owner/name)")
    if not (token or get_token()):
        raise UserError("no Hugging Face token: set HF_TOKEN or log in with `hf auth login`")
    api = HfApi(endpoint=endpoint, token=token or None)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE],
            commit_message="Upload rnn-demo checkpoint",
        )
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        reason = {401: "the token was rejected", 403: "the token may not write to this repo"}.get(status, f"HTTP {status}")
        raise UserError(f"push to {repo_id} failed: {reason}") from None
    except (OSError, httpx2.TransportError) as error:
        raise HubUnreachable(f"push to {repo_id} failed: the Hub could not be reached ({type(error).__name__})") from None
    return str(url)
