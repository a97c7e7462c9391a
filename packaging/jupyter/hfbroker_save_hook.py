"""Jupyter save hook: keep Hugging Face tokens out of saved notebooks.

Before the Jupyter server writes a notebook (or a text file), its content
passes through ``hfbroker scan --redact -``: every Hugging Face token in it,
in code, in outputs (a printed HF_TOKEN, a traceback) or in metadata,
becomes ``hf_REDACTED``, and a ``login(token=...)`` or ``notebook_login()``
line becomes a comment, so a real token never reaches the disk. Lease
tokens from hfbroker kernels are redacted too.

It fails closed: when hfbroker cannot be run, the save fails with the reason,
and nothing is written.

Add to jupyter_server_config.py (in the directory ``jupyter --config-dir``
prints, e.g. ~/.jupyter/jupyter_server_config.py), with the directory that
holds this file:

    import sys
    sys.path.insert(0, "/usr/share/hfbroker/jupyter")
    from hfbroker_save_hook import scrub_tokens
    c.ContentsManager.pre_save_hook = scrub_tokens

HFBROKER_BIN names the hfbroker binary when it is not on the server's PATH.
"""

import json
import os
import shutil
import subprocess

__all__ = ["scrub_tokens"]

_TIMEOUT = 60  # seconds; scanning a 50 MiB notebook takes well under one


def _hfbroker():
    return os.environ.get("HFBROKER_BIN") or shutil.which("hfbroker") or "hfbroker"


def scrub_tokens(model, path=None, contents_manager=None, **kwargs):
    """A ContentsManager.pre_save_hook: redact tokens in model in place."""
    kind = model.get("type")
    if kind == "notebook":
        text = json.dumps(model["content"], ensure_ascii=False)
    elif kind == "file" and model.get("format") == "text":
        text = model["content"]
    else:
        return
    try:
        result = subprocess.run(
            [_hfbroker(), "scan", "--redact", "-"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError("hfbroker save hook: cannot scan %s for tokens: %s" % (path, e)) from None
    # 0: nothing found, or only ended lease tokens; 1: tokens found and
    # redacted. Anything else: fail the save rather than write a token.
    if result.returncode not in (0, 1) or (text and not result.stdout):
        # (1 with nothing on stdout: scan itself failed, e.g. on a notebook
        # over its 50 MiB limit.)
        reason = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError("hfbroker save hook: scanning %s failed: %s" % (path, reason[0] if reason else result.returncode))
    out = result.stdout.decode("utf-8")
    if kind == "notebook":
        model["content"] = json.loads(out)
    else:
        model["content"] = out
    if result.returncode == 1 and contents_manager is not None:
        contents_manager.log.warning("hfbroker: redacted Hugging Face tokens in %s before saving it", path)
