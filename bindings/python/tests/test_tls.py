"""wss:// roots from Python against a frontdesk-server serving TLS with a certificate from a private
CA the test makes with openssl: the platform's roots alone refuse it naming the unknown issuer; with
the CA as extra_roots_pem the client syncs and gets answers. Skips without $FRONTDESK_SERVER."""

import os
import shutil
import subprocess
import threading

import pytest

import frontdesk as fd
from conftest import SECRET, TIMEOUT_MS, Recorder


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    binary = os.environ.get("FRONTDESK_SERVER")
    if not binary or not os.path.exists(binary):
        pytest.skip("set FRONTDESK_SERVER to a frontdesk-server binary to run the network tests")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test CA")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=frontdesk python test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    _openssl("req", *ec, "-subj", "/CN=localhost", "-keyout", "leaf.key", "-out", "leaf.csr", cwd=d)
    (d / "leaf.ext").write_text("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "leaf.ext", "-out", "leaf.pem", cwd=d)
    proc = subprocess.Popen(
        [binary, "--memory", "--addr", "127.0.0.1:0", "--secret", SECRET, "--xmpp-addr", "off",
         "--tls-cert", str(d / "leaf.pem"), "--tls-key", str(d / "leaf.key")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    info = {"ca": (d / "ca.pem").read_text()}

    def banner():
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("frontdesk server on wss://"):
                port = line.split()[3].rsplit(":", 1)[1]
                info["url"] = f"wss://localhost:{port}/client"
            elif line.startswith("client token alice:"):
                info["alice"] = line.split(":", 1)[1].strip()
            if "url" in info and "alice" in info:
                return

    reader = threading.Thread(target=banner, daemon=True)
    reader.start()
    reader.join(30)
    if "url" not in info or "alice" not in info:
        proc.kill()
        pytest.fail("frontdesk-server (TLS) did not start")
    yield info
    proc.terminate()
    proc.wait(10)


def test_the_platform_roots_alone_refuse_a_private_ca_naming_the_unknown_issuer(tls_server):
    rec = Recorder()
    client = fd.FrontdeskClient.connect(tls_server["url"], tls_server["alice"], 11, rec)
    ev = rec.wait_for(lambda e: e.is_transport_error(), timeout=20)
    assert "server certificate refused: unknown issuer" in ev.message, ev.message
    assert not client.is_connected()
    client.disconnect()


def test_the_ca_as_an_extra_root_connects_and_requests_are_answered(tls_server):
    rec = Recorder()
    client = fd.FrontdeskClient.connect(tls_server["url"], tls_server["alice"], 12, rec, extra_roots_pem=tls_server["ca"])
    client.wait_synced(20000)
    profile = client.wait(client.get_profile(), TIMEOUT_MS)
    assert profile is not None
    assert not any(e.is_transport_error() for e in rec.events)
    client.disconnect()


def test_a_bundle_without_a_certificate_is_refused_at_once(tls_server):
    with pytest.raises(fd.FrontdeskError.Invalid) as e:
        fd.FrontdeskClient.connect(tls_server["url"], tls_server["alice"], 13, Recorder(), extra_roots_pem="not a certificate")
    assert "BEGIN CERTIFICATE" in str(e.value)
    with pytest.raises(fd.FrontdeskError.Invalid):
        fd.FrontdeskClient.connect(tls_server["url"], tls_server["alice"], 13, Recorder(), extra_roots_pem="")
