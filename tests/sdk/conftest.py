"""Session fixtures for the SDK conformance suite (SPEC §9): one simulator process for the
session, reset before every test, and clients of the official Huawei Cloud SDKs pointed at it.
"""

import os

# Keep every request on the loopback simulator, whatever the environment says. Set before the
# SDKs are imported: the SDK reads HUAWEICLOUD_SDK_IAM_ENDPOINT when it would discover a project
# or domain id through IAM (it does not here: project ids are explicit and no Region is given).
for _v in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_v, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
# Placeholder until the simulator is up (then the real URL): never the public IAM endpoint.
os.environ["HUAWEICLOUD_SDK_IAM_ENDPOINT"] = "http://127.0.0.1:9"
# The SDK's default credential chain must not find real credentials anywhere.
for _v in list(os.environ):
    if _v.startswith("HUAWEICLOUD_SDK_") and _v != "HUAWEICLOUD_SDK_IAM_ENDPOINT":
        os.environ.pop(_v, None)

import pytest  # noqa: E402

import hwsim  # noqa: E402


@pytest.fixture(scope="session")
def sim_proc():
    problem = None
    try:
        proc = hwsim.SimProcess()
    except RuntimeError as e:
        problem = str(e)
    if problem:
        # Fail loudly, never skip: a missing simulator must not look like a green run.
        pytest.fail(problem, pytrace=False)
    os.environ["HUAWEICLOUD_SDK_IAM_ENDPOINT"] = proc.url
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def sim_url(sim_proc):
    return sim_proc.url


@pytest.fixture(scope="session")
def admin_session(sim_url):
    admin = hwsim.SimAdmin(sim_url)
    # POST /_sim/reset keeps the configuration (strictness settings): remember the defaults the
    # simulator started with, and put them back before every test.
    try:
        admin.default_config = admin.get_config()
    except AssertionError:  # no GET /_sim/config: the documented defaults (SPEC §7)
        admin.default_config = {"unique_names": {"apig": True, "roma": True, "dataarts": False,
                                                 "modelarts": False}, "modelarts_quota": 5}
    return admin


@pytest.fixture(autouse=True)
def admin(request):
    """Per test: POST /_sim/reset (apps, APIs, faults, counts) and the default configuration."""
    if request.node.get_closest_marker("nosim"):
        yield None
        return
    sim_proc = request.getfixturevalue("sim_proc")
    admin_session = request.getfixturevalue("admin_session")
    admin_session.reset()
    admin_session.config(admin_session.default_config)
    yield admin_session
    if sim_proc.proc.poll() is not None:
        pytest.fail(f"the simulator exited (code {sim_proc.proc.returncode}) during the test; "
                    f"stderr tail:\n{sim_proc.log_tail()}", pytrace=False)


@pytest.fixture
def apig(sim_url):
    from huaweicloudsdkapig.v2 import ApigClient
    return hwsim.build_client(ApigClient, sim_url)


@pytest.fixture
def roma(sim_url):
    from huaweicloudsdkroma.v2 import RomaClient
    return hwsim.build_client(RomaClient, sim_url)


@pytest.fixture
def dataarts(sim_url):
    from huaweicloudsdkdataartsstudio.v1 import DataArtsStudioClient
    return hwsim.build_client(DataArtsStudioClient, sim_url)


@pytest.fixture
def iam(sim_url):
    from huaweicloudsdkiam.v3 import IamClient
    return hwsim.build_client(IamClient, sim_url)
