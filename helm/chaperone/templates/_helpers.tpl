{{/*
Names and labels. They read only .Values and .Release, never .Chart: the manual-mode templates
below run inside the user's own chart, where .Chart is that chart, and get this chart's values
through (dict "Values" .Values.chaperone "Release" .Release).
*/}}

{{- define "chaperone.name" -}}
{{- default "chaperone" .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chaperone.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "chaperone.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Names of objects the sidecar needs; 52 characters of the fullname leave room for suffixes. */}}
{{- define "chaperone.configMapName" -}}
{{- printf "%s-config" (include "chaperone.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{- define "chaperone.adminSecretName" -}}
{{- printf "%s-admin" (include "chaperone.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{- define "chaperone.webhookName" -}}
{{- printf "%s-webhook" (include "chaperone.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{- define "chaperone.image" -}}
{{- printf "%s:%s" .Values.image.repository (required "image.tag is required" .Values.image.tag | toString) }}
{{- end }}

{{- define "chaperone.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chaperone.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chaperone.labels" -}}
{{ include "chaperone.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | toString | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chaperone
{{- with .Chart }}
helm.sh/chart: {{ printf "%s-%s" .Name .Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The webhook pods' own labels; chaperone.dev/webhook keeps them out of their own objectSelector. */}}
{{- define "chaperone.webhookSelectorLabels" -}}
{{ include "chaperone.selectorLabels" . }}
app.kubernetes.io/component: webhook
chaperone.dev/webhook: "true"
{{- end }}

{{- define "chaperone.certManagerEnabled" -}}
{{- $v := .Values.webhook.certManager.enabled | toString }}
{{- if eq $v "auto" }}
{{- .Capabilities.APIVersions.Has "cert-manager.io/v1" }}
{{- else if has $v (list "true" "false") }}
{{- $v }}
{{- else }}
{{- fail (printf "webhook.certManager.enabled is %q: expected true, false or auto" $v) }}
{{- end }}
{{- end }}

{{/*
chaperone.yaml: values.process plus what the chart decides (the admin token file it mounts,
Redis, the replica count for the local rate-limit fallback).
*/}}
{{- define "chaperone.processConfig" -}}
{{- $p := deepCopy (.Values.process | default dict) }}
{{- $admin := deepCopy (get $p "admin" | default dict) }}
{{- $_ := set $admin "tokenFile" "/var/run/secrets/chaperone/admin-token" }}
{{- $_ = set $p "admin" $admin }}
{{- if .Values.redis.url }}
{{- $redis := deepCopy (get $p "redis" | default dict) }}
{{- $_ = set $redis "url" .Values.redis.url }}
{{- $_ = set $redis "keyPrefix" .Values.redis.keyPrefix }}
{{- $_ = set $p "redis" $redis }}
{{- end }}
{{- if and .Values.replicas (ne (toString .Values.replicas) "auto") }}
{{- $rl := deepCopy (get $p "rateLimits" | default dict) }}
{{- $_ = set $rl "replicas" (int .Values.replicas) }}
{{- $_ = set $p "rateLimits" $rl }}
{{- end }}
{{- toYaml $p }}
{{- end }}

{{/*
The webhook's sidecar settings file (chaperone inject-webhook --sidecar-config): what every
injected sidecar looks like unless pod annotations say otherwise.
*/}}
{{- define "chaperone.sidecarSettings" -}}
{{- $s := .Values.sidecar }}
{{- toYaml (dict
  "image" (include "chaperone.image" .)
  "imagePullPolicy" .Values.image.pullPolicy
  "configMap" (include "chaperone.configMapName" .)
  "adminSecret" (include "chaperone.adminSecretName" .)
  "listenPort" (int $s.listenPort)
  "upstreamPort" (int $s.upstreamPort)
  "adminPort" (int $s.adminPort)
  "resources" $s.resources
  "env" ($s.env | default list)
  "nativeSidecar" (eq (toString $s.nativeSidecar) "true")) }}
{{- end }}

{{/*
Manual mode: the sidecar container, the same shape as the webhook injects (src/core/k8s/inject.ts).
Renders one list item for `containers:` (or `initContainers:` when sidecar.nativeSidecar is true).
  {{- include "chaperone.sidecar" (dict "Values" .Values.chaperone "Release" .Release) | nindent 8 }}
The dict may also carry upstreamPort, listenPort and adminPort, which win over sidecar.*Port like
the pod annotations do with the webhook.
*/}}
{{- define "chaperone.sidecar" -}}
{{- $s := .Values.sidecar }}
{{- $listen := int (get . "listenPort" | default $s.listenPort) }}
{{- $upstream := int (get . "upstreamPort" | default $s.upstreamPort) }}
{{- $admin := int (get . "adminPort" | default $s.adminPort) }}
{{- if or (eq $listen $upstream) (eq $admin $listen) (eq $admin $upstream) }}
{{- fail (printf "chaperone.sidecar: listen (%d), upstream (%d) and admin (%d) ports must differ: the sidecar shares the pod's network" $listen $upstream $admin) }}
{{- end }}
{{- $env := list }}
{{- $hasToken := false }}
{{- range ($s.env | default list) }}{{ if eq .name "CHAPERONE_ADMIN_TOKEN" }}{{ $hasToken = true }}{{ end }}{{ end }}
{{- if not $hasToken }}
{{- $env = append $env (dict "name" "CHAPERONE_ADMIN_TOKEN" "valueFrom" (dict "secretKeyRef" (dict "name" (include "chaperone.adminSecretName" .) "key" "admin-token" "optional" true))) }}
{{- end }}
{{- $env = concat $env ($s.env | default list) -}}
- name: chaperone
  image: {{ include "chaperone.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if eq (toString $s.nativeSidecar) "true" }}
  restartPolicy: Always
  {{- end }}
  # Flags win over chaperone.yaml, so these ports are what runs.
  args:
    - serve
    - --config
    - /etc/chaperone
    - --listen
    - 0.0.0.0:{{ $listen }}
    - --upstream
    - http://127.0.0.1:{{ $upstream }}
    - --admin
    - 0.0.0.0:{{ $admin }}
  ports:
    - { name: http, containerPort: {{ $listen }}, protocol: TCP }
    - { name: admin, containerPort: {{ $admin }}, protocol: TCP }
  env:
    {{- toYaml $env | nindent 4 }}
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  startupProbe:
    httpGet: { path: /healthz, port: admin }
    periodSeconds: 1
    timeoutSeconds: 2
    failureThreshold: 60
  readinessProbe:
    httpGet: { path: /readyz, port: admin }
    periodSeconds: 2
    timeoutSeconds: 2
    failureThreshold: 3
  livenessProbe:
    httpGet: { path: /healthz, port: admin }
    periodSeconds: 10
    timeoutSeconds: 2
    failureThreshold: 3
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities: { drop: [ALL] }
    seccompProfile: { type: RuntimeDefault }
  # Whole directories: kubelet never updates a single file mounted on its own, and policies hot-reload.
  volumeMounts:
    - { name: chaperone-config, mountPath: /etc/chaperone, readOnly: true }
    - { name: chaperone-admin, mountPath: /var/run/secrets/chaperone, readOnly: true }
  terminationMessagePolicy: FallbackToLogsOnError
{{- end }}

{{/*
Manual mode: the sidecar's volumes, two list items for the pod's `volumes:`.
  {{- include "chaperone.volumes" (dict "Values" .Values.chaperone "Release" .Release) | nindent 8 }}
The dict may carry configMap, the policies ConfigMap to mount instead of this release's.
*/}}
{{- define "chaperone.volumes" -}}
- name: chaperone-config
  configMap:
    name: {{ get . "configMap" | default (include "chaperone.configMapName" .) }}
- name: chaperone-admin
  secret:
    secretName: {{ include "chaperone.adminSecretName" . }}
    # Optional like the webhook's: the proxy runs without it, with /admin/* closed.
    optional: true
{{- end }}
