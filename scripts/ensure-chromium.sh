#!/usr/bin/env bash
# The report's browser test drives Debian's chromium through playwright-core, which downloads no
# browser. Install it when it is missing, so `npm install && npm test` works on a fresh machine.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: /usr/bin/chromium is missing; install Debian's chromium package (apt-get install chromium) to run the browser test" >&2
  exit 1
fi
echo "ensure-chromium: installing Debian's chromium for the report's browser test" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
