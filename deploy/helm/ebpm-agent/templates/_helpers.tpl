{{/* The name of every object of a release. */}}
{{- define "ebpm-agent.fullname" -}}
{{ .Release.Name }}-ebpm-agent
{{- end }}

{{/* Labels shared by every object; the selector uses the first two. */}}
{{- define "ebpm-agent.selectorLabels" -}}
app.kubernetes.io/name: ebpm-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ebpm-agent.labels" -}}
{{ include "ebpm-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
