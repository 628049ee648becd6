"""Each command imports only what it uses: building the parser (every `--help`) imports no
heavy library, and `videolights eval` neither torch nor prefect. Checked on the modules a
fresh interpreter has loaded, not on time (`benchmarks/eval.py` times it)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "prefect", "numpy", "pydantic", "pandas", "pyarrow", "transformers"}


def loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running `code`, whose
    output is discarded."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json, sys
        print(json.dumps(sorted(sys.modules)), file=sys.stderr)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stderr.splitlines()[-1])}


def test_building_the_parser_imports_no_heavy_library():
    loaded = loaded_after("from flows.cli import build_parser; build_parser()")
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_every_help_imports_no_heavy_library():
    loaded = loaded_after(
        """
        import contextlib
        from flows.cli import build_parser, main
        from synth.cli import synth_generate_main

        commands = build_parser()._subparsers._group_actions[0].choices
        for argv in [[], *([name] for name in commands), ["weights", "fetch"]]:
            with contextlib.suppress(SystemExit):
                main([*argv, "--help"])
        with contextlib.suppress(SystemExit):
            synth_generate_main(["--help"])
        """
    )
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_eval_imports_neither_torch_nor_prefect(data_dir, tmp_path):
    folder = data_dir / "qvhighlights"
    argv = ["eval", "--submission", str(folder / "moment_detr_sample_val_preds.jsonl")]
    argv += ["--gt", str(folder / "highlight_val_release.jsonl")]
    argv += ["--out", str(tmp_path / "metrics.json")]
    loaded = loaded_after(f"from flows.cli import main; assert main({argv!r}) == 0")
    assert (tmp_path / "metrics.json").is_file()  # it did score
    assert not loaded & {"torch", "prefect", "pydantic"}, sorted(loaded)
