#!/usr/bin/env bash
# Makes the TLS test fixtures of tst_tls with the openssl command-line tool. The results are
# committed, so the tests (and CI) only read them; run this again only to change them.
#
#   ca.pem                 the test CA (its key is thrown away)
#   server.pem/.key        127.0.0.1 and localhost, from the CA, valid for about 100 years
#   otherhost.pem/.key     other.example only, from the CA (an EC key)
#   expired.pem/.key       127.0.0.1 and localhost, from the CA, expired in 2001
#   selfsigned.pem/.key    127.0.0.1 and localhost, signed by itself
#   mismatched.key         a key that belongs to none of the certificates
#   server.der             server.pem in DER form: a file that is not PEM
set -euo pipefail

out="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

days=36500
san_local="subjectAltName=DNS:localhost,IP:127.0.0.1"

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days "$days" \
    -subj "/CN=BatchSync Test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# A leaf from the CA: NAME, key options, SAN, then the signing arguments.
sign() {
    local name="$1" keyopts="$2" san="$3"
    shift 3
    openssl req -new -newkey $keyopts -nodes -keyout "$name.key" -out "$name.csr" \
        -subj "/CN=$name" 2>/dev/null
    printf '%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" >"$name.ext"
    "$@" -in "$name.csr" -out "$name.pem" -extfile "$name.ext"
}

sign server rsa:2048 "$san_local" \
    openssl x509 -req -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" 2>/dev/null
sign otherhost "ec -pkeyopt ec_paramgen_curve:prime256v1" "subjectAltName=DNS:other.example" \
    openssl x509 -req -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" 2>/dev/null

# openssl ca takes past dates, which openssl x509 does not.
mkdir -p ca/new
: >ca/index.txt
echo 1000 >ca/serial
cat >ca.cnf <<CNF
[ca]
default_ca = test
[test]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
certificate = $work/ca.pem
private_key = $work/ca.key
default_md = sha256
policy = anything
[anything]
commonName = supplied
CNF
sign expired rsa:2048 "$san_local" \
    openssl ca -batch -notext -config ca.cnf -startdate 20000101000000Z \
    -enddate 20010101000000Z 2>/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -keyout selfsigned.key -out selfsigned.pem \
    -days "$days" -subj "/CN=selfsigned" -addext "$san_local" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out mismatched.key 2>/dev/null
openssl x509 -in server.pem -outform DER -out server.der

cp ca.pem server.pem server.key otherhost.pem otherhost.key expired.pem expired.key \
    selfsigned.pem selfsigned.key mismatched.key server.der "$out/"
echo "TLS fixtures written to $out"
