#!/usr/bin/env bash
# A fresh cluster CA, serving and client certificates, and kubeconfigs (in $STATE, on tmpfs).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PKI=$STATE/pki
if [[ -f $PKI/complete ]]; then log "certificates exist"; exit 0; fi
mkdir -p "$PKI"
cd "$PKI"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# cert NAME SUBJECT [SANS]: a certificate signed by the cluster CA.
cert() {
    local name=$1 subject=$2 sans=${3:-}
    key "$name"
    openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr"
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [[ -n $sans ]]; then
            echo "extendedKeyUsage=serverAuth,clientAuth"
            echo "subjectAltName=$sans"
        else
            echo "extendedKeyUsage=clientAuth"
        fi
    } >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
        -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
}

kubeconfig() {
    local name=$1
    cat >"$STATE/$name.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    certificate-authority: $PKI/ca.crt
    server: https://$API_IP:6443
users:
- name: $name
  user:
    client-certificate: $PKI/$name.crt
    client-key: $PKI/$name.key
contexts:
- name: testbed
  context: {cluster: testbed, user: $name}
current-context: testbed
KC
}

key ca
openssl req -x509 -new -key ca.key -subj "/CN=lobstream-testbed-ca" -days 7 -out ca.crt
cert apiserver "/CN=kube-apiserver" \
    "IP:$API_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert admin "/O=system:masters/CN=testbed-admin"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
cert kube-proxy "/CN=system:kube-proxy"
key sa
openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
for name in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig "$name"; done
touch complete
log "certificates and kubeconfigs in $PKI"
