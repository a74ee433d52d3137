"""The code digest that makes an edit rerun the jobs it affects (gdbasins/sources.py)."""

import ast
import os
import shutil
import subprocess
import sys

import pytest

from gdbasins import sources
from helpers import REPO, env

SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))


def test_every_import_form_is_followed(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(
        "import os\n"
        "import gdbasins.render\n"
        "from gdbasins import plots, Network\n"  # Network is a name of __init__, not a module
        "from gdbasins.landscape import something\n"
        "def later():\n"
        "    from gdbasins import report\n"  # a lazy import may run: it counts
        "MODEL = 'pyfunc_model.py'\n")  # a module handed over as a file (MLflow models from code)
    found = sources.modules(script)
    assert {"render", "plots", "landscape", "report", "pyfunc_model", "__init__"} <= set(found)
    assert "Network" not in found and "os" not in found
    # followed through the package's relative imports: render.py has `from . import files` and
    # `from .job import ...`, job.py `from .endpoints import ...`
    assert {"files", "job", "endpoints"} <= set(found)


def test_a_script_that_imports_nothing_still_loads_the_package_init(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("print('hello')\n")
    found = sources.modules(script)
    # gdbasins/__init__ itself imports the engine, so that is what a job loads at the least
    assert found[0] == "__init__" and {"blas", "network", "train"} <= set(found)
    assert "report" not in found and "tracking" not in found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_modules_found_include_every_module_the_script_really_loads(script):
    """Import what the script imports at its top level, in a fresh interpreter, and list the
    package's modules Python loaded: all of them must be in the digest."""
    tree = ast.parse(script.read_text())
    imports = [ast.unparse(node) for node in tree.body
               if isinstance(node, (ast.Import, ast.ImportFrom)) and "gdbasins" in ast.unparse(node)]
    assert imports, f"{script.name} imports nothing from the package"
    probe = "\n".join(imports + ["import sys",
                                 "print(' '.join(m.split('.')[1] if '.' in m else '__init__' "
                                 "for m in sys.modules if m.split('.')[0] == 'gdbasins'))"])
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env()).stdout
    loaded = set(out.split())
    assert "__init__" in loaded and len(loaded) > 3
    assert loaded <= set(sources.modules(script)), loaded - set(sources.modules(script))


def test_the_rules_scripts_differ_in_what_they_load():
    by_script = {p.name: set(sources.modules(p)) for p in SCRIPTS}
    assert {"render", "report", "landscape"} <= by_script["report.py"]
    assert not {"render", "report", "plots", "tracking"} & by_script["make_dataset.py"]
    assert {"plots", "classify"} <= by_script["classify.py"] and "render" not in by_script["classify.py"]
    assert {"tracking", "model", "pyfunc_model"} <= by_script["track.py"]


def test_the_digest_changes_with_an_edit_to_a_loaded_module_only(tmp_path):
    package = tmp_path / "gdbasins"
    shutil.copytree(sources.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    script = tmp_path / "make_dataset.py"
    shutil.copy(REPO / "workflow" / "scripts" / "make_dataset.py", script)
    before = sources.digest(script, package)
    assert before == sources.digest(REPO / "workflow" / "scripts" / "make_dataset.py")  # same files, same digest
    os.utime(package / "network.py", (0, 0))  # touched: the same content
    assert sources.digest(script, package) == before
    with (package / "render.py").open("a") as f:  # not loaded by this script
        f.write("# an edit\n")
    assert sources.digest(script, package) == before
    with (package / "functions.py").open("a") as f:  # loaded (through network.py)
        f.write("# an edit\n")
    edited = sources.digest(script, package)
    assert edited != before and len(edited) == 16
    with script.open("a") as f:  # the script itself
        f.write("# an edit\n")
    assert sources.digest(script, package) not in (before, edited)
