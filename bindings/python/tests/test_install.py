"""The package as a user gets it: installed from the wheel, with its type marker, without Rust."""

import os
import shutil
from pathlib import Path

import pytest

import frontdesk as fd


def test_imported_from_the_installed_wheel():
    pkg = Path(fd.__file__).parent
    assert "site-packages" in pkg.parts, f"frontdesk imported from {pkg}, not from an installed wheel"
    for f in ("__init__.py", "py.typed", "frontdesk/frontdesk.py", "frontdesk/libfrontdesk_uniffi.so"):
        assert (pkg / f).is_file(), f"the installed package lacks {f}"


def test_no_rust_toolchain_on_path():
    if not os.environ.get("FRONTDESK_NO_RUST"):
        pytest.skip("only bindings/test-bindings.sh runs the suite with Rust removed from PATH")
    assert shutil.which("cargo") is None and shutil.which("rustc") is None


def test_signatures_carry_type_hints():
    # py.typed promises inline hints; the generated module has them on every method.
    hints = fd.FrontdeskClient.start_interaction.__annotations__
    assert hints["medium"] in ("Medium", fd.Medium) and hints["return"] in ("int", int), hints


TYPED_USE = '''
import frontdesk as fd

class Listener(fd.ClientListener):
    def on_event(self, event: fd.ClientEvent) -> None:
        pass

client = fd.EmbeddedCenter.demo().connect("tok-alice", 1, Listener())
rid: int = client.start_interaction(fd.Medium.CHAT)
response: fd.Response = client.wait(rid)
client.start_interaction("chat")
'''


def test_a_type_checker_reads_the_hints(tmp_path):
    # py.typed makes mypy use the package's own hints: the wrong argument on the last line is caught.
    api = pytest.importorskip("mypy.api")
    (tmp_path / "use.py").write_text(TYPED_USE)
    out, err, status = api.run([str(tmp_path / "use.py"), "--cache-dir", str(tmp_path / "cache")])
    assert status == 1, out + err
    assert 'use.py:11: error: Argument 1 to "start_interaction" of "FrontdeskClient" has incompatible type "str"; expected "Medium"' in out, out
    assert "Found 1 error" in out, out
