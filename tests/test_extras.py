"""The light install: without the nn and server extras the default method runs, and whatever needs an extra says
which one in one line. Simulated in a subprocess where importing torch, safetensors or fastapi fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hrinpaint.errors import InpaintError
from hrinpaint.extras import MissingExtraError, missing_extra, require
from hrinpaint.methods import resolve_method

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BLOCKED = ("torch", "safetensors", "fastapi", "uvicorn", "matplotlib", "psutil")


def run_without_extras(code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a Python where the extras' modules cannot be imported (as in a bare-core install)."""
    prelude = f"import sys\nfor name in {BLOCKED!r}:\n    sys.modules[name] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )


def test_default_method_runs_without_torch_pil_in_and_out(tmp_path):
    done = run_without_extras(
        f"""
        import numpy as np, PIL.Image as I, hrinpaint
        photo = I.open({str(EXAMPLES / "signpost.jpg")!r}).reduce(4)
        mask = I.open({str(EXAMPLES / "signpost_mask.png")!r}).reduce(4)
        filled = hrinpaint.inpaint(photo, mask)
        hole = np.asarray(mask) > 0
        before, after = np.asarray(photo.convert("RGB")), np.asarray(filled)
        assert isinstance(filled, I.Image) and np.array_equal(after[~hole], before[~hole])
        print("changed", int(np.any(after != before, axis=2)[hole].sum()), "of", int(hole.sum()))
        print("torch" in sys.modules and sys.modules["torch"] is not None)
        """
    )
    assert done.returncode == 0, done.stderr
    changed, total = (int(word) for word in done.stdout.split()[1:4:2])
    assert changed > 0.8 * total and done.stdout.split()[-1] == "False"


def test_network_method_says_which_extra_in_one_line(tmp_path):
    done = run_without_extras(
        f"""
        from hrinpaint.cli import main
        sys.exit(main(["inpaint", {str(EXAMPLES / "signpost.jpg")!r}, {str(EXAMPLES / "signpost_mask.png")!r},
                       "-o", {str(tmp_path / "out.png")!r}, "--method", "hifill"]))
        """
    )
    assert done.returncode == 1
    name = resolve_method("hifill").name  # a network filler takes the default's lifter
    assert done.stderr.strip() == (
        f"hrinpaint: error: method {name} needs hrinpaint[nn] (torch is not installed): pip install 'hrinpaint[nn]'"
    )
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["serve"], "server"),
        (["train", "configs/hifill-cpu.toml", "--run", "r"], "nn"),
        (["bench", "--data", "examples"], "bench"),
    ],
)
def test_commands_say_which_extra_in_one_line(argv, extra):
    done = run_without_extras(f"from hrinpaint.cli import main\nsys.exit(main({argv!r}))")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"hrinpaint {argv[0]} needs hrinpaint[{extra}]" in lines[0], done.stderr


def test_methods_lists_network_parts_as_not_installed():
    done = run_without_extras(
        """
        import hrinpaint
        listed = {method.name: method for method in hrinpaint.methods()}
        print(listed["patchmatch+cra"].available, listed["telea+shift"].available, listed["telea+shift"].needs)
        print(listed["hifill+cra"].available, listed["hifill+cra"].needs)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "nn", "False", "nn"]


def test_require_and_missing_extra():
    assert require("numpy", "anything") is np
    with pytest.raises(MissingExtraError, match=r"the plot needs hrinpaint\[bench\]") as raised:
        try:
            raise ModuleNotFoundError("No module named 'matplotlib.pyplot'", name="matplotlib.pyplot")
        except ModuleNotFoundError as error:
            raise missing_extra(error, "the plot") from None
    assert isinstance(raised.value, InpaintError) and isinstance(raised.value, ImportError)
    assert missing_extra(ModuleNotFoundError("x", name="not_an_extra"), "x") is None
    assert missing_extra(ValueError("x"), "x") is None


@pytest.fixture
def batch_folders(tmp_path):
    """A one-photo batch: ``images/a.png`` and its mask ``masks/a.png``."""
    from PIL import Image

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    Image.fromarray(np.full((24, 32, 3), 128, np.uint8)).save(images / "a.png")
    hole = np.zeros((24, 32), np.uint8)
    hole[8:14, 10:20] = 255
    Image.fromarray(hole).save(masks / "a.png")
    return images, masks


@pytest.mark.parametrize(
    ("blocked", "where", "what"),
    [
        ("distributed", "--dask", "hrinpaint batch --dask"),  # the cluster path's own require
        ("fsspec", "memory://", "the URL 'memory://images'"),  # a URL folder: batch's own require names it
    ],
)
def test_batch_without_the_cluster_extra_says_so_in_one_line(
    batch_folders, tmp_path, capsys, monkeypatch, blocked, where, what
):
    from hrinpaint.cli import main

    monkeypatch.setitem(sys.modules, blocked, None)  # importing it raises ModuleNotFoundError, as when missing
    images, masks = (str(folder) for folder in batch_folders)
    output = str(tmp_path / "out")
    if where == "--dask":
        argv = ["batch", images, masks, "-o", output, "-q", "--dask", "local"]
    else:
        argv = ["batch", "memory://images", masks, "-o", output, "-q"]
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"hrinpaint: error: {what} needs hrinpaint[cluster] ({blocked} is not installed): "
        "pip install 'hrinpaint[cluster]'"
    ]


def test_run_batch_from_python_without_fsspec_names_the_extra(batch_folders, tmp_path, monkeypatch):
    from hrinpaint.batch import BatchOptions, run_batch

    monkeypatch.setitem(sys.modules, "fsspec", None)  # importing it raises ModuleNotFoundError, as when missing
    images, masks = (str(folder) for folder in batch_folders)
    with pytest.raises(MissingExtraError, match=r"the URL 'memory://images' needs hrinpaint\[cluster\]") as raised:
        run_batch("memory://images", masks, str(tmp_path / "out"), BatchOptions(), quiet=True)
    assert "\n" not in str(raised.value)
    # local folders never need it
    assert [outcome.status for outcome in run_batch(images, masks, str(tmp_path / "out"), BatchOptions(), quiet=True)]
