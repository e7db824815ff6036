#!/bin/sh
# Makes what docker-compose.yml's Kafka and services need, in infra/kafka/secrets/ (or the
# folder given): a random password for Kafka's admin and for each service, and for the
# partners' TLS listener a self-signed CA with a broker certificate for localhost and kafka.
# For trying it out; for real use, put your own CA-signed broker.pem (private key and
# certificate chain, PEM) there, and give partners your CA. Existing files are kept.
# Needs openssl.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/secrets}"
mkdir -p "$out"
command -v openssl >/dev/null || { echo "error: openssl is needed" >&2; exit 1; }

# (grafana_admin: the password of Grafana's admin, for the operators' dashboard)
for principal in admin listings matching contracts notifications grafana_admin; do
  if [ ! -s "$out/$principal" ]; then
    # URL-safe, so that it needs no quoting in a properties file or a JAAS line
    openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n' > "$out/$principal"
  fi
done

if [ ! -s "$out/broker.pem" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=Viken Park exchange test CA" \
    -keyout "$out/ca-key.pem" -out "$out/ca.pem" 2>/dev/null
  openssl req -newkey rsa:3072 -nodes -subj "/CN=kafka" \
    -keyout "$tmp/broker-key.pem" -out "$tmp/broker.csr" 2>/dev/null
  printf 'subjectAltName=DNS:kafka,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
    > "$tmp/ext"
  openssl x509 -req -in "$tmp/broker.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" \
    -CAcreateserial -days 825 -extfile "$tmp/ext" -out "$tmp/broker-cert.pem" 2>/dev/null
  # Kafka's PEM keystore: the private key (PKCS#8) followed by the certificate chain.
  openssl pkcs8 -topk8 -nocrypt -in "$tmp/broker-key.pem" > "$out/broker.pem"
  cat "$tmp/broker-cert.pem" "$out/ca.pem" >> "$out/broker.pem"
  rm -f "$out/ca.srl"
fi
# The containers run as users of their own: they must be able to read what they mount.
chmod 644 "$out"/*
chmod 600 "$out/ca-key.pem" 2>/dev/null || true
echo "secrets for docker compose are in $out"
