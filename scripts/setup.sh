#!/usr/bin/env bash
# Installs what vigil needs to build and test on Debian 12 (or newer), then
# makes prometheus-cpp available. Idempotent; touches no system file that the
# package manager does not own. prometheus-cpp is not packaged for Debian 12:
# there, Debian 13's binary packages are unpacked into a private prefix inside
# the build tree (never into /).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${VIGIL_BUILD_DIR:-$top/build}
prefix=$build_dir/deps/prometheus-cpp

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates clang-format
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libsystemd-dev libgtest-dev libgmock-dev libbenchmark-dev
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev
  libfuse3-dev fuse3 libcivetweb-dev civetweb libcurl4-openssl-dev
  curl util-linux iproute2 nftables fio kmod procps psmisc
  libvirt-dev libxml2-dev libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcorosync-common-dev
  qemu-system-x86 fence-agents openipmi ipmitool prometheus-alertmanager
  corosync libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-daemon-system qemu-system-x86 nasm
  help2man prometheus jq
  # lab.LabMonitoring serves its planned-work gauge with python3 -m http.server.
  python3
  # The ASan+UBSan build and the libFuzzer targets (scripts/sanitize.sh):
  # Debian 12's clang 14 cannot compile std::expected; clang-19 can (llvm-19:
  # the symbolizer that reads its debug information).
  clang-19 libclang-rt-19-dev llvm-19
  # The Debian package and its test (tests/package).
  debhelper dpkg-dev lintian mmdebstrap
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

have_system_prometheus() {
  dpkg-query -W -f='${Status}' prometheus-cpp-dev 2>/dev/null | grep -q '^install ok installed$'
}

if have_system_prometheus; then
  exit 0
fi
if apt-cache show prometheus-cpp-dev >/dev/null 2>&1 &&
   apt-cache policy prometheus-cpp-dev | grep -q 'Candidate: [0-9]'; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-cpp-dev >/dev/null
  exit 0
fi

if [ -f "$prefix/.complete" ]; then
  exit 0
fi

# Debian 12: fetch Debian 13's packages through a throw-away apt configuration
# that names the trixie suite of the mirror this machine already uses.
mirror=$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
  awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial" "$work/etc/preferences.d" "$work/debs"
cat >"$work/etc/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main
SRC
aptopts=(-o "Dir::Etc::SourceList=$work/etc/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::Etc::Preferences=$work/etc/preferences" -o "Dir::Etc::PreferencesParts=$work/etc/preferences.d"
  -o "Dir::State=$work/state" -o "Dir::State::Lists=$work/state/lists"
  -o "Dir::State::status=/var/lib/dpkg/status" -o "Dir::Cache=$work/cache"
  -o "APT::Architecture=$(dpkg --print-architecture)" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
echo "setup: fetching prometheus-cpp from Debian 13 into $prefix"
apt-get "${aptopts[@]}" update -qq
(cd "$work/debs" && apt-get "${aptopts[@]}" download \
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 prometheus-cpp-dev)
rm -rf "$prefix"
mkdir -p "$prefix"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
touch "$prefix/.complete"
echo "setup: prometheus-cpp ready in $prefix"
