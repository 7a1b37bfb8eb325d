"""Execute the example notebooks in a fresh kernel; exit 1 if any cell fails.

    python examples/notebooks/run.py [NOTEBOOK ...]     # default: every *.ipynb here

Each notebook runs in a new kernel of this very interpreter: a kernel spec is written to
a temporary directory put first on ``JUPYTER_PATH``, so nothing is installed for the user
and no other ``python3`` kernel can be picked by mistake. The working directory is a new
temporary directory, so the usage notebook builds its own demo store (unless
``CDP_STORE`` names one). Needs the ``notebook`` extra (nbclient, nbformat, ipykernel).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from ipykernel.kernelspec import install
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
KERNEL = "cdp-sdk-examples"
TIMEOUT = 600  # seconds per cell


def execute(notebook: Path, workdir: Path) -> None:
    """Run every cell of ``notebook`` in a fresh kernel (raises on the first error)."""
    document = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        document,
        kernel_name=KERNEL,
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()


def main(argv: list[str]) -> int:
    notebooks = [Path(arg) for arg in argv] or sorted(HERE.glob("*.ipynb"))
    if not notebooks:
        print("no notebook to run", file=sys.stderr)
        return 1
    failed = 0
    with tempfile.TemporaryDirectory(prefix="cdp-notebooks-") as scratch:
        install(kernel_name=KERNEL, prefix=scratch)
        kernels = str(Path(scratch, "share", "jupyter"))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [kernels, *filter(None, [os.environ.get("JUPYTER_PATH")])]
        )
        for notebook in notebooks:
            workdir = Path(tempfile.mkdtemp(dir=scratch))
            started = time.perf_counter()
            try:
                execute(notebook, workdir)
            except CellExecutionError as error:
                failed += 1
                print(f"FAILED {notebook.name}\n{error}", file=sys.stderr)
                continue
            print(f"ok {notebook.name} ({time.perf_counter() - started:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
