#!/bin/bash
# shop-healthcheck URL: exits 0 when an HTTP GET of URL answers 2xx, else non-zero.
#
# Why: the runtime image has no curl or wget (less to patch, less for an attacker to use),
# but docker/compose healthchecks run inside the container. Bash's /dev/tcp is enough for
# the plain-HTTP admin endpoints (/readyz on 9101-9106, /healthz on the BFF and the fake
# Stripe). Kubernetes does not need this: it probes with httpGet and grpc.
set -euo pipefail

url=${1:?usage: shop-healthcheck http://HOST:PORT/PATH}
rest=${url#http://}
hostport=${rest%%/*}
if [[ "$rest" == */* ]]; then path="/${rest#*/}"; else path=/; fi
host=${hostport%:*}
if [[ "$hostport" == *:* ]]; then port=${hostport##*:}; else port=80; fi

exec 3<>"/dev/tcp/$host/$port"
printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
IFS= read -r -t 5 status <&3
[[ "$status" =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]]
