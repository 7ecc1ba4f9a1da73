"""config-linux.md "Seccomp" and "The Container Process State": errnoRet on
an action without an errno, and the SCMP_ACT_NOTIFY listener protocol seen
by a seccomp agent listening on listenerPath."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.probes import create, must
from tests.support.fdsocket import FdServer
from tests.support.isolation import describe

MakeBundle = Callable[..., Path]


def with_seccomp(profile: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["seccomp"] = profile
    return mutate


# ---------------------------------------------------------------- errnoRet

def _control(rt: Runtime, cid: str, make_bundle: MakeBundle, prof: dict[str, Any]) -> None:
    """The same profile without the errno runs: the refusal below is about
    the errno, not about the profile's actions (a runtime refusing every
    ALLOW/LOG/KILL/TRAP rule would pass without it)."""
    p = rt("run", "--bundle", str(make_bundle(["echo", "control-ran"], mutate=with_seccomp(prof), name="control")),
           cid + "-ctl")
    assert p.returncode == 0 and p.stdout.strip() == "control-ran", describe(p)

@pytest.mark.spec("config-linux-seccomp-1")
@pytest.mark.parametrize("action", ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"])
def test_default_errno_ret_on_an_action_without_errno_fails(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                            action: str) -> None:
    prof = {"defaultAction": action, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    _control(rt, cid, make_bundle, prof)
    prof["defaultErrnoRet"] = 38
    p = rt("run", "--bundle", str(make_bundle(["echo", "should-not-run"], mutate=with_seccomp(prof))), cid)
    assert p.returncode != 0, describe(p)
    assert "should-not-run" not in p.stdout
    assert p.stderr.strip(), "the runtime failed without printing an error"


@pytest.mark.spec("config-linux-seccomp-9")
@pytest.mark.parametrize("action", ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"])
def test_errno_ret_on_an_action_without_errno_fails(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                    action: str) -> None:
    prof: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": action}]}
    _control(rt, cid, make_bundle, prof)
    prof["syscalls"][0]["errnoRet"] = 38
    p = rt("run", "--bundle", str(make_bundle(["echo", "should-not-run"], mutate=with_seccomp(prof))), cid)
    assert p.returncode != 0, describe(p)
    assert "should-not-run" not in p.stdout
    assert p.stderr.strip(), "the runtime failed without printing an error"


# ---------------------------------------------------------------- notify: the seccomp agent's view

Agent = FdServer  # a seccomp agent that only records what it receives


@pytest.fixture
def agent() -> Iterator[Agent]:
    d = Path(tempfile.mkdtemp(prefix="pyrt-agent-"))
    a = Agent(d / "agent.sock")
    yield a
    a.stop()
    a.path.unlink(missing_ok=True)
    d.rmdir()


def notify_profile(listener: Path, metadata: str = "pyrt-meta") -> dict[str, Any]:
    # mkdir is never called by `sleep`: the notification itself never comes
    return {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(listener), "listenerMetadata": metadata,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}


def _create_with_agent(rt: Runtime, cid: str, make_bundle: MakeBundle, agent: Agent) -> Path:
    b = make_bundle(["sleep", "30"], mutate=with_seccomp(notify_profile(agent.path)))
    must(create(rt, b, cid))
    deadline = time.monotonic() + 10
    while len(agent.closed) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    return b


@pytest.mark.spec("config-linux-seccomp-2", "config-linux-seccomp-3", "config-linux-seccomp-10",
                  "config-linux-seccomp-11")
def test_notify_state_sent_to_the_agent(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                        agent: Agent) -> None:
    b = _create_with_agent(rt, cid, make_bundle, agent)
    # a SOCK_STREAM AF_UNIX listener got exactly one connection ...
    assert len(agent.connections) == 1, agent.connections
    payload = b"".join(data for data, _ in agent.connections[0])
    # ... carrying exactly one JSON document: the container process state
    state = json.loads(payload)
    assert isinstance(state, dict)
    pid = rt.state(cid)["pid"]
    assert state["pid"] == pid, state
    assert state["metadata"] == "pyrt-meta", state
    assert state["state"]["id"] == cid and state["state"]["bundle"] == str(b), state
    assert state["ociVersion"], state
    # the fds came with SCM_RIGHTS, named in "fds": one seccomp notify fd
    fds = [fd for _, fs in agent.connections[0] for fd in fs]
    assert state["fds"] == ["seccompFd"] and len(fds) == 1, (state, fds)
    assert os.readlink(f"/proc/self/fd/{fds[0]}") == "anon_inode:seccomp notify"


@pytest.mark.spec("config-linux-seccomp-4", "config-linux-seccomp-5")
def test_notify_connection_closed_and_not_reused(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                 agent: Agent) -> None:
    _create_with_agent(rt, cid, make_bundle, agent)
    assert rt("start", cid).returncode == 0
    assert agent.closed == [True], "the runtime did not close the connection after sending the state"
    assert len(agent.connections) == 1
    n = len(agent.connections[0])
    rt("kill", cid, "KILL")
    time.sleep(0.3)
    assert len(agent.connections[0]) == n and len(agent.connections) == 1, "the connection was used again"


@pytest.mark.spec("config-linux-seccomp-12")
def test_notify_fds_only_in_the_first_message(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                              agent: Agent) -> None:
    _create_with_agent(rt, cid, make_bundle, agent)
    msgs = agent.connections[0]
    assert msgs and msgs[0][1], f"no fds with the first message: {msgs}"
    assert not any(fds for _, fds in msgs[1:]), f"fds sent after the first sendmsg: {msgs}"


@pytest.mark.spec("config-linux-seccomp-6")
def test_notify_sending_fails_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                          agent: Agent) -> None:
    # the control: with the agent listening, the same config is accepted
    must(create(rt, make_bundle(["sleep", "30"], mutate=with_seccomp(notify_profile(agent.path)), name="ok"),
                cid + "ok"))
    gone = agent.path.parent / "nobody-listens.sock"
    p = create(rt, make_bundle(["sleep", "30"], mutate=with_seccomp(notify_profile(gone))), cid)
    assert p.returncode != 0, describe(p)
    assert cid not in rt("list", "-q").stdout.split()
