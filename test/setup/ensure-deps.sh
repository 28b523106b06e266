#!/bin/sh
# Installs the system packages the test suite needs when they are missing (fresh Debian 12 as root).
# Peers (runc, podman, docker, skopeo, umoci, a registry, htpasswd for its auth) are for interop
# tests only; hull never
# depends on them at run time.
set -e
need=""
command -v busybox >/dev/null 2>&1 || need="$need busybox-static"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v docker-registry >/dev/null 2>&1 || need="$need docker-registry"
command -v skopeo >/dev/null 2>&1 || need="$need skopeo"
command -v umoci >/dev/null 2>&1 || need="$need umoci"
command -v runc >/dev/null 2>&1 || need="$need runc"
command -v newuidmap >/dev/null 2>&1 || need="$need uidmap"
command -v podman >/dev/null 2>&1 || need="$need podman"
command -v dockerd >/dev/null 2>&1 || need="$need docker.io"
command -v htpasswd >/dev/null 2>&1 || need="$need apache2-utils"
# runtime-tools validation suite (test/interop/runtime-tools.test.ts): Go and its Go libraries
command -v go >/dev/null 2>&1 || need="$need golang-go"
[ -d /usr/share/gocode/src/github.com/opencontainers/runtime-tools/generate ] || need="$need golang-github-opencontainers-runtime-tools-dev"
[ -d /usr/share/gocode/src/github.com/google/uuid ] || need="$need golang-github-google-uuid-dev"
[ -d /usr/share/gocode/src/golang.org/x/sys ] || need="$need golang-golang-x-sys-dev"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-deps: missing$need and not root: install them or run as root" >&2
    exit 1
  fi
  echo "ensure-deps: installing$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq $need >/dev/null
fi
