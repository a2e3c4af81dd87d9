"""Throw-away TLS material for the local broker's SASL_SSL listener, made with openssl.

A private CA signs one server certificate valid for ``localhost`` and ``127.0.0.1``. The
broker reads a PEM keystore (unencrypted PKCS#8 key followed by the certificate chain);
clients trust ``ca.crt``, exactly as they trust a Strimzi cluster CA.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lobstream.devtools.localkafka.jars import ToolError

VALID_DAYS = 7
EC_CURVE = "prime256v1"  # EC keys: generated in milliseconds, unlike RSA.


@dataclass(frozen=True)
class TlsFiles:
    """Where the CA certificate and the broker's PEM keystore were written."""

    ca_file: Path
    keystore: Path


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise ToolError("openssl not found on PATH: it makes the local broker's certificates")
    done = subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise ToolError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_tls_files(
    directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> TlsFiles:
    """Write a CA and a server certificate for ``hosts`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    newkey = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{EC_CURVE}", "-nodes"]
    _openssl(
        "req", "-x509", *newkey, "-keyout", "ca.key", "-out", "ca.crt",
        "-days", str(VALID_DAYS), "-subj", "/CN=lobstream-local-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-new", *newkey, "-keyout", "server.key", "-out", "server.csr",
        "-subj", f"/CN={hosts[0]}",
        cwd=directory,
    )  # fmt: skip
    names = ",".join(f"IP:{host}" if _is_ip(host) else f"DNS:{host}" for host in hosts)
    (directory / "server.ext").write_text(
        f"subjectAltName={names}\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", str(VALID_DAYS),
        "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    keystore = directory / "server.pem"
    keystore.write_text(
        (directory / "server.key").read_text()
        + (directory / "server.crt").read_text()
        + (directory / "ca.crt").read_text()
    )
    return TlsFiles(ca_file=directory / "ca.crt", keystore=keystore)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
