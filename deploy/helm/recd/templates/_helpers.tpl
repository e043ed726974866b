{{/*
Names. Every object is "<fullname>-<component>" with fullname "<release>-recd",
cut to 40 characters so that "<fullname>-coordinator" (a StatefulSet name,
at most 52) and its pods' hostnames stay valid.
*/}}
{{- define "recd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{- define "recd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "recd.name" .) | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "recd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels; call with (dict "root" $ "component" "shard"). */}}
{{- define "recd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "recd.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Standard labels; call with (dict "root" $ "component" "shard"). */}}
{{- define "recd.labels" -}}
helm.sh/chart: {{ include "recd.chart" .root }}
{{ include "recd.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: recd
{{- end }}

{{- define "recd.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Fully qualified DNS suffix of a headless Service: "<svc>.<ns>.svc.<domain>". */}}
{{- define "recd.serviceDomain" -}}
{{- printf "%s.%s.svc.%s" .service .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* host:port of the coordinator node (pod 0 of its StatefulSet). */}}
{{- define "recd.coordinatorAddress" -}}
{{- $svc := printf "%s-coordinator" (include "recd.fullname" .) }}
{{- $addrs := list }}
{{- range $i := until (int .Values.coordinator.replicas) }}
{{- $addrs = append $addrs (printf "%s-%d.%s:%d" $svc $i (include "recd.serviceDomain" (dict "root" $ "service" $svc)) (int $.Values.ports.cluster)) }}
{{- end }}
{{- join "," $addrs }}
{{- end }}

{{/* CAF application identifier: keeps two releases' nodes from joining each other. */}}
{{- define "recd.appId" -}}
{{- printf "%s.%s" .Release.Name .Release.Namespace }}
{{- end }}

{{/*
Database, Redis and the other secrets. Every secret value reaches a pod from a
Secret, as an env var (secretKeyRef) or a mounted file, never in args or a
ConfigMap. The Secret "<fullname>" holds what recd's nodes need: redis-url,
and unless postgres.existingSecret is used, postgres-url (the app role's URL)
and app-role-password. The administrative database URL is only in
"<fullname>-postgresql" (bundled) or the hook Secret "<fullname>-migrate"
(external), which only the migration Job reads.
*/}}
{{- define "recd.postgresSecretName" -}}
{{- if .Values.postgres.existingSecret }}
{{- .Values.postgres.existingSecret }}
{{- else }}
{{- include "recd.fullname" . }}
{{- end }}
{{- end }}

{{/* Key of the URL the nodes connect with (the app role's when appRole.enabled). */}}
{{- define "recd.postgresSecretKey" -}}
{{- if .Values.postgres.existingSecret }}
{{- if .Values.postgres.appRole.enabled }}
{{- .Values.postgres.existingSecretAppUrlKey }}
{{- else }}
{{- .Values.postgres.existingSecretKey }}
{{- end }}
{{- else -}}
postgres-url
{{- end }}
{{- end }}

{{/*
A generated secret value, stable across upgrades: the given value, else the
one in the live Secret (lookup; empty under `helm template`), else
randAlphaNum. Call with (dict "root" $ "secret" NAME "key" KEY "value" GIVEN).
*/}}
{{- define "recd.secretValue" -}}
{{- $v := .value | default "" }}
{{- if not $v }}
{{- with lookup "v1" "Secret" .root.Release.Namespace .secret }}
{{- $v = index (.data | default dict) $.key | default "" | b64dec }}
{{- end }}
{{- end }}
{{- if not $v }}
{{- $v = randAlphaNum (int (.length | default 32)) }}
{{- end }}
{{- $v }}
{{- end }}

{{/*
The external database URL, or a failure that says how to configure one.
Only called when postgresql.enabled is false and no existingSecret is named.
*/}}
{{- define "recd.externalPostgresUrl" -}}
{{- required "recd needs a PostgreSQL database: set postgres.url, or postgres.existingSecret (+ postgres.existingSecretKey), or postgresql.enabled=true for the bundled development database" .Values.postgres.url }}
{{- end }}

{{/*
A PostgreSQL URL with its user and password replaced (for the app role);
call with (dict "url" URL "user" NAME "password" PASSWORD).
*/}}
{{- define "recd.postgresUrlAs" -}}
{{- if not (regexMatch "^postgres(ql)?://" .url) }}
{{- fail "postgres.url must be a postgresql:// URL when postgres.appRole.enabled (the chart derives the app role's URL from it); or set postgres.appRole.enabled=false" }}
{{- end }}
{{- $u := urlParse .url }}
{{- $_ := set $u "userinfo" (printf "%s:%s" (urlquery .user) (urlquery .password)) }}
{{- urlJoin $u }}
{{- end }}

{{- define "recd.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://%s-redis:6379/0" (include "recd.fullname" .) }}
{{- else }}
{{- required "recd needs a Redis for its cache: set redis.url (redis://host:port/db), or redis.enabled=true for the bundled development Redis" .Values.redis.url }}
{{- end }}
{{- end }}

{{/* Secret and key of the Redis password ("" when there is none). */}}
{{- define "recd.redisPasswordSecret" -}}
{{- if .Values.redis.existingSecret }}
{{- .Values.redis.existingSecret }}
{{- else if or .Values.redis.enabled .Values.redis.password }}
{{- printf "%s-redis" (include "recd.fullname" .) }}
{{- end }}
{{- end }}
{{- define "recd.redisPasswordKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}password{{ end }}
{{- end }}

{{/* Secret and key of the admin token ("" when admin is disabled). */}}
{{- define "recd.adminSecretName" -}}
{{- if .Values.admin.enabled }}
{{- .Values.admin.existingSecret | default (printf "%s-admin" (include "recd.fullname" .)) }}
{{- end }}
{{- end }}
{{- define "recd.adminSecretKey" -}}
{{- if .Values.admin.existingSecret }}{{ .Values.admin.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/* Secret and key of the API keys file ("" when there are no API keys). */}}
{{- define "recd.apiKeysSecretName" -}}
{{- if .Values.apiKeys.existingSecret }}
{{- .Values.apiKeys.existingSecret }}
{{- else if .Values.apiKeys.keys }}
{{- printf "%s-api-keys" (include "recd.fullname" .) }}
{{- end }}
{{- end }}
{{- define "recd.apiKeysSecretKey" -}}
{{- if .Values.apiKeys.existingSecret }}{{ .Values.apiKeys.existingSecretKey }}{{ else }}api-keys{{ end }}
{{- end }}

{{/* The Secret of the nodes' certificates ("" with tls.enabled=false). */}}
{{- define "recd.tlsSecretName" -}}
{{- if .Values.tls.enabled }}
{{- .Values.tls.existingSecret | default .Values.tls.secretName | default (printf "%s-tls" (include "recd.fullname" .)) }}
{{- end }}
{{- end }}

{{/* true when the chart generates the CA and certificates itself. */}}
{{- define "recd.tlsGenerated" -}}
{{- if and .Values.tls.enabled (not (or .Values.tls.existingSecret .Values.tls.secretName)) }}true{{ end }}
{{- end }}

{{/* Pod and container securityContext of the bundled PostgreSQL and Redis (their images' user 999). */}}
{{- define "recd.dependencyPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: 999
runAsGroup: 999
fsGroup: 999
seccompProfile:
  type: RuntimeDefault
{{- end }}
{{- define "recd.dependencySecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Integer scheduler threads of a role: its schedulerThreads when > 0, else its
CPU limit rounded up, else its CPU request rounded up, at least 1.
Call with (dict "root" $ "role" "shard").
*/}}
{{- define "recd.schedulerThreads" -}}
{{- $v := index .root.Values .role }}
{{- if and $v.schedulerThreads (gt (int $v.schedulerThreads) 0) }}
{{- int $v.schedulerThreads }}
{{- else }}
{{- $res := $v.resources | default dict }}
{{- $cpu := "" }}
{{- if and $res.limits $res.limits.cpu }}
{{- $cpu = toString $res.limits.cpu }}
{{- else if and $res.requests $res.requests.cpu }}
{{- $cpu = toString $res.requests.cpu }}
{{- else }}
{{- fail (printf "%s: set %s.resources.limits.cpu or %s.schedulerThreads; otherwise CAF's scheduler.max-threads sees all of the node's cores" .role .role .role) }}
{{- end }}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?m?$" $cpu) }}
{{- fail (printf "%s: cannot derive scheduler threads from cpu %q; set %s.schedulerThreads" .role $cpu .role) }}
{{- end }}
{{- $cores := 0.0 }}
{{- if hasSuffix "m" $cpu }}
{{- $cores = divf (trimSuffix "m" $cpu | float64) 1000 }}
{{- else }}
{{- $cores = float64 $cpu }}
{{- end }}
{{- max 1 (int (ceil $cores)) }}
{{- end }}
{{- end }}

{{/* One recd.conf value: lists joined with commas, integral numbers without exponent. */}}
{{- define "recd.iniValue" -}}
{{- if kindIs "slice" . }}
{{- $items := list }}
{{- range . }}{{ $items = append $items (include "recd.iniValue" .) }}{{ end }}
{{- join "," $items }}
{{- else if and (kindIs "float64" .) (eq (floor .) .) }}
{{- int64 . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* recd.conf rendered from .Values.config (sections and keys sorted). */}}
{{- define "recd.conf" -}}
# Rendered by the recd chart from .Values.config; see `recd config` for every key.
# Environment variables set by the chart (RECD_*) take precedence over this file.
{{- range $section, $keys := .Values.config }}
{{- if not (kindIs "map" $keys) }}
{{- fail (printf "config.%s must be a map of key -> value (one INI section)" $section) }}
{{- end }}
{{- if and (eq $section "postgres") (hasKey $keys "url") }}
{{- fail "config.postgres: the database URL must not land in a ConfigMap; set postgres.url or postgres.existingSecret instead" }}
{{- end }}
{{- if and (eq $section "redis") (hasKey $keys "url") }}
{{- fail "config.redis.url: the Redis URL (which may hold a password) must not land in a ConfigMap; set redis.url instead" }}
{{- end }}
{{- range $key, $_ := $keys }}
{{- if regexMatch "(?i)(password|token|passphrase|secret|api_keys)" $key }}
{{- fail (printf "config.%s.%s: secrets must not land in a ConfigMap; use the chart's values for them (redis.password, admin, apiKeys, tls) or extraEnv with a secretKeyRef" $section $key) }}
{{- end }}
{{- end }}

[{{ $section }}]
{{- range $key, $value := $keys }}
{{- $text := include "recd.iniValue" $value }}
{{- if or (contains "#" $text) (contains "\n" $text) }}
{{- fail (printf "config.%s.%s: values may not contain '#' (recd's INI reader starts a comment there) or a newline" $section $key) }}
{{- end }}
{{ $key }} = {{ $text }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Cross-value checks the schema cannot express; included by the ConfigMap so
that every render runs them.
*/}}
{{- define "recd.validate" -}}
{{- if gt (int .Values.shards) (int .Values.partitions) }}
{{- fail (printf "shards (%d) must not exceed partitions (%d): a partition is the smallest unit a shard owns" (int .Values.shards) (int .Values.partitions)) }}
{{- end }}
{{- if and .Values.postgresql.enabled (or .Values.postgres.url .Values.postgres.existingSecret) }}
{{- fail "set either postgresql.enabled (bundled database) or postgres.url / postgres.existingSecret (external database), not both" }}
{{- end }}
{{- if and .Values.redis.enabled .Values.redis.url }}
{{- fail "set either redis.enabled (bundled Redis) or redis.url (external Redis), not both" }}
{{- end }}
{{- if and .Values.postgres.url .Values.postgres.existingSecret }}
{{- fail "set either postgres.url or postgres.existingSecret, not both" }}
{{- end }}
{{- if not (or .Values.postgresql.enabled .Values.postgres.existingSecret) }}
{{- $_ := include "recd.externalPostgresUrl" . }}
{{- end }}
{{- $_ := include "recd.redisUrl" . }}
{{- with .Values.api.autoscaling }}
{{- if .enabled }}
{{- if gt (int .minReplicas) (int .maxReplicas) }}
{{- fail (printf "api.autoscaling.minReplicas (%d) exceeds maxReplicas (%d)" (int .minReplicas) (int .maxReplicas)) }}
{{- end }}
{{- if not (and $.Values.api.resources $.Values.api.resources.requests $.Values.api.resources.requests.cpu) }}
{{- fail "api.autoscaling needs api.resources.requests.cpu: CPU utilization is measured against the request" }}
{{- end }}
{{- end }}
{{- end }}
{{- range $role := list "coordinator" "shard" "api" }}
{{- $_ := include "recd.schedulerThreads" (dict "root" $ "role" $role) }}
{{- end }}
{{- with .Values.tls }}
{{- if and (not .enabled) (not .insecureAcknowledged) }}
{{- fail "tls.enabled=false sends the actor protocol between recd nodes in plain TCP, which any pod that reaches port 4242 can join or read: keep TLS on (the chart generates certificates, or name tls.existingSecret), or set tls.insecureAcknowledged=true to run without it" }}
{{- end }}
{{- if and (not .enabled) (or .existingSecret .secretName) }}
{{- fail "tls.existingSecret is set but tls.enabled=false: drop one of them" }}
{{- end }}
{{- if and .existingSecret .secretName (ne .existingSecret .secretName) }}
{{- fail "set tls.existingSecret (tls.secretName is its former name), not both" }}
{{- end }}
{{- end }}
{{- if and .Values.postgresql.enabled (not .Values.postgres.appRole.enabled) }}
{{- fail "the bundled PostgreSQL always uses the app role (postgres.appRole.enabled=true): its superuser is for the migration Job only" }}
{{- end }}
{{- if and .Values.postgres.url .Values.postgres.appRole.enabled }}
{{- $_ := include "recd.postgresUrlAs" (dict "url" .Values.postgres.url "user" "u" "password" "p") }}
{{- end }}
{{- if and .Values.redis.password .Values.redis.existingSecret }}
{{- fail "set either redis.password or redis.existingSecret, not both" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.admin.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs admin.enabled: /metrics is on the admin port, behind its token" }}
{{- end }}
{{- if and .Values.admin.service.enabled (not .Values.admin.enabled) }}
{{- fail "admin.service.enabled needs admin.enabled: without a token the admin port stays on the pods' loopback" }}
{{- end }}
{{- if and .Values.apiKeys.existingSecret .Values.apiKeys.keys }}
{{- fail "set either apiKeys.existingSecret or apiKeys.keys, not both" }}
{{- end }}
{{- range $name, $key := .Values.apiKeys.keys }}
{{- if or (contains ":" $name) (contains "\n" (toString $key)) (contains "\n" $name) }}
{{- fail (printf "apiKeys.keys.%s: a name may not contain ':' and neither a name nor a key a newline (the file is name:key lines)" $name) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Environment shared by all recd nodes; call with (dict "root" $ "role" "shard"). */}}
{{- define "recd.nodeEnv" -}}
{{- $root := .root }}
{{- $fullname := include "recd.fullname" $root -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: RECD_POSTGRES_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "recd.postgresSecretName" $root }}
      key: {{ include "recd.postgresSecretKey" $root }}
- name: RECD_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $fullname }}
      key: redis-url
{{- with include "recd.redisPasswordSecret" $root }}
- name: RECD_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "recd.redisPasswordKey" $root }}
{{- end }}
- name: RECD_HTTP_ADDR
  value: {{ printf "0.0.0.0:%d" (int $root.Values.ports.http) | quote }}
- name: RECD_CLUSTER_APP_ID
  value: {{ include "recd.appId" $root | quote }}
- name: RECD_CLUSTER_NODE_NAME
  value: "$(POD_NAME)"
{{- if ne .role "api" }}
{{- /*
Coordinator and shards listen for other nodes (API nodes only connect out):
on all interfaces (cluster.bind defaults to loopback), reachable under their
StatefulSet pod's stable DNS name.
*/}}
{{- $svc := printf "%s-%s" $fullname .role }}
- name: RECD_CLUSTER_BIND
  value: "0.0.0.0"
- name: RECD_CLUSTER_PORT
  value: {{ $root.Values.ports.cluster | int | quote }}
- name: RECD_CLUSTER_ADVERTISE
  value: {{ printf "$(POD_NAME).%s:%d" (include "recd.serviceDomain" (dict "root" $root "service" $svc)) (int $root.Values.ports.cluster) | quote }}
{{- end }}
{{- if ne .role "coordinator" }}
- name: RECD_CLUSTER_COORDINATOR
  value: {{ include "recd.coordinatorAddress" $root | quote }}
{{- end }}
- name: RECD_CLUSTER_SCHEDULER_THREADS
  value: {{ include "recd.schedulerThreads" . | quote }}
{{- if $root.Values.tls.enabled }}
- name: RECD_CLUSTER_TLS_CERTIFICATE
  value: /etc/recd-tls/tls.crt
- name: RECD_CLUSTER_TLS_KEY
  value: /etc/recd-tls/tls.key
- name: RECD_CLUSTER_TLS_CAFILE
  value: /etc/recd-tls/ca.crt
{{- else }}
{{- /* Acknowledged by tls.insecureAcknowledged (recd.validate). */}}
- name: RECD_CLUSTER_INSECURE
  value: "1"
{{- end }}
{{- if $root.Values.admin.enabled }}
{{- /*
Every node's admin port (/metrics; /admin/* on the coordinator) leaves the
pod's loopback only with a token: the chart always sets one (generated or
from admin.existingSecret).
*/}}
- name: RECD_ADMIN_ADDR
  value: {{ printf "0.0.0.0:%d" (int $root.Values.admin.port) | quote }}
- name: RECD_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "recd.adminSecretName" $root }}
      key: {{ include "recd.adminSecretKey" $root }}
{{- end }}
{{- if and (eq .role "api") (include "recd.apiKeysSecretName" $root) }}
- name: RECD_HTTP_API_KEYS_FILE
  value: /etc/recd-secrets/api-keys
{{- end }}
{{- if and (eq .role "api") $root.Values.rules }}
- name: RECD_RULES_FILE
  value: /etc/recd-rules/rules.txt
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Init container of recd pods with the bundled database: wait until the
migration Job has run, i.e. until the app role can log in and read recd's
tables (the role and the tables are the migration's). psql takes the
credentials from PG* variables, so no password is in its arguments.
*/}}
{{- define "recd.waitForMigrationInitContainer" -}}
{{- $fullname := include "recd.fullname" . -}}
- name: wait-for-migration
  image: {{ printf "%s:%s" .Values.postgresql.image.repository .Values.postgresql.image.tag }}
  imagePullPolicy: {{ .Values.postgresql.image.pullPolicy }}
  command:
    - sh
    - -c
    - until psql -Atq -c 'SELECT 1 FROM recd_meta LIMIT 1' >/dev/null 2>&1; do echo waiting for the migration Job; sleep 2; done
  env:
    - name: PGHOST
      value: {{ $fullname }}-postgresql
    - name: PGPORT
      value: "5432"
    - name: PGDATABASE
      value: {{ .Values.postgresql.auth.database | quote }}
    - name: PGUSER
      value: {{ .Values.postgres.appRole.name | quote }}
    - name: PGPASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ $fullname }}
          key: app-role-password
    - name: PGCONNECT_TIMEOUT
      value: "5"
  resources:
    {{- toYaml .Values.migration.resources | nindent 4 }}
  {{- with .Values.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The pod template of a recd node; call with
(dict "root" $ "role" "shard" "podAntiAffinity" true).
*/}}
{{- define "recd.podTemplate" -}}
{{- $root := .root }}
{{- $v := index $root.Values .role -}}
metadata:
  labels:
    {{- include "recd.labels" (dict "root" $root "component" .role) | nindent 4 }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $root.Values.postgresql.enabled }}
  initContainers:
    {{- include "recd.waitForMigrationInitContainer" $root | nindent 4 }}
  {{- end }}
  containers:
    - name: recd
      image: {{ include "recd.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: ["/usr/local/bin/recd"]
      args: ["serve", "--role", {{ .role | quote }}, "--config", "/etc/recd/recd.conf"]
      ports:
        {{- if ne .role "api" }}
        - name: caf
          containerPort: {{ $root.Values.ports.cluster }}
          protocol: TCP
        {{- end }}
        - name: http
          containerPort: {{ $root.Values.ports.http }}
          protocol: TCP
        {{- if $root.Values.admin.enabled }}
        - name: admin
          containerPort: {{ $root.Values.admin.port }}
          protocol: TCP
        {{- end }}
      env:
        {{- include "recd.nodeEnv" . | nindent 8 }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          {{- /* A coordinator standby is never ready by /readyz; a StatefulSet's
          rolling update waits for each pod to be Ready, so coordinator pods
          are Ready while they lead or could lead (/readyz/replica): a standby
          of another wire version than the leader's is not, and the rollout
          stops at it (docs/cluster.md, "Upgrades"). */}}
          path: {{ ternary "/readyz/replica" "/readyz" (eq .role "coordinator") }}
          port: http
        periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      {{- with $root.Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /etc/recd
          readOnly: true
        # The root filesystem is read-only (securityContext).
        - name: tmp
          mountPath: /tmp
        {{- if $root.Values.tls.enabled }}
        - name: tls
          mountPath: /etc/recd-tls
          readOnly: true
        {{- end }}
        {{- if and (eq .role "api") (include "recd.apiKeysSecretName" $root) }}
        - name: api-keys
          mountPath: /etc/recd-secrets
          readOnly: true
        {{- end }}
        {{- if and (eq .role "api") $root.Values.rules }}
        {{- /* A directory mount (no subPath), so ConfigMap updates reach the file. */}}
        - name: rules
          mountPath: /etc/recd-rules
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "recd.fullname" $root }}
    - name: tmp
      emptyDir: {}
    {{- if $root.Values.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ include "recd.tlsSecretName" $root }}
        # 0440 (decimal: YAML readers disagree on octal): read-only, for the owner and the pod's fsGroup.
        defaultMode: 288
        items:
          - key: ca.crt
            path: ca.crt
          {{- if include "recd.tlsGenerated" $root }}
          {{- /* One certificate per role in the generated Secret. */}}
          - key: {{ .role }}.crt
            path: tls.crt
          - key: {{ .role }}.key
            path: tls.key
          {{- else }}
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
          {{- end }}
    {{- end }}
    {{- if and (eq .role "api") $root.Values.rules }}
    - name: rules
      configMap:
        name: {{ include "recd.fullname" $root }}-rules
    {{- end }}
    {{- if and (eq .role "api") (include "recd.apiKeysSecretName" $root) }}
    - name: api-keys
      secret:
        secretName: {{ include "recd.apiKeysSecretName" $root }}
        # 0440 (decimal: YAML readers disagree on octal): read-only, for the owner and the pod's fsGroup.
        defaultMode: 288
        items:
          - key: {{ include "recd.apiKeysSecretKey" $root }}
            path: api-keys
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $v.affinity }}
  affinity:
    {{- toYaml $v.affinity | nindent 4 }}
  {{- else if .podAntiAffinity }}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "recd.selectorLabels" (dict "root" $root "component" .role) | nindent 16 }}
  {{- end }}
{{- end }}
