{{/*
Chart name, truncated to the 63 characters a label value may have.
*/}}
{{- define "reactivejob-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: fullnameOverride, else the release name if it already contains the chart name,
else <release>-<name>. Names the Deployment, ServiceAccount, RBAC, Services and webhook.
Cut to 47 characters, not 63: names append up to 16 more ("-leader-election"), and every
object name must stay within 63.
*/}}
{{- define "reactivejob-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "reactivejob-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "reactivejob-operator.labels" -}}
helm.sh/chart: {{ include "reactivejob-operator.chart" . }}
{{ include "reactivejob-operator.selectorLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels. The same as SAP's chart: a Deployment's selector is immutable, so keeping it
lets `helm upgrade` switch a release from the Go chart to this one in place.
*/}}
{{- define "reactivejob-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "reactivejob-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "reactivejob-operator.serviceAccountName" -}}
{{- include "reactivejob-operator.fullname" . }}
{{- end }}

{{- define "reactivejob-operator.image" -}}
{{- if not .Values.image.repository }}
{{- fail "image.repository is not set: no image of reactivejob-operator is published yet. Build it from the repository's Dockerfile and push it to a registry your cluster pulls from (docker build -t REGISTRY/reactivejob-operator:0.1.0 . && docker push REGISTRY/reactivejob-operator:0.1.0), then install with --set image.repository=REGISTRY/reactivejob-operator" }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
Secret with the webhook's serving certificate (tls.crt, tls.key, ca.crt). Same names as SAP's
chart, so an upgrade from it keeps the existing certificate.
*/}}
{{- define "reactivejob-operator.webhookSecretName" -}}
{{- include "reactivejob-operator.fullname" . }}-{{ ternary "tls-managed" "tls" .Values.webhook.certManager.enabled }}
{{- end }}

{{/*
DNS names of the webhook Service, for the serving certificate.
*/}}
{{- define "reactivejob-operator.webhookDNSNames" -}}
{{- $svc := include "reactivejob-operator.fullname" . }}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) | toJson }}
{{- end }}

{{/*
A PodDisruptionBudget count: digits become an integer ("1" -> 1; the API server accepts a
string only as a percentage), anything else stays a string ("50%").
*/}}
{{- define "reactivejob-operator.intOrPercent" -}}
{{- if regexMatch "^[0-9]+$" (toString .) }}{{ toString . | atoi }}{{ else }}{{ toString . | quote }}{{ end }}
{{- end }}

{{/*
Namespace of the helm-test ReactiveJob: the release namespace when the operator watches it,
else the first watched namespace.
*/}}
{{- define "reactivejob-operator.testNamespace" -}}
{{- if or (not .Values.watchNamespaces) (has .Release.Namespace .Values.watchNamespaces) }}
{{- .Release.Namespace }}
{{- else }}
{{- first .Values.watchNamespaces }}
{{- end }}
{{- end }}

{{/*
Fail early on combinations that render fine but break at run time.
*/}}
{{- define "reactivejob-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: replicas without a leader would all reconcile the same ReactiveJobs" }}
{{- end }}
{{- if and .Values.metrics.enabled (or (eq (int .Values.metrics.port) (int .Values.healthProbes.port)) (eq (int .Values.metrics.port) (int .Values.webhook.port))) }}
{{- fail "metrics.port must differ from healthProbes.port and webhook.port" }}
{{- end }}
{{- if eq (int .Values.healthProbes.port) (int .Values.webhook.port) }}
{{- fail "healthProbes.port must differ from webhook.port" }}
{{- end }}
{{- end }}

{{/*
Labels of the helm-test resources: never the controller's selector labels, or the test pod
would become an endpoint of the operator's Services and count in its PodDisruptionBudget.
*/}}
{{- define "reactivejob-operator.testLabels" -}}
helm.sh/chart: {{ include "reactivejob-operator.chart" . }}
app.kubernetes.io/name: {{ include "reactivejob-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Whether /metrics is served over HTTPS behind TokenReview and SubjectAccessReview.
*/}}
{{- define "reactivejob-operator.secureMetrics" -}}
{{- if and .Values.metrics.enabled .Values.metrics.secure }}true{{ end }}
{{- end }}
