#!/usr/bin/env bash
# Makes the test PKI in DIR: a CA, server certificates for localhost (current and backup key), and the bad ones TLS tests refuse.
# SPDX-License-Identifier: Apache-2.0
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
# "done" holds the version of a complete set; an older set is made again.
[ "$(cat done 2>/dev/null)" = 3 ] && exit 0

ossl() { openssl "$@" 2>/dev/null; }
key() { ossl ecparam -name prime256v1 -genkey -noout -out "$1"; }
ca() { # name subject
  key "$1.key"
  ossl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
csr() { # name cn [key]
  # localhost also as 127.0.0.1: clients that are given only an address (the JNI tests'
  # meta.config) check it against the certificate's IP entries.
  local san="DNS:$2"
  [ "$2" = localhost ] && san="$san,IP:127.0.0.1"
  ossl req -new -key "${3:-server.key}" -subj "/CN=$2" -addext "subjectAltName=$san" -out "$1.csr"
}

ca ca "mpsync test CA"
ca other_ca "some other CA"
key server.key
# The key a pinned server rotates to (docs/LINK.md, "Rotating a pinned key"): another key, same name, same CA.
key backup.key

cat >ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
CNF
: >index.txt
echo 1000 >serial
sign() { # name csr start end
  ossl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$2" -out "$1.pem" -notext \
    -startdate "$3" -enddate "$4"
}
csr localhost localhost
csr wronghost wrong.example.com
csr backup localhost backup.key
sign server localhost.csr 20200101000000Z 20491231235959Z
sign wronghost wronghost.csr 20200101000000Z 20491231235959Z
sign expired localhost.csr 20200101000000Z 20200102000000Z
sign backup backup.csr 20200101000000Z 20491231235959Z
# The leaf as DER too: what a verification hook receives, for the shims' tests to compare with.
openssl x509 -in server.pem -outform der -out server.der
echo 3 >done
