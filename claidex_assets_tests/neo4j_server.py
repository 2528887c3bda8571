"""A real Neo4j Community server for tests, started from the embedded DBMS jars.

The first start resolves the ``org.neo4j:neo4j`` jars with Maven into
``~/.cache/claidex/neo4j-<version>/lib`` and compiles the small Java launcher in
``neo4j_launcher/`` with javac. Later starts reuse both, so they only pay for
the JVM and the DBMS start. The server binds Bolt to 127.0.0.1 on a port the operating
system picks, has HTTP disabled, keeps its data in a fresh temporary directory
and enables authentication for the user ``neo4j`` with a random password.

Use it from tests through the session fixture ``neo4j_server`` (this module is
a pytest plugin), or from a shell::

    python -m claidex_assets_tests.neo4j_server            # prints NEO4J_* lines, runs until Ctrl-C
    python -m claidex_assets_tests.neo4j_server --prepare  # only fills the cache

Environment variables: ``CLAIDEX_NEO4J_VERSION`` (default below),
``CLAIDEX_NEO4J_JAVA_HOME`` (a JDK to use instead of the one on PATH) and
``CLAIDEX_NEO4J_CACHE`` (cache directory instead of ``~/.cache/claidex``).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import logging
import os
import queue
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

DEFAULT_NEO4J_VERSION = "5.26.30"
LAUNCHER_DIR = Path(__file__).parent / "neo4j_launcher"
LAUNCHER_CLASS = "ClaidexNeo4jLauncher"
READY_PREFIX = "CLAIDEX_NEO4J_READY "
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
JVM_LOCATIONS = Path("/usr/lib/jvm")
# The serial collector and the C1 compiler alone start the DBMS about twice as fast on a busy
# 2-core machine (measured 9.5 to 17 s against 17 to 27 s), at the cost of slower steady-state
# code. Pass jvm_options=() for long benchmarks.
DEFAULT_JVM_OPTIONS: tuple[str, ...] = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


class Neo4jToolMissingError(RuntimeError):
    """java, javac or mvn is not installed, so no test server can be started."""


@dataclass(frozen=True)
class Neo4jServerInfo:
    """Connection settings of a running test server."""

    uri: str
    user: str
    password: str
    database: str = "neo4j"
    # Directory that LOAD CSV reads ``file:///`` URLs from.
    import_dir: Path | None = None

    def __repr__(self) -> str:
        # Keep the password out of pytest failure output and logs.
        return f"Neo4jServerInfo(uri={self.uri!r}, user={self.user!r}, database={self.database!r})"

    def environment(self) -> dict[str, str]:
        """Return the settings as the NEO4J_* environment variables the pipeline reads."""
        return {
            "NEO4J_URI": self.uri,
            "NEO4J_USER": self.user,
            "NEO4J_PASSWORD": self.password,
            "NEO4J_DATABASE": self.database,
        }


@dataclass(frozen=True)
class Neo4jInstall:
    """A Neo4j version's jars and the compiled launcher, ready to run with ``java``."""

    version: str
    java: Path
    lib_dir: Path
    classes_dir: Path

    def classpath(self) -> str:
        return f"{self.classes_dir}{os.pathsep}{self.lib_dir / '*'}"


def cache_root() -> Path:
    if os.environ.get("CLAIDEX_NEO4J_CACHE"):
        return Path(os.environ["CLAIDEX_NEO4J_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "claidex"


def required_java_major(version: str) -> int:
    """Return the oldest Java major version that a Neo4j version runs on (5.x: 17, 2025.x and later: 21)."""
    return 17 if version.startswith(("4.", "5.")) else 21


def java_major(java: Path) -> int:
    output = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if match is None:
        raise Neo4jToolMissingError(f"cannot read the Java version from `{java} -version`: {output!r}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major


def find_jdk(version: str) -> tuple[Path, Path]:
    """Return (java, javac) of a JDK new enough for ``version``.

    Looks at CLAIDEX_NEO4J_JAVA_HOME, then the java and javac on PATH, then the JDKs under /usr/lib/jvm.
    """
    needed = required_java_major(version)
    candidates: list[Path] = []
    if os.environ.get("CLAIDEX_NEO4J_JAVA_HOME"):
        candidates.append(Path(os.environ["CLAIDEX_NEO4J_JAVA_HOME"]))
    on_path = shutil.which("javac")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    if JVM_LOCATIONS.is_dir():
        candidates.extend(sorted(JVM_LOCATIONS.iterdir()))

    seen: list[str] = []
    for home in candidates:
        java, javac = home / "bin" / "java", home / "bin" / "javac"
        if not (java.is_file() and javac.is_file()):
            continue
        major = java_major(java)
        seen.append(f"{home} (Java {major})")
        if major >= needed:
            return java, javac
    found = ", ".join(seen) or "none"
    raise Neo4jToolMissingError(
        f"Neo4j {version} needs a JDK with java and javac of Java {needed} or newer; found: {found}. "
        f"Install one or set CLAIDEX_NEO4J_JAVA_HOME to its directory."
    )


def launcher_digest(java_major_version: int) -> str:
    source = (LAUNCHER_DIR / f"{LAUNCHER_CLASS}.java").read_bytes()
    return hashlib.sha256(source + f"java{java_major_version}".encode()).hexdigest()[:12]


def prepare_neo4j(version: str = DEFAULT_NEO4J_VERSION) -> Neo4jInstall:
    """Resolve the Neo4j jars with Maven and compile the launcher, unless the cache already contains them.

    A file lock serializes concurrent preparations (several pytest sessions on one machine).
    Raises Neo4jToolMissingError when java, javac or mvn is missing.
    """
    java, javac = find_jdk(version)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jToolMissingError("mvn (Apache Maven) is not on PATH; install Maven to start the Neo4j test server")

    root = cache_root() / f"neo4j-{version}"
    root.mkdir(parents=True, exist_ok=True)
    lib_dir = root / "lib"
    classes_dir = root / f"launcher-{launcher_digest(java_major(java))}"

    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (lib_dir / ".complete").exists():
            download_jars(mvn, version, root, lib_dir)
        if not (classes_dir / f"{LAUNCHER_CLASS}.class").exists():
            compile_launcher(javac, lib_dir, classes_dir)
    return Neo4jInstall(version=version, java=java, lib_dir=lib_dir, classes_dir=classes_dir)


def download_jars(mvn: str, version: str, root: Path, lib_dir: Path) -> None:
    started = time.monotonic()
    staging = root / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(lib_dir, ignore_errors=True)
    command = [
        mvn, "-q", "-B", "-f", str(LAUNCHER_DIR / "pom.xml"),
        "dependency:copy-dependencies", f"-Dneo4j.version={version}", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    logger.info("Resolving Neo4j %s jars with Maven into %s", version, lib_dir)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"Maven could not resolve org.neo4j:neo4j:{version} (exit code {result.returncode}); "
            f"check the version and the Maven repository access. Output:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )
    staging.rename(lib_dir)
    (lib_dir / ".complete").write_text(version)
    logger.info("Resolved %d Neo4j jars in %.1f s", len(list(lib_dir.glob("*.jar"))), time.monotonic() - started)


def compile_launcher(javac: Path, lib_dir: Path, classes_dir: Path) -> None:
    staging = classes_dir.with_name(classes_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        str(javac), "-nowarn", "-d", str(staging), "-cp", str(lib_dir / "*"),
        str(LAUNCHER_DIR / f"{LAUNCHER_CLASS}.java"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"javac failed on the Neo4j launcher (exit code {result.returncode}):\n{result.stderr}")
    shutil.rmtree(classes_dir, ignore_errors=True)
    staging.rename(classes_dir)


def server_config(page_cache: str, import_dir: Path) -> str:
    """Return the neo4j.conf text of a test server: Bolt on a free loopback port, nothing else open."""
    settings = {
        "server.directories.import": str(import_dir),
        "server.bolt.enabled": "true",
        "server.bolt.listen_address": "127.0.0.1:0",
        "server.http.enabled": "false",
        "server.https.enabled": "false",
        "dbms.security.auth_enabled": "true",
        # 0 turns off the lock-out after failed logins, so a test that tries a wrong password
        # cannot lock the user out for the tests that follow it.
        "dbms.security.auth_max_failed_attempts": "0",
        "dbms.usage_report.enabled": "false",
        "server.memory.pagecache.size": page_cache,
        # Bolt's network threads otherwise wait a 5 s quiet period twice on shutdown.
        "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
        "internal.dbms.bolt.netty_server_shutdown_timeout": "5s",
        # Another Neo4j version may lack the internal settings above: warn instead of failing.
        "server.config.strict_validation.enabled": "false",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def admin_import(
    home: Path, node_files: list[Path], relationship_files: list[Path], version: str = DEFAULT_NEO4J_VERSION
) -> str:
    """Run ``neo4j-admin database import full`` into the database ``neo4j`` under ``home``; return its output.

    Uses the import tool from the cached jars, with ``--multiline-fields=true`` so quoted line
    breaks in names load. Start a ``Neo4jServer(home=home)`` afterwards to query the result.
    """
    install = prepare_neo4j(version)
    conf_dir = home / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "neo4j.conf").touch()
    command = [
        str(install.java), "-Xmx512m", *DEFAULT_JVM_OPTIONS, "-cp", install.classpath(), "org.neo4j.cli.AdminTool",
        "database", "import", "full", "neo4j", "--multiline-fields=true", "--max-off-heap-memory=256m",
        f"--report-file={home / 'import.report'}",
        *[f"--nodes={path}" for path in node_files],
        *[f"--relationships={path}" for path in relationship_files],
    ]  # fmt: skip
    environment = dict(os.environ, NEO4J_HOME=str(home), NEO4J_CONF=str(conf_dir))
    # cwd=home as well, so nothing the tool writes lands in the caller's working directory.
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, cwd=home)
    if result.returncode != 0:
        raise RuntimeError(
            f"neo4j-admin database import failed (exit code {result.returncode}):\n"
            f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )
    return result.stdout


class Neo4jServer:
    """One launcher process: ``start()`` waits until Bolt accepts connections, ``stop()`` shuts it down.

    ``heap`` and ``page_cache`` are JVM and Neo4j memory sizes such as ``"1g"`` or ``"128m"``.
    """

    def __init__(
        self,
        version: str = DEFAULT_NEO4J_VERSION,
        password: str | None = None,
        home: Path | None = None,
        heap: str = "1g",
        page_cache: str = "128m",
        jvm_options: tuple[str, ...] = DEFAULT_JVM_OPTIONS,
    ) -> None:
        self.version = version
        self.jvm_options = jvm_options
        self.password = password or secrets.token_urlsafe(18)
        self._given_home = home
        self.heap = heap
        self.page_cache = page_cache
        self.home: Path | None = None
        self.info: Neo4jServerInfo | None = None
        self.start_seconds: float | None = None
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Neo4jServerInfo:
        started = time.monotonic()
        install = prepare_neo4j(self.version)
        self.home = self._given_home or Path(tempfile.mkdtemp(prefix="claidex-neo4j-"))
        self.home.mkdir(parents=True, exist_ok=True)
        import_dir = self.home / "import"
        import_dir.mkdir(exist_ok=True)
        config = self.home / "neo4j.conf"
        config.write_text(server_config(self.page_cache, import_dir))

        command = [
            str(install.java), f"-Xmx{self.heap}", *self.jvm_options,
            "-cp", install.classpath(), LAUNCHER_CLASS, str(self.home), str(config),
        ]  # fmt: skip
        environment = dict(os.environ, CLAIDEX_NEO4J_PASSWORD=self.password)
        # stderr goes to a file so a full pipe can never block the JVM.
        stderr = open(self.home / "launcher.stderr", "w")
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment
        )
        stderr.close()
        threading.Thread(target=self._read_stdout, name="neo4j-stdout", daemon=True).start()

        uri = self._wait_until_ready(started + timeout_s)
        self.start_seconds = time.monotonic() - started
        self.info = Neo4jServerInfo(uri=uri, user="neo4j", password=self.password, import_dir=import_dir)
        logger.info(
            "Started Neo4j %s at %s in %.1f s (pid %d, home %s)",
            self.version, uri, self.start_seconds, self._process.pid, self.home,
        )  # fmt: skip
        return self.info

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _wait_until_ready(self, deadline: float) -> str:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise RuntimeError(f"Neo4j did not report ready in time; {self._log_hint()}")
            try:
                line = self._lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if line is None:
                code = self._process.wait() if self._process else None
                raise RuntimeError(f"the Neo4j launcher exited with code {code} before it was ready; {self._log_hint()}")
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()

    def _log_hint(self) -> str:
        if self.home is None:
            return "no server home was created"
        stderr_path = self.home / "launcher.stderr"
        tail = stderr_path.read_text(errors="replace")[-2000:] if stderr_path.exists() else ""
        return f"see {self.home / 'logs' / 'debug.log'}; launcher stderr ends with:\n{tail}"

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Close the launcher's stdin so it shuts down cleanly. Terminate it, then kill it, if it is still running after ``timeout_s``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("Neo4j (pid %d) still running %.0f s after stdin closed; terminating", process.pid, timeout_s)
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    logger.warning("Neo4j (pid %d) ignored SIGTERM; killing it", process.pid)
                    process.kill()
                    process.wait()
            logger.info("Stopped Neo4j (pid %d, exit code %s)", process.pid, process.returncode)
        if self.home is not None and self._given_home is None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None

    def __enter__(self) -> Neo4jServerInfo:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# One server per process, shared by every fixture that requests it, because the plugin's fixture and a
# conftest that imports the same fixture function would otherwise each start their own.
_shared_server: Neo4jServer | None = None
_shared_users = 0
_shared_lock = threading.Lock()


def acquire_shared_server() -> Neo4jServerInfo:
    global _shared_server, _shared_users
    with _shared_lock:
        if _shared_server is None:
            server = Neo4jServer(version=os.environ.get("CLAIDEX_NEO4J_VERSION", DEFAULT_NEO4J_VERSION))
            server.start()
            _shared_server = server
        _shared_users += 1
        assert _shared_server.info is not None
        return _shared_server.info


def release_shared_server() -> None:
    global _shared_server, _shared_users
    with _shared_lock:
        _shared_users -= 1
        if _shared_users <= 0 and _shared_server is not None:
            _shared_server.stop()
            _shared_server = None
            _shared_users = 0


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jServerInfo]:
    """A running Neo4j Community server on 127.0.0.1, shared by the whole test session.

    Skips the test when java, javac or mvn is missing. The database ``neo4j`` is shared,
    so tests clear the nodes they write (see ``neo4j_graph.clear_graph``) before using it.
    """
    try:
        info = acquire_shared_server()
    except Neo4jToolMissingError as error:
        pytest.skip(f"Neo4j test server unavailable: {error}")
    try:
        yield info
    finally:
        release_shared_server()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start a Neo4j Community test server on 127.0.0.1.")
    parser.add_argument("--version", default=os.environ.get("CLAIDEX_NEO4J_VERSION", DEFAULT_NEO4J_VERSION),
                        help="Neo4j version (Maven version of org.neo4j:neo4j)")  # fmt: skip
    parser.add_argument("--password", help="password of the user neo4j (default: random)")
    parser.add_argument("--heap", default="1g", help="JVM heap size, e.g. 1g")
    parser.add_argument("--page-cache", default="128m", help="Neo4j page cache size, e.g. 128m")
    parser.add_argument("--jvm-option", action="append", dest="jvm_options",
                        help="JVM option, repeatable; replaces the defaults " + " ".join(DEFAULT_JVM_OPTIONS))  # fmt: skip
    parser.add_argument("--print-uri", action="store_true", help="print only the Bolt URI instead of NEO4J_* lines")
    parser.add_argument("--prepare", action="store_true", help="fill the jar and launcher cache, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")

    try:
        if args.prepare:
            install = prepare_neo4j(args.version)
            print(f"Neo4j {install.version} ready in {install.lib_dir.parent}")
            return 0
        server = Neo4jServer(
            version=args.version,
            password=args.password,
            heap=args.heap,
            page_cache=args.page_cache,
            jvm_options=tuple(args.jvm_options) if args.jvm_options else DEFAULT_JVM_OPTIONS,
        )
        info = server.start()
    except Neo4jToolMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    try:
        if args.print_uri:
            print(info.uri, flush=True)
        else:
            for key, value in info.environment().items():
                print(f"{key}={value}", flush=True)
        print("Press Ctrl-C or close stdin to stop the server.", file=sys.stderr)
        try:
            sys.stdin.read()
        except KeyboardInterrupt:
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
