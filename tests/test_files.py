"""Atomic writes: the target holds the old or the new content, never half; temporaries never survive."""


import pytest

from recsys.files import atomic_path, atomic_write, remove_all_leftovers, remove_leftovers, temp_name


def test_atomic_write_replaces_text_and_bytes(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write(target, "old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_failed_write_keeps_old_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_directory_replaces_a_non_empty_directory(tmp_path):
    target = tmp_path / "model"
    with atomic_path(target, directory=True) as tmp:
        (tmp / "x").write_text("1")
    with atomic_path(target, directory=True) as tmp:
        (tmp / "y").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_mode_is_applied(tmp_path):
    target = atomic_write(tmp_path / "secret", "k", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600


def test_leftovers_of_killed_writes_are_removed_even_for_hidden_targets(tmp_path):
    hidden = tmp_path / ".abc"            # a target whose own name starts with a dot
    temp_name(hidden).write_text("x")
    leftover_dir = temp_name(tmp_path / "deep" / "model")
    leftover_dir.mkdir(parents=True)
    (leftover_dir / "arrays.npz").write_text("x")
    keep = tmp_path / "keep.tmp"
    keep.write_text("not ours")
    assert remove_leftovers(hidden) == 1
    temp_name(hidden).write_text("x")
    assert remove_all_leftovers(tmp_path) == 2
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["deep", "keep.tmp"]
