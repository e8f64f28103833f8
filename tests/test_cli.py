import json
import os
import subprocess
import sys


def test_info_json_runs_and_locates_the_landmark_model():
    out = subprocess.run(
        [sys.executable, "-m", "keras_au.cli", "info", "--json"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["versions"]["tensorflow"].startswith("2.")
    assert info["versions"]["tfx"] == "1.16.0"
    assert os.path.isfile(info["models"]["dlib_68_landmarks"])
    assert info["opencv_tvl1"] is True
    assert info["au_sets"]["bp4d"][:3] == [1, 2, 4]


def test_info_text_and_console_script():
    exe = os.path.join(os.path.dirname(sys.executable), "keras-au")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "keras_au.cli"]
    out = subprocess.run(cmd + ["info"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "AU sets:" in out.stdout and "lip corner" not in out.stdout


def test_unknown_arguments_fail_cleanly():
    out = subprocess.run([sys.executable, "-m", "keras_au.cli", "info", "--bogus"], capture_output=True, text=True)
    assert out.returncode == 2 and "unrecognized" in out.stderr
