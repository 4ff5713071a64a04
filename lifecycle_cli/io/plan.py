"""The output plan: every file a run writes, checked before anything is read, locked for the run,
and put in place all together or not at all.

A run writes several files that belong together (the reclassified contacts, reports, the
HubSpot import folder's clear and set files, the companies, a backup). Each is written to a
temp file beside its target first. The commit then moves the old targets aside, moves the new
files in and makes that durable; if any step fails (or the run is stopped), every target is
put back as it was and the temp files are removed. So the targets hold either all of one
run's outputs or exactly what they held before: never a new clear file beside an old set file.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO

from ..base.errors import InputError, LifecycleError, OutputError, Terminated
from . import locks
from .identity import FileIdentity, changed_input

# The files this run has finished writing, so an interrupted run can say which ones changed.
WRITTEN: list[str] = []

#: errno values of a file system that has no hard links: the old file is renamed aside instead.
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS})

#: What stops a run: Ctrl-C, and the signals the CLI turns into `Terminated`. An undo step they
#: interrupt is tried again, so a stopped commit still puts everything back.
_STOPS = (KeyboardInterrupt, Terminated)


def _identity(path: str) -> tuple:
    """What makes two spellings of a path the same file: the device and inode when the file exists
    (hard links, symlinks, `..`), else the absolute path with symlinks resolved."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


@dataclass
class _Staged:
    target: Path
    tmp: str  #: the temp file; its name prefix while it is being written (it may exist unnamed)
    directory: Path
    exclusive: bool  #: never replace an existing file (the backup)


@dataclass
class _OwnedFolder:
    """A folder holding exactly one run's files, swapped in whole (see `OutputPlan.own_folder`)."""

    shown: str  #: as the user wrote it
    real: Path
    what: str
    foreign: Callable[[Path], list[str]]
    new: Path | None = None  #: the folder being filled, beside the old one
    files: list[str] = field(default_factory=list)  #: the names staged into `new`


class _CommitFailed(OutputError):
    """A step of the commit failed; raised once everything is put back."""


class OutputPlan:
    """Every file a run reads and writes, checked before anything is read, written all together
    at the end or not at all.

    `read` and `write` list the paths (with what they are, for the message); `check` refuses a
    write onto anything the run reads or onto another write, onto something that is not a
    regular file (a device, a pipe, a folder), and into a folder that does not exist or cannot
    be written; then it locks every target against other runs and notes what every input is.
    `stage` writes one output to a temp file beside its target; `commit` puts all staged files
    in place together, only once every one of them is complete and no input has changed. A
    failure or signal at any point leaves every target as it was and no temp file behind.
    """

    def __init__(self) -> None:
        self.reads: list[tuple[str, str]] = []
        self.writes: list[tuple[str, str, bool]] = []
        #: folders the run creates when missing (realpath -> as given)
        self.folders: dict[str, str] = {}
        #: What to do instead when a write's target is not a regular file, in the command's own
        #: options (each command has different ones): path -> advice.
        self.instead: dict[str, str] = {}
        self.owned: dict[str, _OwnedFolder] = {}  #: folders replaced whole (realpath -> the folder)
        self._staged: list[_Staged] = []
        self._created: list[Path] = []
        self._inputs: list[tuple[str, str, FileIdentity]] = []
        self._locks: list[Path | None] = []
        self._owned_files: set[str] = set()

    def read(self, path: str | os.PathLike | None, what: str) -> None:
        if path is not None and str(path) != "-":
            self.reads.append((str(path), what))

    def write(
        self, path: str | None, what: str, *, in_place: bool = False, instead: str | None = None
    ) -> None:
        """A file this run will write; `in_place`: it replaces the contacts file on purpose
        (`--in-place`); `instead`: what to do when it is not a regular file (`use -o - ...`)."""
        if path is not None and path != "-":
            self.writes.append((path, what, in_place))
            if instead:
                self.instead[path] = instead

    def folder(self, path: str, what: str) -> None:
        """A folder the run writes files into, created (with the files, at the end) when it does
        not exist."""
        target = Path(path)
        if target.exists() and not target.is_dir():
            raise OutputError(f"{path}: cannot write the {what} here: it is a file, not a folder")
        if not target.exists():
            parent = target.parent
            if not parent.is_dir():
                raise OutputError(
                    f"{path}: cannot create the {what}: the folder '{parent}' does not exist"
                )
        self.folders[os.path.realpath(path)] = path

    def own_folder(
        self,
        path: str,
        what: str,
        files: list[str],
        file_what: str,
        foreign: Callable[[Path], list[str]],
    ) -> None:
        """A folder that holds exactly one run's `files` (the HubSpot import folder), each a
        `file_what`: written as a new folder beside it and swapped in whole, so no file of an
        earlier run stays in it. `foreign(folder)` names the files there that lifecycle did not
        write (or that were changed since): the run stops on any, before anything is read and
        again before the swap. No other output may go into it."""
        self.folder(path, what)
        real = os.path.realpath(path)
        self.owned[real] = _OwnedFolder(path, Path(real), what, foreign)
        for name in files:
            self.write(os.path.join(path, name), file_what)
            self._owned_files.add(os.path.join(path, name))

    def check(self, *, wait: float | None = None) -> None:
        """Check every target (see the class), then lock them all, waiting up to `wait` seconds
        for another run that writes one of them (None: the command has no --wait, and stops at
        once)."""
        reads = [(path, what, _identity(path)) for path, what in self.reads]
        seen: list[tuple[str, str, tuple]] = []
        for path, what, in_place in self.writes:
            self._check_target(path, what)
            identity = _identity(path)
            for read, read_what, read_identity in reads:
                if identity == read_identity and not (in_place and read_what == "contacts file"):
                    named = read_what if read == path else f"{read_what} {read}"
                    raise OutputError(
                        f"{path}: the {what} would overwrite the input {named}, "
                        f"which this run reads; choose another path for the {what}"
                    )
            for _other, other_what, other_identity in seen:
                if identity == other_identity:
                    raise OutputError(
                        f"{path}: the {what} and the {other_what} would both be "
                        "written to this file; give each its own path"
                    )
            seen.append((path, what, identity))
        for path, what, _ in self.writes:
            owner = self._owner(Path(path))
            if owner is not None and path not in self._owned_files:
                raise OutputError(
                    f"{path}: cannot write the {what} into the {owner.what} "
                    f"{owner.shown}: each run replaces that folder with its own "
                    f"files only; give the {what} another path"
                )
        try:
            self._lock(wait)
            for owned in self.owned.values():
                _check_contents(owned, owned.real)
            # Before the first read: any change from here on is noticed (check_inputs).
            self._inputs = [
                (path, what, found)
                for path, what in self.reads
                if (found := FileIdentity.of(path)) is not None
            ]
        except BaseException:
            self._release()
            raise

    def _lock(self, wait: float | None) -> None:
        """Lock every target: the owned folders whole, every other file on its own, in one order
        (two runs waiting for each other's targets would otherwise wait for ever)."""
        targets = {
            locks.lock_file(owned.real): (str(owned.real), owned.shown, owned.what)
            for owned in self.owned.values()
        }
        for path, what, _ in self.writes:
            if self._owner(Path(path)) is not None:
                continue
            folder = Path(path).parent
            if not folder.is_dir():  # a folder the run creates: locked whole, its lock beside it
                shown = self.folders.get(os.path.realpath(folder), str(folder))
                lock = (str(folder), shown, f"folder of {what}")
                targets.setdefault(locks.lock_file(folder), lock)
            else:
                targets.setdefault(locks.lock_file(path), (path, path, what))
        for _, (target, shown, what) in sorted(targets.items()):
            taken = locks.acquire(target, what, wait=wait, shown=shown)
            self._locks.append(taken)

    def _release(self) -> None:
        while self._locks:
            locks.release(self._locks.pop())

    def _owner(self, target: Path) -> _OwnedFolder | None:
        return self.owned.get(os.path.realpath(target.parent)) if self.owned else None

    def _check_target(self, path: str, what: str) -> None:
        target = Path(path)
        if os.path.lexists(target):
            try:
                st = os.stat(target)
            except OSError as exc:
                raise OutputError(f"{path}: cannot write the {what} here: {exc.strerror}") from None
            if stat.S_ISDIR(st.st_mode):
                raise OutputError(
                    f"{path}: cannot write the {what}: it is a folder; give a file name"
                )
            if not stat.S_ISREG(st.st_mode):
                instead = f"; {self.instead[path]}" if path in self.instead else ""
                raise OutputError(
                    f"{path}: cannot write the {what}: it is not a regular file (a device, pipe or "
                    f"socket), and lifecycle only replaces files{instead}"
                )
        directory = target.parent
        real = os.path.realpath(directory)
        if real in self.owned or (not directory.is_dir() and real in self.folders):
            directory = directory.parent  # made (or swapped in) by the run: the parent is written
        if not directory.is_dir():
            raise OutputError(
                f"{path}: cannot write the {what}: the folder '{directory}' does not exist"
            )
        try:
            read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
        except (AttributeError, OSError):  # no statvfs (Windows)
            read_only = False
        if read_only:
            raise OutputError(
                f"{path}: cannot write the {what}: '{directory}' is on a Read-only file system"
            )
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutputError(
                f"{path}: cannot write the {what}: no permission to create files in '{directory}'"
            )

    def check_inputs(self, *, after: str = "nothing was written") -> None:
        """Stop (InputError) when an input is no longer the file it was when the run began:
        replaced, grown, cut or rewritten. `after`: what the message says about the outputs."""
        error = self._changed_input(after)
        if error is not None:
            raise error

    def _changed_input(self, after: str = "nothing was written") -> InputError | None:
        for path, _, identity in self._inputs:
            reason = identity.change(path)
            if reason is not None:
                return changed_input(path, reason, after=after)
        return None

    def stage(
        self, target: str, write: Callable[[BinaryIO], object], *, exclusive: bool = False
    ) -> None:
        """Write one output to a temp file beside `target`; `exclusive`: never replace an
        existing file at commit.

        Writing may read the inputs again (the output pass, a backup's copy): they are checked
        first, and a failure while they changed is reported as that change."""
        self.check_inputs()
        path = Path(target)
        owner = self._owner(path)
        try:
            if owner is not None:
                self._stage_in_folder(owner, path, write)
            else:
                self._stage_file(path, write, exclusive)
        except Exception:
            changed = self._changed_input()
            if changed is not None:
                raise changed from None
            raise

    def _stage_file(self, path: Path, write: Callable[[BinaryIO], object], exclusive: bool) -> None:
        directory = path.parent
        if not directory.exists() and os.path.realpath(directory) in self.folders:
            try:
                directory.mkdir()
            except OSError as exc:
                raise OutputError(
                    f"{directory}: cannot create the folder: {exc.strerror}"
                ) from None
            self._created.append(directory)
        prefix = f".{path.name}.{secrets.token_hex(4)}."
        # Listed before the temp file exists: an interruption at any point finds it (_write_temp).
        self._staged.append(_Staged(path, prefix, directory, exclusive))
        self._staged[-1].tmp = str(_write_temp(path, directory, prefix, write))

    def _stage_in_folder(
        self, owner: _OwnedFolder, path: Path, write: Callable[[BinaryIO], object]
    ) -> None:
        """Write a file of an owned folder into the new folder beside it (made at the first)."""
        if owner.new is None:
            # Named before it exists, so an interruption at any point finds it (see abort).
            owner.new = owner.real.with_name(f".{owner.real.name}.{secrets.token_hex(4)}.new.tmp")
            try:
                os.mkdir(owner.new)
                if owner.real.is_dir():  # the new folder gets the old one's permissions
                    os.chmod(owner.new, stat.S_IMODE(owner.real.stat().st_mode))
            except OSError as exc:
                raise OutputError(
                    f"{owner.shown}: cannot create the new {owner.what} "
                    f"{owner.new.name} beside it: {exc.strerror}"
                ) from None
        shown = os.path.join(owner.shown, path.name)
        owner.files.append(path.name)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(owner.new / path.name, flags, 0o666)
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise OutputError(f"{shown}: cannot write: {exc.strerror or exc}") from None

    def commit(self) -> list[str]:
        """Put every staged file in place, or, when any step fails, none: returns their paths.

        Every input is checked first. Then each target that exists is linked aside (renamed
        where the file system has no hard links) and the new file renamed over it, an owned
        folder is renamed aside and its new folder renamed in, and the folders are synced. Each
        step is noted before it is taken; on a failure or a signal the steps taken are undone,
        last first, and the temp files removed. The error names the file and the system's
        words."""
        journal: list[_Done] = []
        try:
            self.check_inputs()
            for owned in self.owned.values():
                _check_contents(owned, owned.real)  # a file put there since the run began
            for staged in self._staged:
                self._move_in(staged, journal)
            for owned in self.owned.values():
                if owned.new is not None:
                    self._swap(owned, journal)
            for folder in self._folders_written():
                _step(partial(_sync_folder, folder), f"{folder}: cannot save the folder (fsync)")
        except BaseException as exc:
            unrestored = _roll_back(journal)
            self.abort()
            if isinstance(exc, _CommitFailed) or (unrestored and isinstance(exc, LifecycleError)):
                exc.message = _with_rollback(exc.message, unrestored)
            elif isinstance(exc, OSError):  # not one of the steps: still the system's, no bug
                message = f"cannot put the outputs in place: {exc.strerror or exc}"
                raise OutputError(_with_rollback(message, unrestored)) from None
            raise
        done = [str(s.target) for s in self._staged]
        done += [
            os.path.join(o.shown, name)
            for o in self.owned.values()
            if o.new is not None
            for name in o.files
        ]
        for step in journal:
            step.finish()
        self._staged.clear()
        for owned in self.owned.values():
            owned.new, owned.files = None, []
        self._created.clear()  # they hold the files now
        WRITTEN.extend(done)
        self._release()
        return done

    def _move_in(self, staged: _Staged, journal: list[_Done]) -> None:
        target, tmp = staged.target, Path(staged.tmp)
        if staged.exclusive:
            journal.append(_Done("linked", target, tmp))
            try:
                _step(
                    lambda: os.link(tmp, target),
                    f"{target}: cannot put the new file in place (link)",
                )
            except _CommitFailed:
                if os.path.lexists(target):  # a file of that name appeared during the run
                    raise _CommitFailed(
                        f"{target}: cannot keep the backup there: a file of that "
                        "name appeared during the run"
                    ) from None
                raise
            return
        if os.path.lexists(target):
            aside = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old.tmp")
            journal.append(_Done("aside", target, aside))
            _step(
                lambda: _link_aside(target, aside),
                f"{target}: cannot keep the old file aside (link)",
            )
        else:
            journal.append(_Done("new", target, tmp))
        _step(
            lambda: os.replace(tmp, target), f"{target}: cannot put the new file in place (rename)"
        )

    def _swap(self, owned: _OwnedFolder, journal: list[_Done]) -> None:
        real, new, shown = owned.real, owned.new, owned.shown
        _step(lambda: _sync_folder(new), f"{shown}: cannot save the new folder to disk (fsync)")
        if os.path.lexists(real):
            aside = real.with_name(f".{real.name}.{secrets.token_hex(4)}.old.tmp")
            journal.append(_Done("folder aside", real, aside))
            _step(
                lambda: os.rename(real, aside),
                f"{shown}: cannot move the old folder aside (rename)",
            )
            # Out of everyone's way now: what is in it is what goes, so look once more.
            _check_contents(owned, aside)
        journal.append(_Done("folder in", real, new))
        _step(lambda: os.rename(new, real), f"{shown}: cannot put the new folder in place (rename)")

    def _folders_written(self) -> list[Path]:
        folders = {Path(os.path.realpath(s.directory)) for s in self._staged}
        folders |= {o.real.parent for o in self.owned.values() if o.new is not None}
        return sorted(folders)

    def abort(self) -> None:
        """Remove every temp file and new folder not yet moved into place (safe to call more
        than once), and let go of the locks."""
        while self._staged:
            staged = self._staged[-1]
            try:
                if staged.tmp.endswith(".tmp"):
                    Path(staged.tmp).unlink(missing_ok=True)
                else:  # a prefix: the temp file may exist without its name known yet
                    _remove_temp(staged.directory, staged.tmp)
            except _STOPS:
                continue  # a Ctrl-C Polars handed back, raised again: retry until it is gone
            except OSError:
                pass
            self._staged.pop()
        for owned in self.owned.values():
            while owned.new is not None:
                try:
                    shutil.rmtree(owned.new, ignore_errors=True)
                    owned.new, owned.files = None, []
                except _STOPS:
                    continue
        while self._created:  # folders this run made, left empty by the cleanup
            with contextlib.suppress(OSError):
                self._created[-1].rmdir()
            self._created.pop()
        self._release()

    def __enter__(self) -> OutputPlan:
        return self

    def __exit__(self, *exc) -> None:
        self.abort()


@dataclass
class _Done:
    """A step of a commit, noted before it is taken: undone when a later one fails (if it was
    taken), finished when all succeeded."""

    kind: str  #: "aside", "new", "linked", "folder aside" or "folder in"
    target: Path
    other: Path  #: the previous version kept aside, the temp file, or the new folder

    def undo(self) -> None:
        target, other = self.target, self.other
        if self.kind == "aside":
            _put_back(other, target)
        elif self.kind == "new":
            if not os.path.lexists(other) and os.path.lexists(target):  # the rename happened
                os.unlink(target)
        elif self.kind == "linked":
            if _same_file(target, other):  # the link happened (ours, not a file that appeared)
                os.unlink(target)
        elif self.kind == "folder aside":
            if os.path.lexists(other):
                os.rename(other, target)
        elif self.kind == "folder in" and not os.path.lexists(other):
            os.rename(target, other)  # back to its temp name, removed with the temp files

    def finish(self) -> None:
        """The commit is done: remove what was kept aside, and the temp name of a linked file."""
        while True:
            try:
                if self.kind in ("aside", "linked"):
                    self.other.unlink(missing_ok=True)
                elif self.kind == "folder aside":
                    shutil.rmtree(self.other, ignore_errors=True)
                return
            except _STOPS:
                continue
            except OSError:
                return  # left as a .tmp file: harmless, and the next cleanup of it is by hand

    def __str__(self) -> str:
        if self.kind in ("aside", "folder aside"):
            return f"{self.target} (its previous version is {self.other})"
        return str(self.target)


def _check_contents(owned: _OwnedFolder, folder: Path) -> None:
    """Stop when `folder` (the owned folder, or its old copy moved aside) holds anything
    lifecycle did not write."""
    if not os.path.lexists(folder):
        return
    if not folder.is_dir():
        raise OutputError(
            f"{owned.shown}: cannot write the {owned.what} here: it is a file, not a folder"
        )
    try:
        foreign = owned.foreign(folder)
    except OSError as exc:
        raise OutputError(
            f"{owned.shown}: cannot look into the {owned.what}: {exc.strerror}"
        ) from None
    if foreign:
        more = f" and {len(foreign) - 10} more" if len(foreign) > 10 else ""
        raise OutputError(
            f"{owned.shown}: the {owned.what} holds files lifecycle did not write: "
            f"{', '.join(foreign[:10])}{more}; nothing was written",
            hint="each run replaces the whole folder with its own files; move those files "
            "elsewhere, or give another folder",
        )


def _step(action: Callable[[], object], failure: str) -> None:
    """One step of the commit; an OSError becomes a _CommitFailed naming the file and the
    system's words."""
    try:
        action()
    except OSError as exc:
        raise _CommitFailed(f"{failure}: {exc.strerror or exc}") from None


def _link_aside(target: Path, aside: Path) -> None:
    """Keep the previous file under a second name; the target itself stays in place until the
    new file is renamed over it (readers never find it missing)."""
    try:
        os.link(target, aside, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        os.rename(target, aside)  # no hard links here: for a moment there is no target


def _put_back(aside: Path, target: Path) -> None:
    """Undo `_link_aside` (and the rename over the target, if it happened)."""
    if not os.path.lexists(aside):
        return  # it never got there
    if _same_file(aside, target):  # the new file never got there: the aside is a second link
        os.unlink(aside)
    else:
        os.replace(aside, target)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samestat(os.lstat(a), os.lstat(b))
    except OSError:
        return False


def _roll_back(journal: list[_Done]) -> list[str]:
    """Undo the commit's steps, last first; returns what could not be put back, with the reason."""
    failed = []
    while journal:
        try:
            journal[-1].undo()
        except _STOPS:
            continue  # stopped again while putting things back: finish putting them back first
        except OSError as exc:
            failed.append(f"{journal[-1]}: {exc.strerror or exc}")
        journal.pop()
    return failed


def _with_rollback(message: str, unrestored: list[str]) -> str:
    if not unrestored:
        return f"{message}; every output was left as it was"
    return f"{message}; and these could not be put back as they were: {'; '.join(unrestored)}"


def _sync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable (a file system that cannot sync a folder is left be)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):  # writable but not readable: nothing to sync
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _write_temp(
    target: Path, directory: Path, prefix: str, write: Callable[[BinaryIO], object]
) -> Path:
    """Run `write(file)` on a new temp file beside `target` named `prefix...tmp`; on any failure
    it is removed.

    Two details make that hold:
    - The temp file's name starts with a random tag chosen before the file exists, so the
      cleanup finds it even when Ctrl-C lands between its creation and the line that names it.
    - The writer gets an open file, not a path. Polars writes through its own copy of the
      descriptor, so a write still winding down after Ctrl-C cannot create the file again
      once the cleanup has removed it.
    """
    if not directory.is_dir():
        raise OutputError(f"{target}: cannot write: the folder '{directory}' does not exist")
    if target.is_dir():
        raise OutputError(f"{target}: cannot write: it is a folder")
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write in '{directory}': {exc.strerror}") from None
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        return Path(tmp)
    except BaseException as exc:
        # Polars hands back a Ctrl-C it caught and Python then raises the same Ctrl-C again,
        # at any point of this cleanup, even on entering a function: retry until it is gone.
        while True:
            try:
                _remove_temp(directory, prefix)
                break
            except KeyboardInterrupt:
                continue
        if isinstance(exc, OSError):
            raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
        raise


def atomic_write(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write one file on its own: a temp file beside `target`, moved over it once complete
    (see `OutputPlan`); on any failure, Ctrl-C included, `target` is left as it was."""
    with OutputPlan() as plan:
        plan.stage(str(target), write)
        plan.commit()


def _remove_temp(directory: Path, prefix: str) -> None:
    for path in directory.glob(glob.escape(prefix) + "*.tmp"):
        path.unlink(missing_ok=True)
