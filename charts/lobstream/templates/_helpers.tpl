{{/* Names */}}
{{- define "lobstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lobstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lobstream.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Standard labels; "component" (producer, consumer, simulator) is added by the callers. */}}
{{- define "lobstream.labels" -}}
helm.sh/chart: {{ include "lobstream.chart" . }}
{{ include "lobstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lobstream
{{- end -}}

{{- define "lobstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lobstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Kubernetes name of an instrument's producer: lower case, "_" -> "-", anything else outside
[a-z0-9-] -> "-". Names over 63 characters are cut and given a stable 8-hex suffix from the
instrument's real name, so two long names that share a prefix stay distinct.
Call with (list $ "BTC-PERPETUAL").
*/}}
{{- define "lobstream.producer.name" -}}
{{- $root := index . 0 -}}
{{- $instrument := index . 1 -}}
{{- $slug := regexReplaceAll "[^a-z0-9-]" ($instrument | lower | replace "_" "-") "-" -}}
{{- $name := printf "%s-producer-%s" (include "lobstream.fullname" $root) $slug -}}
{{- if gt (len $name) 63 -}}
{{- $name = printf "%s-%s" (regexReplaceAll "-+$" ($name | trunc 54) "") ($instrument | sha256sum | trunc 8) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/*
The instruments as a list of objects {name, group, channels, bookInterval, resources}: a plain name
takes the producer defaults. Returned as YAML under "items" (include cannot return a list).
Fails on two entries with the same Kubernetes name.
*/}}
{{- define "lobstream.instruments" -}}
{{- $seen := dict -}}
{{- $items := list -}}
{{- range .Values.instruments -}}
{{- $entry := . -}}
{{- if kindIs "string" . -}}
{{- $entry = dict "name" . -}}
{{- end -}}
{{- $item := dict "name" $entry.name
    "group" ($entry.group | default "")
    "channels" ($entry.channels | default $.Values.producer.channels)
    "bookInterval" ($entry.bookInterval | default $.Values.producer.bookInterval)
    "resources" ($entry.resources | default $.Values.producer.resources) -}}
{{- $k8sName := include "lobstream.producer.name" (list $ $entry.name) -}}
{{- if hasKey $seen $k8sName -}}
{{- fail (printf "instruments: %s and %s both become the Kubernetes name %s; list each instrument once" (get $seen $k8sName) $entry.name $k8sName) -}}
{{- end -}}
{{- $_ := set $seen $k8sName $entry.name -}}
{{- $_ := set $item "k8sName" $k8sName -}}
{{- $items = append $items $item -}}
{{- end -}}
{{- dict "items" $items | toYaml -}}
{{- end -}}

{{/*
The producer Deployments, each one exchange connection. Instruments with a `group` share their
group's Deployment. The others get one Deployment each while groups + ungrouped instruments fit
deribit.connectionBudget; beyond it they are packed into (budget - groups) buckets by
adler32(sha256(name)) modulo that count (sha256 first: adler32 alone spreads similar names badly), so adding or removing one instrument changes only its bucket.
Returned as YAML under "items": {k8sName, labelKey, labelValue, instruments, channels,
bookInterval, resources}. Fails when the groups alone exceed the budget, or when the members of one
Deployment ask for different channels, book interval or resources (one connection has one set).
*/}}
{{- define "lobstream.producers" -}}
{{- $budget := int .Values.deribit.connectionBudget -}}
{{- $members := dict -}}
{{- $labels := dict -}}
{{- $ungrouped := list -}}
{{- range (include "lobstream.instruments" . | fromYaml).items -}}
{{- if .group -}}
{{- $key := printf "group %s" .group -}}
{{- $_ := set $members $key (append (get $members $key | default list) .) -}}
{{- $_ := set $labels $key (list "producer-group" .group) -}}
{{- else -}}
{{- $ungrouped = append $ungrouped . -}}
{{- end -}}
{{- end -}}
{{- $groups := len $members -}}
{{- if le (add $groups (len $ungrouped)) $budget -}}
{{- range $ungrouped -}}
{{- $_ := set $members (printf "instrument %s" .name) (list .) -}}
{{- $_ := set $labels (printf "instrument %s" .name) (list "instrument" .name) -}}
{{- end -}}
{{- else if $ungrouped -}}
{{- $buckets := sub $budget $groups -}}
{{- if lt $buckets 1 -}}
{{- fail (printf "instruments: %d explicit groups leave no connection for the %d ungrouped instruments within deribit.connectionBudget (%d); give them a group or raise the budget (only with more egress addresses: Deribit refuses the 33rd connection per IP)" $groups (len $ungrouped) $budget) -}}
{{- end -}}
{{- range $ungrouped -}}
{{- $bucket := printf "bucket-%02d" (mod (atoi (sha256sum .name | adler32sum)) $buckets) -}}
{{- $key := printf "bucket %s" $bucket -}}
{{- $_ := set $members $key (append (get $members $key | default list) .) -}}
{{- $_ := set $labels $key (list "producer-group" $bucket) -}}
{{- end -}}
{{- end -}}
{{- if gt (len $members) $budget -}}
{{- fail (printf "instruments: the %d explicit groups would open %d exchange connections, over deribit.connectionBudget (%d); merge groups or raise the budget (only with more egress addresses: Deribit refuses the 33rd connection per IP)" $groups $groups $budget) -}}
{{- end -}}
{{- $seen := dict -}}
{{- $items := list -}}
{{- range $key := keys $members | sortAlpha -}}
{{- $list := get $members $key -}}
{{- $first := first $list -}}
{{- $names := list -}}
{{- range $list -}}
{{- if ne (toJson (pick . "channels" "bookInterval" "resources")) (toJson (pick $first "channels" "bookInterval" "resources")) -}}
{{- fail (printf "instruments: %s and %s share one producer connection but ask for different channels, bookInterval or resources; give them the same or put them in different groups" $first.name .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- $label := get $labels $key -}}
{{- $k8sName := include "lobstream.producer.name" (list $ (last $label)) -}}
{{- if hasKey $seen $k8sName -}}
{{- fail (printf "instruments: %s and %s both become the producer Deployment %s; rename the group" (get $seen $k8sName) (last $label) $k8sName) -}}
{{- end -}}
{{- $_ := set $seen $k8sName (last $label) -}}
{{- $items = append $items (dict "k8sName" $k8sName "labelKey" (first $label) "labelValue" (last $label) "instruments" (sortAlpha $names) "channels" $first.channels "bookInterval" $first.bookInterval "resources" $first.resources) -}}
{{- end -}}
{{- dict "items" $items | toYaml -}}
{{- end -}}

{{- define "lobstream.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Kafka */}}
{{- define "lobstream.kafka.name" -}}
{{- .Values.kafka.name | default (include "lobstream.fullname" .) -}}
{{- end -}}

{{- define "lobstream.kafka.bootstrap" -}}
{{- if .Values.kafka.create -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%d" (include "lobstream.kafka.name" .) .Release.Namespace (int .Values.kafka.listener.port) -}}
{{- else -}}
{{- required "kafka.bootstrapServers is required when kafka.create is false" .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{- define "lobstream.kafka.securityProtocol" -}}
{{- if .Values.kafka.create -}}
{{- $sasl := eq .Values.kafka.listener.authentication "scram-sha-512" -}}
{{- if .Values.kafka.listener.tls -}}{{ ternary "SASL_SSL" "SSL" $sasl }}{{- else -}}{{ ternary "SASL_PLAINTEXT" "PLAINTEXT" $sasl }}{{- end -}}
{{- else -}}
{{- .Values.kafka.securityProtocol -}}
{{- end -}}
{{- end -}}

{{/* The Kafka user of a component ("producer" or "consumer"). Call with (list $ "producer"). */}}
{{- define "lobstream.kafka.user" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- (index $root.Values.kafka.users $component).name | default (printf "%s-%s" (include "lobstream.fullname" $root) $component) -}}
{{- end -}}

{{- define "lobstream.kafka.caMounted" -}}
{{- if .Values.kafka.create -}}
{{- if .Values.kafka.listener.tls -}}true{{- end -}}
{{- else if and .Values.kafka.caSecret.name (has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL")) -}}
true
{{- end -}}
{{- end -}}

{{- define "lobstream.kafka.caSecret" -}}
{{- if .Values.kafka.create -}}
{{- printf "%s-cluster-ca-cert" (include "lobstream.kafka.name" .) -}}
{{- else -}}
{{- .Values.kafka.caSecret.name -}}
{{- end -}}
{{- end -}}

{{/* Non-secret Kafka settings shared by a component's ConfigMap. Call with (list $ "producer"). */}}
{{- define "lobstream.kafka.config" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $protocol := include "lobstream.kafka.securityProtocol" $root -}}
LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS: {{ include "lobstream.kafka.bootstrap" $root | quote }}
LOBSTREAM_KAFKA__SECURITY_PROTOCOL: {{ $protocol | quote }}
LOBSTREAM_KAFKA__RAW_TOPIC: {{ $root.Values.kafka.topics.raw.name | quote }}
LOBSTREAM_KAFKA__FEATURES_TOPIC: {{ $root.Values.kafka.topics.features.name | quote }}
LOBSTREAM_KAFKA__RAW_TOPIC_PARTITIONS: {{ $root.Values.kafka.topics.raw.partitions | quote }}
LOBSTREAM_KAFKA__RAW_TOPIC_RETENTION_HOURS: {{ $root.Values.kafka.topics.raw.retentionHours | quote }}
LOBSTREAM_KAFKA__TOPIC_REPLICATION_FACTOR: {{ $root.Values.kafka.replicationFactor | quote }}
{{- if hasPrefix "SASL" $protocol }}
LOBSTREAM_KAFKA__SASL_MECHANISM: {{ ternary "SCRAM-SHA-512" $root.Values.kafka.saslMechanism $root.Values.kafka.create | quote }}
LOBSTREAM_KAFKA__SASL_USERNAME: {{ include "lobstream.kafka.user" (list $root $component) | quote }}
{{- end }}
{{- if include "lobstream.kafka.caMounted" $root }}
LOBSTREAM_KAFKA__SSL_CA_LOCATION: /etc/lobstream/kafka-ca/ca.crt
{{- end }}
LOBSTREAM_METRICS__HOST: "0.0.0.0"
LOBSTREAM_METRICS__PORT: {{ $root.Values.metricsPort | quote }}
LOBSTREAM_LOG_LEVEL: {{ $root.Values.logLevel | quote }}
{{- end -}}

{{/* The env entry of a component's Kafka password, if its protocol uses SASL. */}}
{{- define "lobstream.kafka.passwordEnv" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- if hasPrefix "SASL" (include "lobstream.kafka.securityProtocol" $root) -}}
{{- $user := index $root.Values.kafka.users $component -}}
{{- $secret := $user.passwordSecret | default (include "lobstream.kafka.user" (list $root $component)) -}}
- name: LOBSTREAM_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $user.passwordKey }}
{{- end -}}
{{- end -}}

{{/* The exchange URL producers connect to. */}}
{{- define "lobstream.deribit.url" -}}
{{- if .Values.deribit.url -}}
{{- .Values.deribit.url -}}
{{- else if .Values.simulator.enabled -}}
{{- printf "ws://%s-simulator.%s.svc:%d/ws/api/v2" (include "lobstream.fullname" .) .Release.Namespace (int .Values.simulator.port) -}}
{{- else -}}
production
{{- end -}}
{{- end -}}

{{- define "lobstream.usesSimulator" -}}
{{- if and .Values.simulator.enabled (not .Values.deribit.url) -}}true{{- end -}}
{{- end -}}

{{/* Pod-level fields every lobstream pod shares. */}}
{{- define "lobstream.podCommon" -}}
serviceAccountName: {{ include "lobstream.fullname" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Volumes every lobstream pod has: /tmp (read-only root) and, for Kafka clients, the CA. */}}
{{- define "lobstream.volumes" -}}
{{- $root := index . 0 -}}
{{- $kafkaClient := index . 1 -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ $root.Values.tmpSizeLimit }}
{{- if and $kafkaClient (include "lobstream.kafka.caMounted" $root) }}
  - name: kafka-ca
    secret:
      secretName: {{ include "lobstream.kafka.caSecret" $root }}
      items:
        - key: {{ ternary "ca.crt" $root.Values.kafka.caSecret.key $root.Values.kafka.create }}
          path: ca.crt
{{- end }}
{{- end -}}

{{- define "lobstream.volumeMounts" -}}
{{- $root := index . 0 -}}
{{- $kafkaClient := index . 1 -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- if and $kafkaClient (include "lobstream.kafka.caMounted" $root) }}
  - name: kafka-ca
    mountPath: /etc/lobstream/kafka-ca
    readOnly: true
{{- end }}
{{- end -}}

{{/* HTTP probes on the metrics port: /healthz (alive) and /readyz (serving). */}}
{{- define "lobstream.httpProbes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/* Monitor labels. */}}
{{- define "lobstream.monitorLabels" -}}
{{- with .Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Checks across values that values.schema.json cannot express; each failure names the values. */}}
{{- define "lobstream.validate" -}}
{{- $v := .Values -}}
{{- if le (float64 $v.producer.terminationGracePeriodSeconds) (float64 $v.producer.shutdownGraceSeconds) -}}
{{- fail (printf "producer.terminationGracePeriodSeconds (%v) must be greater than producer.shutdownGraceSeconds (%v), or Kubernetes kills producers before they flush" $v.producer.terminationGracePeriodSeconds $v.producer.shutdownGraceSeconds) -}}
{{- end -}}
{{- if and $v.kafka.create (gt (int $v.kafka.replicationFactor) (int $v.kafka.replicas)) -}}
{{- fail (printf "kafka.replicationFactor (%d) cannot exceed kafka.replicas (%d)" (int $v.kafka.replicationFactor) (int $v.kafka.replicas)) -}}
{{- end -}}
{{- if gt (int $v.kafka.minInsyncReplicas) (int $v.kafka.replicationFactor) -}}
{{- fail (printf "kafka.minInsyncReplicas (%d) cannot exceed kafka.replicationFactor (%d)" (int $v.kafka.minInsyncReplicas) (int $v.kafka.replicationFactor)) -}}
{{- end -}}
{{- if and (not $v.kafka.create) (not $v.kafka.bootstrapServers) -}}
{{- fail "kafka.bootstrapServers is required when kafka.create is false" -}}
{{- end -}}
{{- if and (not $v.kafka.create) (hasPrefix "SASL" $v.kafka.securityProtocol) (or (not $v.kafka.users.producer.name) (not $v.kafka.users.consumer.name)) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.users.producer.name and kafka.users.consumer.name (and their passwordSecret)" $v.kafka.securityProtocol) -}}
{{- end -}}
{{- end -}}

{{/* Settings every producer shares (not the instrument's own: those are in its pod's env). */}}
{{- define "lobstream.producer.config" -}}
LOBSTREAM_DERIBIT__URL: {{ include "lobstream.deribit.url" . | quote }}
LOBSTREAM_DERIBIT__AUTH_GRANT: {{ .Values.deribit.authGrant | quote }}
{{- /* In the shared ConfigMap, never per Deployment: all producers are one session of the key. */}}
LOBSTREAM_DERIBIT__AUTH_SESSION_NAME: {{ .Values.deribit.sessionName | quote }}
LOBSTREAM_PRODUCER__SNAPSHOT_INTERVAL_SECONDS: {{ .Values.producer.snapshotIntervalSeconds | quote }}
LOBSTREAM_PRODUCER__BACKPRESSURE: {{ .Values.producer.backpressure | quote }}
LOBSTREAM_PRODUCER__SHUTDOWN_GRACE_SECONDS: {{ .Values.producer.shutdownGraceSeconds | quote }}
{{ include "lobstream.kafka.config" (list . "producer") }}
{{- end -}}

{{- define "lobstream.consumer.config" -}}
LOBSTREAM_KAFKA__GROUP_ID: {{ .Values.consumer.groupId | quote }}
LOBSTREAM_FEATURES__IMBALANCE_DEPTHS: {{ join "," .Values.consumer.imbalanceDepths | quote }}
LOBSTREAM_FEATURES__OFI_WINDOWS_SECONDS: {{ join "," .Values.consumer.ofiWindowsSeconds | quote }}
LOBSTREAM_FEATURES__PUBLISH_INTERVAL_SECONDS: {{ .Values.consumer.publishIntervalSeconds | quote }}
LOBSTREAM_PRODUCER__SNAPSHOT_INTERVAL_SECONDS: {{ .Values.producer.snapshotIntervalSeconds | quote }}
{{- /* Only the consumer creates the features topic: its settings roll the consumer alone. */}}
LOBSTREAM_KAFKA__FEATURES_TOPIC_PARTITIONS: {{ .Values.kafka.topics.features.partitions | quote }}
LOBSTREAM_KAFKA__FEATURES_TOPIC_RETENTION_HOURS: {{ .Values.kafka.topics.features.retentionHours | quote }}
{{ include "lobstream.kafka.config" (list . "consumer") }}
{{- end -}}
