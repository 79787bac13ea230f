"""Run the `genvid` command in-process, as a user would, for the tests."""

from __future__ import annotations

from genvid.cli import main


def run(argv, capsys):
    """Run `genvid argv` in-process; return (exit code, stdout, stderr) of that command alone."""
    capsys.readouterr()  # not what a fixture or an earlier step printed
    try:
        main([str(arg) for arg in argv])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
