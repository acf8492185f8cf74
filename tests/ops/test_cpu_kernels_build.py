"""Building a C++ kernel is safe when several processes do it at once into an empty cache (pytest-xdist
workers, or CI on a clean machine): each compiles into its own temporary directory and renames the
finished library into place, so none ever loads a half-written one."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from rnnkit import Recurrent
from rnnkit.ops import cpu_kernels

pytestmark = pytest.mark.skipif(os.environ.get("RNNKIT_NO_CPP") is not None or cpu_kernels.compiler() is None,
                                reason="no C++ compiler, or RNNKIT_NO_CPP is set")

# The racing processes build this tiny library through load_source, which builds the step kernel
# (load_library) and the stream and attention kernels too: the race is in that code, not in the source. The
# step kernel's own source takes seconds of CPU to compile in each process; the test below builds it once.
PROBE = 'extern "C" int rnnkit_probe(int x) { return 2 * x + 1; }\n'

# Loads cpu_kernels.py by its file, without the rnnkit package (whose import loads torch: seconds per
# process); waits for the parent's "go" so that both processes start building at the same moment; after its
# compile step, waits for the other's, so that both are always building at once whatever the machine's
# speed (neither can rename its library into place before the other has looked for it); then loads the
# library and calls it.
CHILD = textwrap.dedent("""
    import importlib.util, subprocess, sys, time
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("cpu_kernels", sys.argv[1])
    cpu_kernels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cpu_kernels)
    flag, me, other = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    real_run = subprocess.run

    def run(cmd, *args, **kw):
        done = real_run(cmd, *args, **kw)
        if "-c" in cmd:
            Path(f"{flag}.compiled{me}").touch()
            deadline = time.monotonic() + 120
            while not Path(f"{flag}.compiled{other}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return done

    subprocess.run = run
    Path(f"{flag}.ready{me}").touch()
    while not flag.exists():
        time.sleep(0.01)
    lib = cpu_kernels.load_source("probe", sys.argv[5], cpu_kernels.FLAGS)
    assert lib is not None, "the library did not build or load"
    assert lib.rnnkit_probe(20) == 41
    print(lib._name)
""")


def test_two_processes_build_into_an_empty_cache_at_once(tmp_path):
    cache = tmp_path / "cache"  # does not exist yet: both create it
    env = {**os.environ, "RNNKIT_CACHE": str(cache)}
    flag = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, cpu_kernels.__file__, str(flag), str(i), str(1 - i),
                               PROBE], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
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
    # both compiled: neither found the other's library and skipped its build
    assert all((tmp_path / f"go.compiled{i}").exists() for i in range(2)), "the builds did not overlap"
    names = {out.strip() for out, _ in results}
    assert len(names) == 1 and names.pop().startswith(str(cache))  # the same library, from the new cache
    # one finished library and nothing else: the temporary build directories are gone
    built = cpu_kernels.library_path("probe", PROBE, cpu_kernels.compiler(), cpu_kernels.FLAGS)
    assert [f.name for f in cache.iterdir()] == [built.name]


def test_the_build_writes_the_final_path_only_by_renaming_a_finished_library(tmp_path, monkeypatch):
    """The compiler and linker never write the cached path itself: a process that finds the library
    there (and skips its own build) always loads a whole one. The step kernel's own source, built where
    load_library looks for it, which then loads it: one layer on it computes as the loop."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    flags = [*cpu_kernels.FLAGS, *cpu_kernels._isa_flags()]
    target = cpu_kernels.library_path("cpu_kernels", cpu_kernels.SOURCE, cpu_kernels.compiler(), flags)
    real_run = subprocess.run
    outputs = []

    def spy(cmd, *args, **kw):
        out = cmd[cmd.index("-o") + 1]
        outputs.append(out)
        assert out != str(target) and not target.exists()  # nothing at the final path while building
        return real_run(cmd, *args, **kw)

    monkeypatch.setattr(cpu_kernels.subprocess, "run", spy)
    cpu_kernels.build_library(cpu_kernels.SOURCE, cpu_kernels.compiler(), flags, target)
    assert len(outputs) == 2  # compile, then link
    assert [f.name for f in target.parent.iterdir()] == [target.name]  # the temporary directory is gone
    cpu_kernels.load_library.cache_clear()  # loaded once per process: from the temporary cache here
    try:
        lib = cpu_kernels.load_library()
        assert lib is not None and lib._name == str(target)
        assert hasattr(lib, "rnnkit_step_fwd_f32") and hasattr(lib, "rnnkit_step_bwd_f64")
        torch.manual_seed(0)
        layer = Recurrent("lstm", 3, 5, layer_norm=True, backend="cpu-fused")
        x = torch.randn(2, 4, 3)
        out = layer(x).outputs
        layer.backend = "loop"
        torch.testing.assert_close(out, layer(x).outputs, rtol=1e-5, atol=1e-5)
    finally:
        cpu_kernels.load_library.cache_clear()  # the next test loads the library of the usual cache again
    assert len(outputs) == 2, "load_library built the library again instead of loading the one in place"
