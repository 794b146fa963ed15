"""`tfmtl.cli`, the `tfmtl` command and every binary's command line."""

import configparser
import importlib
import os
import subprocess
import sys

import pytest

import tfmtl.__main__ as tfmtl_command
from tfmtl import cli, quiet_import

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT)
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG"):
        env.pop(name, None)
    env.update(extra)
    return env


def _start(args, cwd, **env):
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(args, cwd, timeout=240, **env):
    proc = _start(args, cwd, **env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_console_scripts_are_the_cli_commands():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    lines = config["options.entry_points"]["console_scripts"].split("\n")
    scripts = dict(
        (s.strip() for s in line.split("=")) for line in lines if line.strip()
    )
    assert set(scripts) == {"tfmtl"} | {
        f"tfmtl-{c}" for c in tfmtl_command.COMMANDS
    }
    for script, target in scripts.items():
        module, _, name = target.partition(":")
        assert module == "tfmtl.__main__", script
        assert callable(getattr(tfmtl_command, name)), script
        if script != "tfmtl":
            assert name == script[len("tfmtl-") :].replace("-", "_")
    for module in tfmtl_command.COMMANDS.values():
        assert callable(importlib.import_module(module).main), module


def test_every_binary_answers_helpshort(tmp_path):
    # What each console script runs (`tfmtl <command>`), and each module;
    # from outside the repository. Four at a time: TensorFlow is slow to load.
    commands = [("tfmtl", c) for c in tfmtl_command.COMMANDS]
    commands += [(m,) for m in tfmtl_command.COMMANDS.values()]
    results = {}
    for i in range(0, len(commands), 4):
        procs = {
            c: _start([*c, "--helpshort"], tmp_path)
            for c in commands[i : i + 4]
        }
        for c, proc in procs.items():
            out, err = proc.communicate(timeout=240)
            results[c] = proc.returncode, out, err
    for command, (returncode, out, err) in results.items():
        assert returncode == 0, (command, err[-2000:])
        module = tfmtl_command.COMMANDS.get(command[-1], command[0])
        doc = importlib.import_module(module).__doc__
        assert out.startswith(doc.split("\n")[0]), command
        assert "  --mode: <" in out and "  --[no]traceback:" in out, command
        # The console scripts and `python -m tfmtl.<binary>` (the method
        # mains too) import TensorFlow without its banner.
        assert "oneDNN" not in err and "InitializeLog" not in err, err


@pytest.mark.parametrize(
    "gin_file",
    ["gin_configs/smoke.gin", "smoke.gin", "{root}/gin_configs/smoke.gin"],
)
def test_gin_files_are_found_from_any_directory(tmp_path, gin_file):
    gin_file = gin_file.format(root=ROOT)
    args = ["tfmtl", "train", f"--gin_file={gin_file}", "--mode=train"]
    returncode, _, err = _run([*args, "--gin.MODEL_DIR=None"], tmp_path)
    assert returncode == 2, err[-3000:]
    # Only the error line: no "Path not found" per gin include, no banner.
    assert err.splitlines() == [
        "tfmtl.train: error: ValueError: Set MODEL_DIR "
        "(e.g. --gin.MODEL_DIR=\"'/tmp/run'\"), or run in a Vertex AI job "
        "with a base output directory."
    ]


def test_banner_is_printed_once_at_most_when_asked_for(tmp_path):
    returncode, _, err = _run(
        ["tfmtl", "taps", "--model_dir=nowhere"],
        tmp_path,
        TF_CPP_MIN_LOG_LEVEL="0",
    )
    assert returncode == 2
    assert err.count("oneDNN custom operations") <= 1
    assert "InitializeLog" not in err
    assert err.splitlines()[-1].startswith(
        "tfmtl.methods.taps.main: error: FileNotFoundError: No TAPS model"
    )


def test_started_as_binary_only_for_python_dash_m_tfmtl():
    started = quiet_import.started_as_binary
    assert started(["python", "-m", "tfmtl.methods.taps.main", "--x"])
    assert started(["python", "-u", "-m", "tfmtl", "train"])
    assert not started(["python", "-m", "pytest", "tests"])
    assert started(["python", "-X", "dev", "-m", "tfmtl.train"])
    assert not started(["python", "script.py", "-m", "tfmtl.train"])
    assert not started(["python", "-c", "pass", "-m", "tfmtl.train"])
    assert not started(["python", "-c", "import tfmtl"])
    assert not started(["python", "-m"])


def test_bad_flags_and_commands_are_one_line_exit_2(tmp_path):
    returncode, _, err = _run(["tfmtl", "select-groups", "--bogus=1"], tmp_path)
    assert returncode == 2
    assert err.splitlines() == [
        "tfmtl.methods.tag.select_main: error: UnrecognizedFlagError: "
        "Unknown command line flag 'bogus'"
    ]
    returncode, _, err = _run(
        ["tfmtl", "select-groups", "--budget=2", "stray"], tmp_path
    )
    assert returncode == 2 and len(err.splitlines()) == 1, err
    assert "Unexpected arguments: ['stray']" in err
    returncode, _, err = _run(["tfmtl", "nope"], tmp_path)
    assert returncode == 2 and "usage: tfmtl {train," in err
    assert _run(["tfmtl", "--help"], tmp_path)[0] == 0


def test_traceback_flag_shows_the_trace(tmp_path):
    args = ["tfmtl", "select-groups", "--budget=2"]
    returncode, _, err = _run(args, tmp_path)
    assert returncode == 2 and "Traceback" not in err
    returncode, _, err = _run([*args, "--traceback"], tmp_path)
    assert returncode == 1
    assert "Traceback" in err and "ValueError: --affinity is required" in err


def test_rewrite_args(capsys):
    argv = [
        "prog",
        "--gin.MODEL_DIR='/tmp/a=b'",
        "--old=x",
        "--old",
        "y",
        "--other",
        "--",
        "--old=z",
    ]
    assert cli.rewrite_args(argv, "prog", {"old": "mode"}) == [
        "prog",
        "--gin_bindings=MODEL_DIR = '/tmp/a=b'",
        "--mode=x",
        "--mode=y",
        "--other",
        "--",
        "--old=z",
    ]
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == ["prog: warning: --old is deprecated, use --mode"]


def test_one_line():
    error = ValueError("bad\n  value In call to configurable 'x'")
    assert cli.one_line(error) == "ValueError: bad value"
    assert len(cli.one_line(KeyError("k" * 700))) < 640
