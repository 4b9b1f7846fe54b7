"""Glue between the Snakemake workflow, the notebooks and the package: paths, seeds, the Jupyter kernel."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np

KERNEL_NAME = "causalehr"


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding the Snakefile, searched upwards from ``start`` (default: the working directory).

    Notebooks run with the project root as working directory under Snakemake and with ``notebooks/`` in
    JupyterLab; resolving paths from the root lets both work with the same default parameters.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Snakefile").is_file():
            return folder
    raise FileNotFoundError(f"no Snakefile in {here} or any folder above it: run from inside the project")


def job_seed(base_seed: int, *keys: object) -> int:
    """A seed for one job, derived from the config seed and the job's wildcards.

    The same (base_seed, keys) always gives the same seed; different keys give independent streams
    (numpy SeedSequence spawned from a CRC32 of the keys).
    """
    key = zlib.crc32("/".join(map(str, keys)).encode())
    return int(np.random.SeedSequence([int(base_seed), key]).generate_state(1)[0])


def ensure_kernel() -> str:
    """Install (or repair) the project's Jupyter kernel in this Python environment and return its name.

    The kernelspec lives in ``sys.prefix`` and runs ``sys.executable``, so papermill runs the notebooks in the
    environment that runs Snakemake, never in a kernel a user happens to have under the same name.
    """
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def resolved():
        try:
            spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        except NoSuchKernel:
            return None
        return spec

    spec = resolved()
    if spec is None or Path(spec.argv[0]).resolve() != Path(sys.executable).resolve():
        install(kernel_name=KERNEL_NAME, display_name="Python (causalehr)", prefix=sys.prefix)
        spec = resolved()
    if Path(spec.argv[0]).resolve() != Path(sys.executable).resolve():
        raise RuntimeError(
            f"the Jupyter kernel {KERNEL_NAME!r} found at {spec.resource_dir} runs {spec.argv[0]}, not this "
            f"environment's {sys.executable}: remove that kernelspec (jupyter kernelspec remove {KERNEL_NAME})"
        )
    return KERNEL_NAME
