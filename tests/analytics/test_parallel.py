"""A computation in a forked child: its value or its error comes back, and the caller's
database connection survives the child."""

import os
import time

import pytest
from django.contrib.auth import get_user_model

from analytics.parallel import InChild


def process_id_and_sum(values):
    return os.getpid(), sum(values)


def failing(message):
    raise ValueError(message)


def dying():
    os._exit(3)


def test_the_value_comes_back_from_another_process():
    child_pid, total = InChild(process_id_and_sum, [1, 2, 3.5]).result()
    assert total == 6.5
    assert child_pid != os.getpid()


def test_the_childs_exception_is_raised_in_the_caller():
    job = InChild(failing, "no convergence")
    with pytest.raises(ValueError, match="no convergence"):
        job.result()


def test_a_child_that_dies_without_an_answer_is_an_error_not_a_hang():
    with pytest.raises(RuntimeError, match="without a result"):
        InChild(dying).result()


def test_cancel_stops_a_child_that_still_runs():
    job = InChild(time.sleep, 60)
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 10


@pytest.mark.django_db
def test_the_callers_database_connection_survives_the_child(statistician):
    users = get_user_model().objects
    assert users.filter(pk=statistician.pk).exists()
    assert InChild(process_id_and_sum, range(10)).result()[1] == 45
    # the child left by os._exit: it closed nothing of the parent's connection
    assert users.filter(pk=statistician.pk).exists()


def test_without_a_fork_the_caller_computes_it_and_says_so(monkeypatch, caplog):
    class NoFork:
        def Pipe(self, duplex):
            raise OSError("fork unavailable")

    monkeypatch.setattr("analytics.parallel.billiard.get_context", lambda method: NoFork())
    job = InChild(process_id_and_sum, [2, 3])
    assert job.result() == (os.getpid(), 5)
    assert "cannot fork" in caplog.text


PARENT = """
import os, sys, time
from analytics.parallel import InChild

def sleeper(path):
    with open(path + ".tmp", "w") as handle:
        handle.write(str(os.getpid()))
    os.rename(path + ".tmp", path)
    time.sleep(600)

computing = InChild(sleeper, sys.argv[1])
time.sleep(600)
"""


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for its new parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_child_dies_with_its_parent_even_a_parent_killed_by_sigkill(tmp_path, settings):
    """As when the pool child that runs a report is killed: its computation must not live on."""
    import signal
    import subprocess
    import sys

    if not os.path.isdir("/proc/self"):
        pytest.skip("the parent-death signal is Linux's")
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)], cwd=settings.BASE_DIR)
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists():
            assert parent.poll() is None, "the parent process ended early"
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert running(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while running(child):
            assert time.monotonic() < deadline, f"the child {child} outlived its killed parent"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait()
        if pid_file.exists() and running(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
