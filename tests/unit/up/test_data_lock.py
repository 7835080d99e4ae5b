"""One owner per data folder, and `make clean-data` that asks and never deletes a stranger's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.up import clean_data
from services.up.data_lock import DataDirBusyError, DataDirLock
from services.up.integration_key import ensure_integration_key, integration_key_path

ROOT = Path(__file__).resolve().parents[3]
HOLD = (
    "import sys, time; from pathlib import Path; "
    "from services.up.data_lock import DataDirLock; "
    "lock = DataDirLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); "
    "time.sleep(60)"
)


def _stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _holder(folder: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_owner_is_refused_with_the_path_and_the_pid(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    holder = _holder(folder)
    try:
        with pytest.raises(DataDirBusyError) as caught:
            DataDirLock(folder).acquire()
        assert str(folder) in str(caught.value)
        assert f"in use by make run (pid {holder.pid})" in str(caught.value)
    finally:
        _stop(holder)
    # The kernel released the dead owner's lock: no stale lock to clean up by hand.
    with DataDirLock(folder) as lock:
        assert lock.held
        assert lock.owner() == (str(os.getpid()), "make run")


def test_a_released_lock_can_be_taken_again(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    with pytest.raises(DataDirBusyError):
        DataDirLock(tmp_path).acquire()  # a second open file in the same process counts too
    first.release()
    with DataDirLock(tmp_path) as again:
        assert again.held


def _data_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "rover-data"
    for part in ("eventstore", "redis", "logs", "run"):  # run: instance sockets
        (folder / part).mkdir(parents=True)
    (folder / "eventstore" / "rover.db").write_bytes(b"x" * 2048)
    return folder


def test_clean_data_deletes_after_a_yes(tmp_path: Path) -> None:
    folder = _data_folder(tmp_path)
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return "y"

    assert clean_data.main([str(folder)], ask=ask) == 0
    assert not folder.exists()
    assert "2.0 KiB" in asked[0]


def test_clean_data_deletes_the_integration_key_with_the_data(tmp_path: Path) -> None:
    folder = _data_folder(tmp_path)
    assert ensure_integration_key(integration_key_path(folder))  # make run's, beside the data
    assert clean_data.main([str(folder), "--yes"]) == 0
    assert not folder.exists()


def test_clean_data_keeps_everything_unless_told_yes(tmp_path: Path) -> None:
    folder = _data_folder(tmp_path)
    assert clean_data.main([str(folder)], ask=lambda q: "") == 0
    assert (folder / "eventstore" / "rover.db").exists()


def test_clean_data_refuses_a_folder_that_is_not_ours(tmp_path: Path) -> None:
    folder = _data_folder(tmp_path)
    (folder / "thesis.tex").write_text("years of work")
    assert clean_data.main([str(folder), "--yes"]) == 1
    assert (folder / "thesis.tex").exists()


def test_clean_data_refuses_while_make_run_owns_the_folder(tmp_path: Path) -> None:
    folder = _data_folder(tmp_path)
    holder = _holder(folder)
    try:
        assert clean_data.main([str(folder), "--yes"]) == 1
        assert (folder / "eventstore" / "rover.db").exists()
    finally:
        _stop(holder)


def test_clean_data_without_a_terminal_needs_yes(tmp_path: Path) -> None:
    folder = _data_folder(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "services.up.clean_data", str(folder)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "rerun with --yes" in done.stderr
    assert folder.exists()


def test_clean_data_resolves_the_folder_as_make_run_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = _data_folder(tmp_path)
    assert clean_data.main(["~/rover-data", "--yes"]) == 0
    assert not folder.exists()
    assert not list(tmp_path.glob("rover-data.deleting-*"))


def test_clean_data_refuses_a_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    assert clean_data.main([str(path), "--yes"]) == 1
    assert path.read_text() == "keep me"


def test_a_make_run_is_told_who_holds_the_folder(tmp_path: Path) -> None:
    folder = _data_folder(tmp_path)
    busy = r"in use by make clean-data \(pid \d+\)"
    with DataDirLock(folder, role="make clean-data"), pytest.raises(DataDirBusyError, match=busy):
        DataDirLock(folder).acquire()
