{{/* STAND-IN chart: names follow the real chart's components/operator/templates/_helpers.tpl. */}}
{{- define "dynamo-operator.fullname" -}}
{{- if contains "dynamo-operator" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-dynamo-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dynamo-operator.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: dynamo-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dynamo-operator.labels" -}}
{{ include "dynamo-operator.selectorLabels" . }}
app.kubernetes.io/component: manager
app.kubernetes.io/part-of: dynamo-operator
app.kubernetes.io/created-by: dynamo-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}
