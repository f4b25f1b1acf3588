#!/usr/bin/env bash
# Creates the keys FlightBook's pods mount, made here and now with openssl (nothing comes from
# the repository), as Secrets in NAMESPACE:
#   flightbook-auth-signing-key        auth_signing_key.pem: the access-token signing key (Ed25519)
#   flightbook-<service>-service-key   <service>.key: each service's key for service tokens
#   flightbook-admin-password          admin_password: ADMIN_PASSWORD if set, else generated
# and the ConfigMap flightbook-service-public-keys (<service>.pub, every service's public key).
#
#   deploy/k8s/create-secrets.sh NAMESPACE            create them (refuses if one exists)
#   deploy/k8s/create-secrets.sh NAMESPACE --dry-run  print them as YAML, create nothing
#
# KUBECTL names another kubectl. The datastores' Secret (prod) is yours: deploy/k8s/README.md.
set -euo pipefail

usage="usage: $0 NAMESPACE [--dry-run]"
namespace=${1:?$usage}
mode=${2:-create}
[[ $mode == create || $mode == --dry-run ]] || { echo "$usage" >&2; exit 2; }
kubectl=${KUBECTL:-kubectl}
services=(auth flight-search seat booking payment discount ticket notification)

secrets=(flightbook-auth-signing-key flightbook-admin-password)
for service in "${services[@]}"; do secrets+=("flightbook-$service-service-key"); done

if [[ $mode == create ]]; then
  # All or nothing: a key replaced alone would no longer match its public half elsewhere.
  listing=$("$kubectl" -n "$namespace" get secrets,configmaps -o name)
  ours="^(secret/($(IFS='|'; echo "${secrets[*]}"))|configmap/flightbook-service-public-keys)$"
  existing=$(grep -E "$ours" <<<"$listing" || true)
  if [[ -n $existing ]]; then
    echo "already in $namespace, nothing created (to rotate, delete them all first):" >&2
    echo "$existing" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
mkdir "$work/public"

openssl genpkey -algorithm ed25519 -out "$work/auth_signing_key.pem"
for service in "${services[@]}"; do
  openssl genpkey -algorithm ed25519 -out "$work/$service.key"
  openssl pkey -in "$work/$service.key" -pubout -out "$work/public/$service.pub"
done
if [[ -n ${ADMIN_PASSWORD:-} ]]; then
  printf '%s' "$ADMIN_PASSWORD" >"$work/admin_password"
else
  openssl rand -base64 24 | tr -d '\n' | tr '+/' '-_' >"$work/admin_password"
fi

create() {
  if [[ $mode == --dry-run ]]; then
    echo ---
    "$kubectl" -n "$namespace" create "$@" --dry-run=client -o yaml
  else
    "$kubectl" -n "$namespace" create "$@"
  fi
}

create secret generic flightbook-auth-signing-key \
  --from-file=auth_signing_key.pem="$work/auth_signing_key.pem"
for service in "${services[@]}"; do
  create secret generic "flightbook-$service-service-key" \
    --from-file="$service.key=$work/$service.key"
done
create configmap flightbook-service-public-keys --from-file="$work/public"
create secret generic flightbook-admin-password --from-file=admin_password="$work/admin_password"

if [[ $mode == create && -z ${ADMIN_PASSWORD:-} ]]; then
  echo "The admin password was generated; read it with:" >&2
  echo "  $kubectl -n $namespace get secret flightbook-admin-password" \
    "-o jsonpath='{.data.admin_password}' | base64 -d" >&2
fi
