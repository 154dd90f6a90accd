"""The C library as a dependency: `cmake --install` into a fresh prefix, then a
consumer built with find_package(losskit) / losskit::losskit, and one with
pkg-config, each running a loss."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("LOSSKIT_BUILD_DIR", ROOT / "build"))

CONSUMER = r"""
#include <stdio.h>
#include "losskit.h"
int main(void) {
    double logits[2] = {0.0, 0.0}, loss;
    long long label = 1;
    lk_tensor inputs[2] = {{logits, LK_F64, 2, {1, 2}}, {&label, LK_I64, 1, {1}}};
    lk_tensor out = {&loss, LK_F64, 0, {0}};
    if (lk_compute("cross_entropy", NULL, inputs, 2, &out, NULL) != LK_OK) return 1;
    printf("%s %.6f\n", lk_version(), loss);
    return 0;
}
"""

pytestmark = pytest.mark.skipif(not (BUILD / "CMakeCache.txt").exists() or not shutil.which("cmake"),
                                reason="needs the CMake build tree (make build)")


def run(*args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    run("cmake", "--install", str(BUILD), "--prefix", str(prefix))
    return prefix


def test_installed_files(prefix):
    assert (prefix / "include" / "losskit.h").exists()
    libdir = next(p for p in (prefix / "lib", prefix / "lib64", *prefix.glob("lib/*-linux-gnu")) if p.exists())
    assert any(libdir.glob("liblosskit.so*")) and (libdir / "liblosskit.a").exists()
    assert (libdir / "cmake" / "losskit" / "losskitConfig.cmake").exists()
    assert (libdir / "pkgconfig" / "losskit.pc").exists()
    assert (prefix / "bin" / "losskit").exists()
    assert "cross_entropy" in run(str(prefix / "bin" / "losskit"), "list").stdout


def test_find_package_consumer(prefix, tmp_path):
    (tmp_path / "main.c").write_text(CONSUMER)
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(consumer C)\n"
        "find_package(losskit 0.1 REQUIRED)\n"
        "add_executable(consumer main.c)\ntarget_link_libraries(consumer PRIVATE losskit::losskit)\n")
    build = tmp_path / "build"
    run("cmake", "-S", str(tmp_path), "-B", str(build), f"-DCMAKE_PREFIX_PATH={prefix}",
        f"-DCMAKE_BUILD_RPATH={prefix / 'lib'}")
    run("cmake", "--build", str(build))
    out = run(str(build / "consumer"), env={**os.environ, "LD_LIBRARY_PATH": str(prefix / "lib")}).stdout
    assert out.strip() == "0.1.0 0.693147"


@pytest.mark.skipif(not shutil.which("pkg-config"), reason="pkg-config is not installed")
def test_pkg_config_consumer(prefix, tmp_path):
    (tmp_path / "main.c").write_text(CONSUMER)
    env = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}
    flags = run("pkg-config", "--cflags", "--libs", "losskit", env=env).stdout.split()
    run("cc", str(tmp_path / "main.c"), "-o", str(tmp_path / "consumer"), *flags)
    out = run(str(tmp_path / "consumer"), env={**env, "LD_LIBRARY_PATH": str(prefix / "lib")}).stdout
    assert out.strip() == "0.1.0 0.693147"
