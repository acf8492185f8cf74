"""Building the C++ step kernel is safe when several processes do it at once into an empty cache
(pytest-xdist workers, or CI on a clean machine): each compiles into its own temporary directory and
renames the finished library into place, so none ever loads a half-written one."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from rnnkit.ops import cpu_kernels

pytestmark = pytest.mark.skipif(os.environ.get("RNNKIT_NO_CPP") is not None or cpu_kernels.compiler() is None,
                                reason="no C++ compiler, or RNNKIT_NO_CPP is set")

# Waits for the parent's "go" so that both processes compile at the same moment, then loads the
# library and checks one layer on it against the loop.
CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import torch
    from rnnkit import Recurrent
    from rnnkit.ops import cpu_kernels
    flag = Path(sys.argv[1])
    Path(f"{flag}.ready{sys.argv[2]}").touch()
    while not flag.exists():
        time.sleep(0.01)
    lib = cpu_kernels.load_library()
    assert lib is not None, cpu_kernels.unavailable_reason()
    torch.manual_seed(0)
    layer = Recurrent("lstm", 3, 5, layer_norm=True, backend="cpu-fused")
    x = torch.randn(2, 4, 3)
    out = layer(x).outputs
    layer.backend = "loop"
    torch.testing.assert_close(out, layer(x).outputs, rtol=1e-5, atol=1e-5)
    print(lib._name)
""")


def test_two_processes_build_into_an_empty_cache_at_once(tmp_path):
    cache = tmp_path / "cache"  # does not exist yet: both create it
    env = {**os.environ, "RNNKIT_CACHE": str(cache)}
    flag = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(flag), str(i)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    try:
        deadline = time.monotonic() + 300
        while not all((tmp_path / f"go.ready{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline, "the child processes did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.05)
        flag.touch()
        results = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_out, err) in zip(procs, results):
        assert p.returncode == 0, err
    names = {out.strip() for out, _ in results}
    assert len(names) == 1 and names.pop().startswith(str(cache))  # the same library, from the new cache
    # one finished library and nothing else: the temporary build directories are gone
    flags = [*cpu_kernels.FLAGS, *cpu_kernels._isa_flags()]
    built = cpu_kernels.library_path("cpu_kernels", cpu_kernels.SOURCE, cpu_kernels.compiler(), flags)
    assert [f.name for f in cache.iterdir()] == [built.name]


def test_the_build_writes_the_final_path_only_by_renaming_a_finished_library(tmp_path, monkeypatch):
    """The compiler and linker never write the cached path itself: a process that finds the library
    there (and skips its own build) always loads a whole one."""
    target = tmp_path / "cache" / "cpu_kernels_test.so"
    real_run = subprocess.run
    outputs = []

    def spy(cmd, *args, **kw):
        out = cmd[cmd.index("-o") + 1]
        outputs.append(out)
        assert out != str(target) and not target.exists()  # nothing at the final path while building
        return real_run(cmd, *args, **kw)

    monkeypatch.setattr(cpu_kernels.subprocess, "run", spy)
    flags = [*cpu_kernels.FLAGS, *cpu_kernels._isa_flags()]
    cpu_kernels.build_library(cpu_kernels.SOURCE, cpu_kernels.compiler(), flags, target)
    assert len(outputs) == 2  # compile, then link
    assert [f.name for f in target.parent.iterdir()] == [target.name]  # the temporary directory is gone
    lib = cpu_kernels.ctypes.CDLL(str(target))
    assert hasattr(lib, "rnnkit_step_fwd_f32") and hasattr(lib, "rnnkit_step_bwd_f64")
