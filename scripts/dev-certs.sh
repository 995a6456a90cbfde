#!/usr/bin/env bash
# Development certificates and secrets for docker-compose.yml and deploy/k8s (NOT for production).
#
#   scripts/dev-certs.sh [OUTDIR] [K8S_NAMESPACE]      (defaults: .run/compose, nowconnect)
#
# Writes into OUTDIR:
#   ca.crt, ca.key                       a throw-away CA (EC P-256)
#   nowconnect-cloud.crt/.key            hub A: mesh server AND client certificate (serverAuth + clientAuth),
#   nowconnect-cloud-b.crt/.key          hub B  SANs = the compose service name, localhost, 127.0.0.1
#   k8s-mesh.crt/.key                    the Kubernetes hubs' shared mesh certificate: SANs are the headless
#                                        mesh Service and its per-pod names (*.nowconnect-cloud-mesh.<ns>.svc...)
#   jwt-secret                           HS256 secret of the hubs (auth.hs256_secret_file / NC_JWT_SECRET_FILE)
#   agent-token                          a JWT for the agent: sub=dev-agent-1, aud=nowconnect,
#                                        scope=connector:addomain, valid DAYS days
# Re-running replaces every file. Private keys are written 0644 so that the containers' non-root user
# (uid 1000) can read the bind mounts whatever uid created them: development only. In production keep
# keys in your secret manager / Kubernetes Secrets (mounted read-only, mode 0440) and rotate them there.
set -euo pipefail

OUT="${1:-.run/compose}"
NS="${2:-nowconnect}"
DAYS="${NC_DEV_CERT_DAYS:-365}"
HUBS=(nowconnect-cloud nowconnect-cloud-b)
AGENT_ID="${NC_DEV_AGENT_ID:-dev-agent-1}"
export OPENSSL_CONF=/dev/null   # no distribution defaults leak into the certificates

command -v openssl >/dev/null || { echo "dev-certs.sh: openssl is required" >&2; exit 1; }
mkdir -p "$OUT"
umask 022

KEY_ARGS=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

openssl req -x509 -new "${KEY_ARGS[@]}" -keyout "$OUT/ca.key" -out "$OUT/ca.crt" -days "$DAYS" \
  -subj "/CN=NowConnect dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" 2>/dev/null

# leaf NAME SAN-LIST: a certificate usable as mesh server (ha.mesh.listen) and mesh client (dialer).
leaf() {
  local name="$1" sans="$2" ext
  ext="$(mktemp)"
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=$sans" \
    "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" >"$ext"
  openssl req -new "${KEY_ARGS[@]}" -keyout "$OUT/$name.key" -out "$OUT/$name.csr" -subj "/CN=$name" 2>/dev/null
  openssl x509 -req -in "$OUT/$name.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" \
    -set_serial "0x$(openssl rand -hex 12)" -days "$DAYS" -sha256 -extfile "$ext" -out "$OUT/$name.crt" 2>/dev/null
  rm -f "$ext" "$OUT/$name.csr"
}

for hub in "${HUBS[@]}"; do
  leaf "$hub" "DNS:$hub,DNS:localhost,IP:127.0.0.1"
done
MESH_SVC="nowconnect-cloud-mesh"
leaf k8s-mesh "DNS:$MESH_SVC,DNS:$MESH_SVC.$NS.svc,DNS:$MESH_SVC.$NS.svc.cluster.local,DNS:*.$MESH_SVC.$NS.svc,DNS:*.$MESH_SVC.$NS.svc.cluster.local,DNS:localhost,IP:127.0.0.1"

# HS256 secret and an agent token signed with it (what the hubs' auth.hs256_secret_file verifies).
openssl rand -hex 32 >"$OUT/jwt-secret"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now="$(date +%s)"
header="$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)"
payload="$(printf '{"sub":"%s","aud":"nowconnect","scope":"connector:addomain","iat":%d,"exp":%d}' \
  "$AGENT_ID" "$now" "$((now + DAYS * 86400))" | b64url)"
signature="$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$(cat "$OUT/jwt-secret")" -binary | b64url)"
printf '%s.%s.%s\n' "$header" "$payload" "$signature" >"$OUT/agent-token"

chmod 0644 "$OUT"/*.key "$OUT/jwt-secret" "$OUT/agent-token"
chmod 0600 "$OUT/ca.key"   # nothing mounts the CA key
echo "dev-certs.sh: wrote CA, ${HUBS[*]} and k8s-mesh certificates, jwt-secret and agent-token to $OUT"
