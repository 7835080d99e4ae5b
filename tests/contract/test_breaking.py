"""The contract guard: ``buf breaking`` against the last released rover.v1 contract.

The last release is the newest ``## [X.Y.Z]`` entry of CHANGELOG.md; its git tag is
``vX.Y.Z``. The baseline the current protos/ are compared with is, in order:

1. the tag ``vX.Y.Z`` when this clone has it (authoritative);
2. otherwise ``tests/contract/releases/vX.Y.Z.binpb``, a committed buf image of the released
   contract, so that a clone without tags or history (CI's shallow checkout) still checks.
   A test rebuilds the image from the tag (or, in a clone without tags, from the release
   commit recorded in ``releases/vX.Y.Z.commit``) and checks it is exactly the release.

buf's ``FILE`` rules (protos/buf.yaml) fail on a renumbered, retyped or removed field, a
renamed message or RPC, and more; the last tests prove it on a scratch repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUF = str(Path(sys.executable).with_name("buf"))
CONFIG = "protos/buf.yaml"
RELEASES = Path(__file__).resolve().parent / "releases"
_RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\]", re.MULTILINE)


def releases() -> list[str]:
    """Released versions listed in CHANGELOG.md, newest first, as tags (``v0.1.0``)."""
    text = (REPO_ROOT / "CHANGELOG.md").read_text()
    return [f"v{version}" for version in _RELEASE.findall(text)]


def buf(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """Run the venv's buf; never raises on a non-zero exit."""
    return subprocess.run(
        [BUF, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run git without user hooks or signing; never raises on a non-zero exit."""
    command = ["git", "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def has_tag(tag: str, repo: Path = REPO_ROOT) -> bool:
    """Whether the clone at ``repo`` has the tag."""
    return (
        git("rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{commit}}", cwd=repo).returncode == 0
    )


def breaking_against(
    tag: str, repo: Path = REPO_ROOT, *, error_format: str = "text"
) -> subprocess.CompletedProcess[str]:
    """``buf breaking`` of repo's protos/ against the release ``tag`` (tag, else its image)."""
    if has_tag(tag, repo):
        against = ["--against", f".git#tag={tag}", "--against-config", CONFIG]
    else:
        image = RELEASES / f"{tag}.binpb" if repo == REPO_ROOT else repo / f"{tag}.binpb"
        if not image.is_file():
            pytest.fail(
                f"cannot find the released contract {tag}: this clone has no tag {tag} "
                f"(`git fetch --tags`) and there is no {image.relative_to(image.parents[2])}."
            )
        against = ["--against", str(image)]
    options = ["--config", CONFIG, "--path", "protos", "--error-format", error_format]
    return buf("breaking", *options, *against, cwd=repo)


def test_changelog_lists_a_release() -> None:
    assert releases(), "CHANGELOG.md has no '## [X.Y.Z]' release entry"


def test_contract_is_compatible_with_the_last_release() -> None:
    tag = releases()[0]
    result = breaking_against(tag)
    assert result.returncode == 0, (
        f"protos/ breaks the released contract {tag}:\n{result.stdout}{result.stderr}\n"
        "Make the change additive (new fields/messages/RPCs, never renumber, retype, remove "
        "or rename), or release a new package version (rover.v2)."
    )


@pytest.mark.parametrize("tag", releases())
def test_every_release_has_its_image(tag: str) -> None:
    assert (RELEASES / f"{tag}.binpb").is_file(), (
        f"missing tests/contract/releases/{tag}.binpb; build it with: .venv/bin/buf build "
        f"'.git#tag={tag}' --config {CONFIG} --path protos --exclude-source-info "
        f"-o tests/contract/releases/{tag}.binpb"
    )


def release_ref(tag: str) -> str:
    """A git ref of the release: its tag, else the commit recorded beside its image.

    The commit file lets a clone that did not fetch tags still prove the image is the release.
    """
    if has_tag(tag):
        return f"tag={tag}"
    recorded = RELEASES / f"{tag}.commit"
    assert recorded.is_file(), f"this clone has no tag {tag} and no {recorded.name} to stand in"
    sha = recorded.read_text().strip()
    known = git("cat-file", "-e", f"{sha}^{{commit}}", cwd=REPO_ROOT).returncode == 0
    assert known, f"release {tag}: neither the tag nor its commit {sha} is in this clone"
    return f"ref={sha}"


@pytest.mark.parametrize("tag", releases())
def test_the_image_is_the_released_contract(tag: str, tmp_path: Path) -> None:
    built = tmp_path / "released.binpb"
    result = buf(
        "build", f".git#{release_ref(tag)}", "--config", CONFIG, "--path", "protos",
        "--exclude-source-info", "-o", str(built),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert built.read_bytes() == (RELEASES / f"{tag}.binpb").read_bytes(), (
        f"tests/contract/releases/{tag}.binpb is not the contract released as {tag}; rebuild "
        f"it: .venv/bin/buf build '.git#tag={tag}' --config {CONFIG} --path protos "
        f"--exclude-source-info -o tests/contract/releases/{tag}.binpb"
    )


# -- proof that the guard catches real breaks, on a scratch copy of protos/ --------------------

Edit = Callable[[Path], None]


def _sub(file: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / "protos" / "rover" / "v1" / file
        text = path.read_text()
        changed = re.sub(old, new, text)
        assert changed != text, f"edit of {file} matched nothing: {old!r}"
        path.write_text(changed)

    return edit


_SEQUENCE = r"int64 sequence = 3;"
_GRID_ID = r"\n  // Id of the grid the event belongs to.\n  string grid_id = 2;"

# name -> (edit, the buf rule that must report it)
BREAKS: dict[str, tuple[Edit, str]] = {
    "field renumbered": (_sub("events.proto", _SEQUENCE, "int64 sequence = 9;"), "FIELD_NO_DELETE"),
    "field retyped": (_sub("events.proto", _SEQUENCE, "int32 sequence = 3;"), "FIELD_SAME_TYPE"),
    "field removed": (_sub("events.proto", _GRID_ID, ""), "FIELD_NO_DELETE"),
    "field renamed": (_sub("events.proto", _SEQUENCE, "int64 seq = 3;"), "FIELD_SAME_NAME"),
    "message renamed": (
        _sub("events.proto", r"\bRoverBlocked\b", "RoverStopped"),
        "MESSAGE_NO_DELETE",
    ),
    "method renamed": (
        _sub("command.proto", r"rpc CreateGrid\(", "rpc MakeGrid("),
        "RPC_NO_DELETE",
    ),
    "enum value renumbered": (
        _sub("common.proto", r"DIRECTION_WEST = 4;", "DIRECTION_WEST = 5;"),
        "ENUM_VALUE_NO_DELETE",
    ),
}

ADDITION: Edit = _sub(
    "events.proto",
    r"\n\n  // What happened\.",
    "\n  // Correlation id of the request that caused the event.\n"
    "  string correlation_id = 5;\n\n  // What happened.",
)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A git repository holding a copy of protos/ (the .proto files and buf.yaml), tagged."""
    root = tmp_path / "repo"
    source = REPO_ROOT / "protos"
    for proto in source.rglob("*.proto"):
        target = root / proto.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(proto, target)
    shutil.copyfile(source / "buf.yaml", root / CONFIG)
    for args in (
        ("init", "-q", "-b", "main"),
        ("add", "protos"),
        ("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "v0.1.0"),
        ("tag", "v0.1.0"),
    ):
        result = git(*args, cwd=root)
        assert result.returncode == 0, result.stderr
    return root


def test_the_unchanged_copy_is_compatible(scratch: Path) -> None:
    result = breaking_against("v0.1.0", scratch)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_additive_change_is_compatible(scratch: Path) -> None:
    ADDITION(scratch)
    result = breaking_against("v0.1.0", scratch)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_break_fails_against_the_tag(scratch: Path, name: str) -> None:
    edit, rule = BREAKS[name]
    edit(scratch)
    result = breaking_against("v0.1.0", scratch, error_format="json")
    assert result.returncode != 0, f"{name} was not detected:\n{result.stdout}{result.stderr}"
    assert f'"type":"{rule}"' in result.stdout, result.stdout


def test_a_break_fails_against_the_image_without_the_tag(scratch: Path) -> None:
    image = scratch / "v0.1.0.binpb"
    built = buf("build", "--config", CONFIG, "--path", "protos", "--exclude-source-info",
                "-o", str(image), cwd=scratch)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert git("tag", "-d", "v0.1.0", cwd=scratch).returncode == 0
    BREAKS["field retyped"][0](scratch)
    result = breaking_against("v0.1.0", scratch, error_format="json")
    assert result.returncode != 0
    assert '"type":"FIELD_SAME_TYPE"' in result.stdout, result.stdout
