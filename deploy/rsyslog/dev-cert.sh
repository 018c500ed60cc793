#!/bin/sh
# Makes a development TLS certificate for the syslog collector when there is none:
#   dev-cert.sh <folder> [subjectAltName entries]     e.g. dev-cert.sh .state/syslog/tls DNS:collector
# writes <folder>/ca.pem (give it to senders), ca.key, server.pem and server.key (a certificate
# signed by that CA, valid for 127.0.0.1, localhost and the names given). Files already there are
# kept. Production mounts certificates of its own CA in that folder instead.
set -eu
dir="$1"
names="IP:127.0.0.1,DNS:localhost${2:+,$2}"
[ -s "$dir/ca.pem" ] && [ -s "$dir/server.pem" ] && [ -s "$dir/server.key" ] && exit 0
command -v openssl >/dev/null || { echo "dev-cert.sh: openssl not found" >&2; exit 1; }
mkdir -p "$dir"
tmp="$(mktemp -d "$dir/.new.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Watch development syslog CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=serverAuth" "subjectAltName=$names" >"$tmp/server.ext"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
  -days 825 -extfile "$tmp/server.ext" -out "$tmp/server.pem" 2>/dev/null
chmod 600 "$tmp/ca.key" "$tmp/server.key"
mv "$tmp/ca.pem" "$tmp/ca.key" "$tmp/server.pem" "$tmp/server.key" "$dir/"
echo "dev-cert.sh: made a development certificate in $dir ($names)" >&2
