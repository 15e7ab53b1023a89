"""pytest plugin: runs ComfyUI's tests/execution/test_execution.py against
comfyd instead of ComfyUI's main.py.

Loaded with `-p comfyd_suite` by run.sh (which puts this folder on
PYTHONPATH).  It changes nothing in the ComfyUI checkout:

* The suite's server fixture starts `python main.py <flags>` with
  subprocess.Popen.  This plugin wraps Popen: that one command line becomes
  the comfyd binary (COMFYD_BINARY) with the same flags translated, plus
  --base-directory (a fresh temporary folder) and the node-pack folders in
  COMFYD_PACK_DIRS (os.pathsep-separated).
* The suite imports torch only to call torch.cuda.empty_cache() in its
  fixtures.  When torch is not installed, a minimal module with that one
  function is registered so the suite can be collected without torch.
"""
import os
import subprocess
import sys
import tempfile
import types

try:
    import torch  # noqa: F401
except ImportError:
    _torch = types.ModuleType("torch")
    _torch.cuda = types.SimpleNamespace(empty_cache=lambda: None)
    sys.modules["torch"] = _torch

_RealPopen = subprocess.Popen


def _translate(args):
    binary = os.environ["COMFYD_BINARY"]
    out = [binary]
    base = tempfile.mkdtemp(prefix="comfyd-suite-")
    for sub in ("input", "output", "user", "temp"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    out += ["--base-directory", base]
    for d in os.environ.get("COMFYD_PACK_DIRS", "").split(os.pathsep):
        if d:
            out += ["--nodepack-dir", d]
    rest = list(args[2:])
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--extra-model-paths-config":
            i += 2          # names ComfyUI's custom_nodes folder; packs come from COMFYD_PACK_DIRS
            continue
        out.append(a)
        i += 1
    return out


_started = []


class _Popen(_RealPopen):
    def __init__(self, args, *a, **kw):
        if isinstance(args, (list, tuple)) and len(args) >= 2 and args[1] == "main.py":
            args = _translate(args)
            # The suite kills its previous server without waiting for it;
            # make sure it is gone (and its port free) before the next one.
            for old in _started:
                if old.poll() is None:
                    old.kill()
                old.wait(30)
            print("comfyd_suite: starting", " ".join(args), flush=True)
            super().__init__(args, *a, **kw)
            _started.append(self)
            return
        super().__init__(args, *a, **kw)


subprocess.Popen = _Popen
