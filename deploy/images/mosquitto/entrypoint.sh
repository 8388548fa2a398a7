#!/bin/sh
# Hashes /mosquitto/credentials into /run/mosquitto/passwd (readable by the
# mosquitto user the broker drops to), copies the ACL next to it, then starts
# the broker. Without both files it refuses to start: never an open broker.
set -eu
for f in /mosquitto/credentials /mosquitto/acl; do
    [ -s "$f" ] || { echo "evc-mosquitto: $f is missing (scripts/compose-env writes it)" >&2; exit 1; }
done
umask 077
cp /mosquitto/credentials /run/mosquitto/passwd
mosquitto_passwd -U /run/mosquitto/passwd
cp /mosquitto/acl /run/mosquitto/acl
chown mosquitto:mosquitto /run/mosquitto/passwd /run/mosquitto/acl
exec "$@"
