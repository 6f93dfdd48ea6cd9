#!/usr/bin/env bash
# The report's browser test drives a Chromium through playwright-core, which downloads no
# browser. Before the tests: when no Chromium is found (CHROMIUM_PATH, then chromium,
# chromium-browser or google-chrome on PATH) and this is root on Debian, install Debian's
# chromium package. Otherwise change nothing: the browser test reports itself skipped and says
# how to enable it, and every other test runs. Never fails the test run.
set -uo pipefail
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "${CHROMIUM_PATH}" ]; then exit 0; fi
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" -eq 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing Debian's chromium for the report's browser test" >&2
  if apt-get update -qq >/dev/null 2>&1 &&
     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    exit 0
  fi
  echo "ensure-chromium: apt-get could not install chromium; the browser test will be skipped" >&2
fi
exit 0
