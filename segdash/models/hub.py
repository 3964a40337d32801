"""``segdash pull hf:ORG/NAME``: the one thing in segdash that reaches the network, and only when asked.

    folder = pull("hf:nvidia/segformer-b0-finetuned-ade-512-512", "runs/hub/segformer-b0-ade")

A model folder comes from the Hugging Face Hub with ``huggingface_hub.snapshot_download`` restricted to
``ALLOWED_FILES``: JSON (config, image processor) and safetensors weights, never code (``*.py``) nor pickle
(``pytorch_model.bin``). The download goes to a hidden folder beside ``out``; it is put in place only when
segdash opens it (``read_meta``), with ``segdash-source.json`` saying where it came from (the model card
shows "hf:ORG/NAME@revision"). Offline, it says so in one line before trying.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
import shutil
import socket
from pathlib import Path

from segdash.errors import SegdashError
from segdash.fsutil import atomic_dir

#: What a pull downloads: configs and weights as data, nothing that runs.
ALLOWED_FILES = ("*.json", "*.safetensors")
HUB_HOST = "huggingface.co"
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}")
_REVISION = re.compile(r"[A-Za-z0-9_.\-/]{1,100}")


@dataclasses.dataclass(frozen=True)
class PullResult:
    folder: Path
    repo: str
    revision: str
    files: tuple[str, ...]


def parse_repo(text: str) -> str:
    """``"hf:ORG/NAME"`` (or ``ORG/NAME``) -> ``"ORG/NAME"``; a one-line error for anything else."""
    repo = str(text).strip().removeprefix("hf:").removeprefix("https://huggingface.co/").strip("/")
    if not _REPO.fullmatch(repo) or ".." in repo:
        raise SegdashError(f"name a Hub model as hf:ORG/NAME (e.g. hf:nvidia/segformer-b0-finetuned-ade-512-512), "
                           f"got {str(text)[:80]!r}")  # fmt: skip
    return repo


def default_folder(repo: str) -> Path:
    """Where a pull goes without ``--out``: ``<runs folder>/hub/ORG--NAME``, which the model picker scans."""
    from segdash.train.runs import default_runs_root

    return default_runs_root() / "hub" / repo.replace("/", "--")


def online(host: str = HUB_HOST, timeout: float = 3.0) -> bool:
    """True when ``host`` resolves and accepts a connection on 443 within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def pull(source: str, out: str | Path | None = None, revision: str | None = None, replace: bool = False) -> PullResult:
    """Download a Hub model folder into ``out`` (see the module docstring)."""
    repo = parse_repo(source)
    if revision is not None and not _REVISION.fullmatch(revision):
        raise SegdashError(f"--revision takes a branch, tag or commit, got {revision[:60]!r}")
    out = Path(out).expanduser() if out else default_folder(repo)
    if out.exists() and not replace:
        raise SegdashError(f"{out} exists; choose another --out or replace it with --force")
    if not online():
        raise SegdashError(f"this machine is offline ({HUB_HOST} cannot be reached), so hf:{repo} cannot be "
                           "downloaded; pull it on a connected machine and copy the folder here")  # fmt: skip
    with atomic_dir(out) as tmp:
        files = _download(repo, revision, tmp)
        if not any(name.endswith(".safetensors") for name in files):
            raise SegdashError(f"hf:{repo} has no safetensors weights{' at ' + revision if revision else ''} (only pickle "
                               "files, which segdash does not download); the Hub often has a conversion under "
                               "refs/pr/N: try --revision refs/pr/1")  # fmt: skip
        resolved = _resolved_revision(repo, revision)
        record = {"hub": repo, "revision": resolved, "files": sorted(files),
                  "pulled": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}  # fmt: skip
        (tmp / "segdash-source.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        from segdash.models.checkpoint import read_meta

        read_meta(tmp)  # it opens, or nothing is put in place
    return PullResult(out, repo, resolved or (revision or "main"), tuple(sorted(files)))


def _download(repo: str, revision: str | None, folder: Path) -> list[str]:
    """``snapshot_download`` of the allowed files into ``folder``; Hub errors as one line."""
    from huggingface_hub import errors, snapshot_download

    try:
        snapshot_download(repo, revision=revision, local_dir=folder, allow_patterns=list(ALLOWED_FILES))
    except errors.GatedRepoError:
        raise SegdashError(f"hf:{repo} is gated: accept its terms on the Hub and log in (hf auth login)") from None
    except errors.RepositoryNotFoundError:
        raise SegdashError(f"there is no model hf:{repo} on the Hub (or it is private)") from None
    except errors.RevisionNotFoundError:
        raise SegdashError(f"hf:{repo} has no revision {revision!r}") from None
    except (errors.LocalEntryNotFoundError, OSError) as exc:
        raise SegdashError(f"could not download hf:{repo}: the Hub did not answer ({type(exc).__name__}); is this "
                           "machine online?") from None  # fmt: skip
    except Exception as exc:  # HTTP errors of the Hub and of its client library (httpx), timeouts
        raise SegdashError(f"could not download hf:{repo} ({type(exc).__name__}: "
                           f"{(str(exc).splitlines() or [''])[0][:160]})") from None  # fmt: skip
    shutil.rmtree(folder / ".cache", ignore_errors=True)  # the download's own bookkeeping, not the model's
    found = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return [name for name in found if not name.startswith(".cache/")]


def _resolved_revision(repo: str, revision: str | None) -> str | None:
    """The commit the download came from, as ``snapshot_download`` recorded it beside the files (or None)."""
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(repo, revision=revision).sha
    except Exception:  # best effort: the files are there whatever the info call says
        return None
