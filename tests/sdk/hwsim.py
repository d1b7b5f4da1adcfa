"""Helpers shared by the SDK conformance tests: the simulator process, its test endpoints, SDK
client construction, and hand-made requests signed with the official SDK's own signer.

Everything here talks to 127.0.0.1 only; every call has a timeout.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
import threading
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import urlparse

import requests

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkcore.http.user_agent import user_agent_string
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

# The simulator's default account (SPEC §7; also its flags / HWCLOUD_SIM_* env).
AK = "HWSIMAK0000000000000"
SK = "hwsim-secret-key-0000000000000000000000"
PROJECT_ID = "0833a5737480d53b2f250010d01a7b88"
REGION = "cn-north-4"
IAM_DOMAIN = "hwsim-domain"
IAM_USER = "hwsim-user"
IAM_PASSWORD = "hwsim-password"

# Instance / workspace ids the tests use (any id is accepted by the simulator).
APIG_INSTANCE = "eddc4d25480b4cd6b512f270a1b8b341"
ROMA_INSTANCE = "c2ee6f1b8ddc4e3ea8b5a0bc4d36a77f"
DATAARTS_WORKSPACE = "5b8e40cc3d7c4e2fb0c6f3d7c6f9a1e2"
MODELARTS_SERVICE = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48"

HTTP_TIMEOUT = (5, 30)  # (connect, read) seconds for every request
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_LISTEN_RE = re.compile(r"hwcloud-sim listening on (http://127\.0\.0\.1:(\d+))\s*$")

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ---------------------------------------------------------------------------------------------
# The simulator process


def sim_binary() -> str:
    path = os.environ.get("HWCLOUD_SIM_BIN", "target/debug/hwcloud-sim")
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    return path


class SimProcess:
    """One `hwcloud-sim --listen 127.0.0.1:0` child process."""

    def __init__(self, extra_args: Sequence[str] = (), env: Optional[Dict[str, str]] = None,
                 startup_timeout: float = 30.0):
        binary = sim_binary()
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise RuntimeError(
                f"simulator binary not found or not executable: {binary}\n"
                "build it with `cargo build -p hwcloud-sim` (or point HWCLOUD_SIM_BIN at it)")
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("HWCLOUD_SIM_")}
        child_env.setdefault("RUST_LOG", "warn")
        if env:
            child_env.update(env)
        self.stdout_lines: List[str] = []
        self.stderr_lines: List[str] = []
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", *extra_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=child_env, text=True, bufsize=1)
        ready = threading.Event()
        self.url: Optional[str] = None

        def pump_stdout():
            for line in self.proc.stdout:
                self.stdout_lines.append(line)
                if self.url is None:
                    m = _LISTEN_RE.match(line.strip())
                    if m:
                        self.url = m.group(1)
                        ready.set()
            ready.set()  # EOF: the process ended

        def pump_stderr():
            for line in self.proc.stderr:
                self.stderr_lines.append(line)
                if len(self.stderr_lines) > 2000:
                    del self.stderr_lines[:1000]

        threading.Thread(target=pump_stdout, daemon=True).start()
        threading.Thread(target=pump_stderr, daemon=True).start()
        ready.wait(startup_timeout)
        if self.url is None:
            self.stop()
            raise RuntimeError(
                f"{binary} did not print 'hwcloud-sim listening on http://127.0.0.1:PORT' within "
                f"{startup_timeout}s (exit code {self.proc.returncode}).\nstdout:\n"
                + "".join(self.stdout_lines[-20:]) + "\nstderr:\n" + "".join(self.stderr_lines[-40:]))
        assert urlparse(self.url).hostname == "127.0.0.1"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self, n: int = 40) -> str:
        return "".join(self.stderr_lines[-n:])


class SimAdmin:
    """The simulator's unauthenticated test endpoints (/_sim/...)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False  # never a proxy

    def _req(self, method: str, path: str, **kw) -> requests.Response:
        r = self.http.request(method, self.url + path, timeout=HTTP_TIMEOUT, **kw)
        return r

    def reset(self):
        r = self._req("POST", "/_sim/reset")
        assert r.status_code < 300, f"POST /_sim/reset -> {r.status_code} {r.text}"

    def state(self) -> Dict[str, Any]:
        r = self._req("GET", "/_sim/state")
        assert r.status_code == 200, f"GET /_sim/state -> {r.status_code} {r.text}"
        return r.json()

    def counts(self) -> Dict[str, int]:
        r = self._req("GET", "/_sim/counts")
        assert r.status_code == 200, f"GET /_sim/counts -> {r.status_code} {r.text}"
        return r.json()

    def get_config(self) -> Dict[str, Any]:
        r = self._req("GET", "/_sim/config")
        assert r.status_code == 200, f"GET /_sim/config -> {r.status_code} {r.text}"
        return r.json()

    def config(self, cfg: Dict[str, Any]):
        r = self._req("PUT", "/_sim/config", json=cfg)
        assert r.status_code < 300, f"PUT /_sim/config {cfg} -> {r.status_code} {r.text}"

    def fault(self, **fault):
        r = self._req("POST", "/_sim/faults", json=fault)
        assert r.status_code < 300, f"POST /_sim/faults {fault} -> {r.status_code} {r.text}"

    def clear_faults(self):
        r = self._req("DELETE", "/_sim/faults")
        assert r.status_code < 300, f"DELETE /_sim/faults -> {r.status_code} {r.text}"

    def account(self, **account) -> requests.Response:
        return self._req("POST", "/_sim/accounts", json=account)

    # federation: identity providers, Pod Identity, the test issuer, exchange records
    def jwks(self) -> Dict[str, Any]:
        r = self._req("GET", "/_sim/testing/jwks")
        assert r.status_code == 200, f"GET /_sim/testing/jwks -> {r.status_code} {r.text}"
        return r.json()

    def mint(self, iss: str, aud: Any, sub: str, ttl_secs: int = 600, **extra) -> str:
        body = {"iss": iss, "aud": aud, "sub": sub, "ttl_secs": ttl_secs, **extra}
        r = self._req("POST", "/_sim/testing/id-token", json=body)
        assert r.status_code == 200, f"POST /_sim/testing/id-token -> {r.status_code} {r.text}"
        return r.json()["token"]

    def identity_provider(self, idp_id: str, provider: Dict[str, Any]) -> Dict[str, Any]:
        r = self._req("PUT", f"/_sim/identity-providers/{idp_id}", json=provider)
        assert r.status_code == 200, f"PUT /_sim/identity-providers/{idp_id} -> {r.status_code} {r.text}"
        return r.json()

    def pod_identity(self, config: Optional[Dict[str, Any]]):
        """Sets Pod Identity; None clears it (the body is JSON null)."""
        r = self._req("PUT", "/_sim/pod-identity", data=json.dumps(config),
                      headers={"Content-Type": "application/json"})
        assert r.status_code == 200, f"PUT /_sim/pod-identity -> {r.status_code} {r.text}"

    def exchanges(self) -> List[Dict[str, Any]]:
        r = self._req("GET", "/_sim/federation/exchanges")
        assert r.status_code == 200, f"GET /_sim/federation/exchanges -> {r.status_code} {r.text}"
        return r.json()

    def clear_exchanges(self):
        r = self._req("DELETE", "/_sim/federation/exchanges")
        assert r.status_code < 300, f"DELETE /_sim/federation/exchanges -> {r.status_code} {r.text}"

    # convenience views of /_sim/state
    def apps(self, service: Optional[str] = None) -> List[Dict[str, Any]]:
        apps = self.state().get("apps", [])
        return [a for a in apps if service is None or a.get("service") == service]

    def app(self, service: str, app_id: str) -> Dict[str, Any]:
        found = [a for a in self.apps(service) if a.get("id") == app_id]
        assert len(found) == 1, f"/_sim/state has {len(found)} {service} apps with id {app_id}: {self.apps(service)}"
        return found[0]

    def apis(self) -> List[Dict[str, Any]]:
        return self.state().get("apis", [])


# ---------------------------------------------------------------------------------------------
# SDK clients


def loopback_guard(**kwargs):
    """HttpHandler request hook: every SDK request must go to the loopback simulator."""
    request = kwargs.get("request")
    host = urlparse(request.url).hostname
    if host != "127.0.0.1":
        raise AssertionError(f"SDK tried to reach a non-loopback host: {request.url}")


def http_config() -> HttpConfig:
    cfg = HttpConfig.get_default_config()
    cfg.ignore_ssl_verification = True  # plain http anyway; never verify against a real CA
    cfg.timeout = HTTP_TIMEOUT
    cfg.retry_times = 0
    return cfg


def build_client(client_cls, url: str, credentials=None, handler: Optional[HttpHandler] = None):
    """A client of the official SDK pointed at the simulator.

    ClientBuilder.build() (huaweicloudsdkcore/client.py) keeps an endpoint that starts with
    "http" as it is (plain http is allowed), and only calls IAM (project-id discovery) when a
    Region is given; with_endpoint() and an explicit project_id avoid that entirely.
    """
    creds = credentials or BasicCredentials(AK, SK, PROJECT_ID)
    h = handler or HttpHandler()
    h.add_request_handler(loopback_guard)
    return (client_cls.new_builder()
            .with_http_config(http_config())
            .with_credentials(creds)
            .with_endpoint(url)
            .with_http_handler(h)
            .build())


# ---------------------------------------------------------------------------------------------
# Hand-made requests signed with the SDK's own signer


def make_sdk_request(method: str, url: str, path: str, query: Optional[Iterable[Tuple[str, Any]]] = None,
                     body: Any = None, headers: Optional[Dict[str, str]] = None,
                     content_type: Optional[str] = "application/json") -> SdkRequest:
    """An SdkRequest built the way huaweicloudsdkcore.client.Client.build_future_request builds
    one: User-Agent and Content-Type headers, query as a list of (key, value) tuples, a JSON body
    serialized to a string."""
    u = urlparse(url)
    header_params = {"User-Agent": "huaweicloud-usdk-python/3.0; " + user_agent_string}
    if content_type:
        header_params["Content-Type"] = content_type
    if headers:
        header_params.update(headers)
    if body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return SdkRequest(method=method, schema=u.scheme, host=u.netloc, resource_path=path,
                      query_params=list(query or []), header_params=header_params, body=body)


def sign_as_sdk(req: SdkRequest, ak: str = AK, sk: str = SK, project_id: Optional[str] = PROJECT_ID) -> SdkRequest:
    """Sign exactly as the SDK client does: BasicCredentials.sign_request adds X-Project-Id (when a
    project id is set) and then runs Signer.sign (SDK-HMAC-SHA256), which adds X-Sdk-Date (unless
    given), Host, Authorization, and sets req.uri to path + canonical query."""
    if project_id:
        return BasicCredentials(ak, sk, project_id).sign_request(req)
    return Signer(BasicCredentials(ak, sk)).sign(req)


def send(req: SdkRequest) -> requests.Response:
    """Send a signed SdkRequest the way huaweicloudsdkcore.http.http_client.HttpClient does."""
    with requests.Session() as s:
        s.trust_env = False
        return s.request(req.method, req.url, headers=req.header_params, data=req.body,
                         timeout=HTTP_TIMEOUT, allow_redirects=False)


def signed(url: str, method: str, path: str, query=None, body=None, headers=None, ak: str = AK, sk: str = SK,
           project_id: Optional[str] = PROJECT_ID, content_type: Optional[str] = "application/json") -> requests.Response:
    req = make_sdk_request(method, url, path, query=query, body=body, headers=headers, content_type=content_type)
    return send(sign_as_sdk(req, ak, sk, project_id))


def sdk_date(delta: _dt.timedelta = _dt.timedelta(0)) -> str:
    now = _dt.datetime.now(_dt.timezone.utc) + delta
    return now.strftime(SDK_DATE_FORMAT)


def error_of(resp: requests.Response) -> Tuple[int, Optional[str]]:
    try:
        body = resp.json()
    except ValueError:
        return resp.status_code, None
    return resp.status_code, body.get("error_code") if isinstance(body, dict) else None


def wait_until(pred, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)
