#!/bin/sh
# shop-keygen [DIR]: makes the Ed25519 JWT key pair the services need, for docker compose.
#
# Why: shop-user signs access tokens with a PKCS#8 private key and every other service
# verifies them with the public key (SHOP_JWT_PRIVATE_KEY_FILE / SHOP_JWT_PUBLIC_KEY_FILE).
# Keys must never be baked into an image, so compose runs this once into a named volume.
# An existing private key is kept (tokens stay valid across `docker compose up`); the public
# key is always re-derived from it. Production keys come from Key Vault (deploy/README.md).
set -eu

dir=${1:-/keys}
priv="$dir/jwt_ed25519.pem"
pub="$dir/jwt_ed25519.pub.pem"
mkdir -p "$dir"
if [ ! -s "$priv" ]; then
  (umask 077 && openssl genpkey -algorithm ed25519 -out "$priv")
  echo "shop-keygen: generated $priv"
fi
openssl pkey -in "$priv" -pubout -out "$pub"
# The services run as uid/gid 10001 (see the runtime stage).
chown 10001:10001 "$priv" "$pub"
chmod 0400 "$priv"
chmod 0444 "$pub"
echo "shop-keygen: public key $pub"
