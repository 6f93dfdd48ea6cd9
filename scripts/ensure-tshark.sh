#!/usr/bin/env bash
# The wire tests check our RoCEv2 frames with Wireshark's dissector through tshark. Before the
# tests: when no tshark is found (TSHARK_PATH, then tshark on PATH) and this is root on Debian,
# install Debian's tshark package, answering "no" to wireshark-common's question about letting
# non-root users capture (no setuid dumpcap). Otherwise change nothing: the tshark test reports
# itself skipped and says how to enable it, and every other test runs. Never fails the test run.
set -uo pipefail
if [ -n "${TSHARK_PATH:-}" ] && [ -x "${TSHARK_PATH}" ]; then exit 0; fi
if command -v tshark >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -eq 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tshark: installing Debian's tshark for the wire tests" >&2
  if command -v debconf-set-selections >/dev/null 2>&1; then
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections >/dev/null 2>&1
  fi
  if apt-get update -qq >/dev/null 2>&1 &&
     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tshark >/dev/null 2>&1; then
    exit 0
  fi
  echo "ensure-tshark: apt-get could not install tshark; the tshark test will be skipped" >&2
fi
exit 0
